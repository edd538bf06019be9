#!/usr/bin/env python3
"""Set up and run Escalator with nothing but Python 3.11+.

python3 tasks.py run [ARGS...]   create .venv if needed, install, run `escalator ARGS`
python3 tasks.py test            create .venv if needed, install, run lint, types and tests
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def ensure_env(extra: str) -> None:
    """Create the virtual environment and install the project when pyproject.toml changed."""
    if not PYTHON.exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{extra}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"installing Escalator [{extra}] into .venv ...", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    target = f".[{extra}]" if extra != "base" else "."
    subprocess.run([*pip, "--editable", target], check=True, cwd=ROOT)
    stamp.write_text(digest)


def run(*command: str) -> int:
    child = subprocess.Popen([str(BIN / command[0]), *command[1:]], cwd=ROOT)
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            # Ctrl-C reached the whole process group: the command stops itself cleanly and
            # exits with its own code; wait for it instead of printing a traceback here.
            continue


def main() -> int:
    task, *rest = sys.argv[1:] or ["run"]
    if task == "run":
        ensure_env("base")
        return run("escalator", *rest)
    if task == "test":
        ensure_env("dev")
        for step in (
            ("ruff", "check", "."),
            ("ruff", "format", "--check", "."),
            ("mypy", "--strict", "bot"),
            ("python", "-m", "pytest", *rest),
        ):
            print("$", " ".join(step), flush=True)
            code = run(*step)
            if code:
                return code
        return 0
    if task == "bench":
        ensure_env("dev")
        return run("python", "bench/run_all.py", *rest)
    sys.exit(f"unknown task {task!r}: use `python3 tasks.py run` or `python3 tasks.py test`")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C while setting up: no traceback, the usual exit code
        print("interrupted", file=sys.stderr)
        sys.exit(130)
