"""`python3 tasks.py run`: Ctrl-C stops the command it runs without a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The command `tasks.run` starts: Ctrl-C (SIGINT to the whole process group, as a terminal
# sends it) reaches it and `tasks.py` alike; it stops itself cleanly with 130.
CHILD = (
    "import os, signal, sys\n"
    "signal.signal(signal.SIGINT, lambda *_: sys.exit(130))\n"
    "os.killpg(0, signal.SIGINT)\n"
    "signal.pause()\n"
)
PARENT = f"import sys, tasks\nsys.exit(tasks.run('python', '-c', {CHILD!r}))\n"


def test_ctrl_c_under_tasks_run_prints_no_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PARENT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,  # its own process group: the signal stays in it
        check=False,
    )
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr and "KeyboardInterrupt" not in result.stderr
