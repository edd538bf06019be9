"""Templates: every message in every locale, edited in the browser.

Saving goes through `TemplateVersions` like every other edit: validated first (the problems
are shown beside the text and nothing is saved), then stored as a new version with the admin's
name, which every running bot picks up within seconds. History with a diff between any two
versions, rollback (an earlier text saved again as a new version) and reset (back to the
shipped text). A live preview renders the draft for a chosen customer as Telegram and Slack
would show it. Viewers see all of it but cannot save, roll back or reset.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass

from aiohttp import web

from bot.errors import InvalidInput
from bot.flows.model import Customer, CustomerKey
from bot.handlers.admin.preview import customer_values, render_preview
from bot.handlers.admin.site import Site
from bot.handlers.admin.views import ADMIN_KEY, PREFIX
from bot.messages.catalog import MessageSpec
from bot.messages.validation import MAX_SOURCE, Problem, ValidationFailed

__all__ = ["DiffLine", "diff_lines", "routes"]

log = logging.getLogger(__name__)

COMMENT_LIMIT = 500


@dataclass(frozen=True)
class DiffLine:
    kind: str
    """"add", "remove", "same" or "hunk"."""
    text: str


def diff_lines(old: str, new: str) -> list[DiffLine]:
    """A unified diff of two texts, line by line, for the page to colour."""
    lines: list[DiffLine] = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=3):
        if line.startswith(("---", "+++")):
            continue
        kind = {"@": "hunk", "+": "add", "-": "remove"}.get(line[:1], "same")
        lines.append(DiffLine(kind, line))
    return lines


def routes(site: Site) -> list[web.RouteDef]:
    versions = site.parts.templates
    renderer = site.parts.renderer
    catalog = versions.catalog

    def message(request: web.Request) -> tuple[MessageSpec, str]:
        locale, name = request.match_info["locale"], request.match_info["name"]
        if name not in catalog or locale not in renderer.locales():
            raise web.HTTPNotFound(text="no such message or language")
        return catalog[name], locale

    async def chosen(text: str) -> tuple[Customer | None, str]:
        """The customer to preview for (by id, @username or name), and how to say who it is."""
        if not text.strip():
            return None, "sample values"
        found = await site.parts.storage.records.find(text.strip()[:200], 1)
        if not found:
            return None, f"no customer matches {text.strip()[:200]!r}: sample values"
        record = found[0]
        customer = await site.parts.storage.journey.customer(CustomerKey.parse(record.id))
        label = f"{record.name or 'no name'} ({record.id})"
        return customer, label

    async def index(request: web.Request) -> web.StreamResponse:
        await versions.refresh(force=True)
        locales = renderer.locales()
        rows = []
        for name in catalog.names():
            spec = catalog[name]
            states = []
            for locale in locales:
                if renderer.is_overridden(name, locale):
                    state = "edited"
                elif renderer.shipped(name, locale) is not None:
                    state = "shipped"
                else:
                    state = "missing"
                states.append((locale, state))
            rows.append((spec, states))
        return site.views.page(
            request,
            "templates.html",
            section="templates",
            rows=rows,
            locales=locales,
            default_locale=renderer.default_locale,
        )

    async def editor_page(
        request: web.Request,
        spec: MessageSpec,
        locale: str,
        *,
        source: str | None = None,
        comment: str = "",
        problems: list[Problem] | None = None,
        notice: str = "",
        status: int = 200,
    ) -> web.Response:
        history = await versions.history(spec.name, locale)
        current = renderer.current(spec.name, locale)
        draft = (current or "") if source is None else source
        who = request.query.get("customer", "")
        customer, label = await chosen(who)
        preview = render_preview(renderer, spec, draft, customer_values(spec, customer))
        return site.views.page(
            request,
            "template.html",
            status=status,
            section="templates",
            spec=spec,
            locale=locale,
            source=draft,
            comment=comment,
            problems=problems or [],
            history=list(reversed(history)),
            current_number=history[-1].number,
            edited=renderer.is_overridden(spec.name, locale),
            fallback=current is None,
            notice=notice,
            preview=preview,
            preview_for=label,
            customer_query=who,
            max_source=MAX_SOURCE,
        )

    def refuse_viewer(request: web.Request) -> web.Response | None:
        admin = request[ADMIN_KEY]
        if admin.can_edit:
            return None
        return site.views.refusal(
            request,
            403,
            "Viewers cannot change messages",
            f"Your account ({admin.name}) may look at everything but change nothing. "
            "Ask an editor, or for the editor role (`escalator admin add NAME --role editor "
            "--replace`).",
        )

    async def show(request: web.Request) -> web.StreamResponse:
        spec, locale = message(request)
        await versions.refresh(force=True)
        saved = request.query.get("saved", "")
        notice = f"Saved as version {saved}. The bot uses it within seconds." if saved else ""
        if request.query.get("done") == "reset":
            notice = "Back to the shipped text."
        elif request.query.get("done") == "unchanged":
            notice = "Already at the shipped text: nothing changed."
        return await editor_page(request, spec, locale, notice=notice)

    async def save(request: web.Request) -> web.StreamResponse:
        spec, locale = message(request)
        if (refusal := refuse_viewer(request)) is not None:
            return refusal
        form = await request.post()
        source = str(form.get("source", "")).replace("\r\n", "\n")
        comment = str(form.get("comment", ""))[:COMMENT_LIMIT]
        try:
            number = await versions.save(
                spec.name, source, locale=locale, author=request[ADMIN_KEY].name, comment=comment
            )
        except ValidationFailed as exc:
            return await editor_page(
                request,
                spec,
                locale,
                source=source,
                comment=comment,
                problems=exc.problems,
                status=422,
            )
        log.info(
            "template %s [%s] v%s saved from the dashboard by %s",
            spec.name,
            locale,
            number,
            request[ADMIN_KEY].name,
        )
        raise web.HTTPSeeOther(f"{PREFIX}/templates/{locale}/{spec.name}?saved={number}")

    async def rollback(request: web.Request) -> web.StreamResponse:
        spec, locale = message(request)
        if (refusal := refuse_viewer(request)) is not None:
            return refusal
        form = await request.post()
        text = str(form.get("version", ""))
        try:
            if not text.isdigit():
                raise InvalidInput(f"not a version number: {text[:20]!r}")
            number = await versions.rollback(
                spec.name, int(text), locale=locale, author=request[ADMIN_KEY].name
            )
        except ValidationFailed as exc:
            return await editor_page(request, spec, locale, problems=exc.problems, status=422)
        except InvalidInput as exc:
            return site.views.refusal(request, 400, "Cannot roll back", str(exc))
        log.info(
            "template %s [%s] rolled back to v%s (as v%s) from the dashboard by %s",
            spec.name,
            locale,
            text,
            number,
            request[ADMIN_KEY].name,
        )
        raise web.HTTPSeeOther(f"{PREFIX}/templates/{locale}/{spec.name}?saved={number}")

    async def reset(request: web.Request) -> web.StreamResponse:
        spec, locale = message(request)
        if (refusal := refuse_viewer(request)) is not None:
            return refusal
        number = await versions.reset(spec.name, locale=locale, author=request[ADMIN_KEY].name)
        done = "unchanged" if number is None else "reset"
        raise web.HTTPSeeOther(f"{PREFIX}/templates/{locale}/{spec.name}?done={done}")

    async def diff(request: web.Request) -> web.StreamResponse:
        spec, locale = message(request)
        history = await versions.history(spec.name, locale)
        by_number = {version.number: version for version in history}
        newest = history[-1].number
        try:
            new = int(request.query.get("to", newest))
            old = int(request.query.get("from", max(1, new - 1)))
        except ValueError:
            return site.views.refusal(request, 400, "Not a version", "Versions are numbers.")
        if old not in by_number or new not in by_number:
            return site.views.refusal(
                request,
                404,
                "No such version",
                f"{spec.name} [{locale}] has versions 1 to {newest}.",
            )
        return site.views.page(
            request,
            "diff.html",
            section="templates",
            spec=spec,
            locale=locale,
            old=by_number[old],
            new=by_number[new],
            numbers=[version.number for version in history],
            lines=diff_lines(by_number[old].source, by_number[new].source),
        )

    async def preview(request: web.Request) -> web.StreamResponse:
        spec, locale = message(request)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "the body is not JSON"}, status=400)
        if not isinstance(body, dict) or not isinstance(body.get("source"), str):
            return web.json_response({"error": "expected {source, customer}"}, status=400)
        source = body["source"].replace("\r\n", "\n")
        customer, label = await chosen(str(body.get("customer") or ""))
        problems = versions.check(spec.name, source, locale)
        shown = (
            render_preview(renderer, spec, source, customer_values(spec, customer))
            if len(source) <= MAX_SOURCE
            else None
        )
        return web.json_response(
            {
                "problems": [str(problem) for problem in problems],
                "telegram": shown.telegram if shown else "",
                "slack": shown.slack if shown else "",
                "failed": shown.problem if shown else "",
                "for": label,
            }
        )

    base = "/templates/{locale}/{name}"
    return [
        web.get("/templates", index),
        web.get(base, show),
        web.post(base, save),
        web.post(f"{base}/rollback", rollback),
        web.post(f"{base}/reset", reset),
        web.get(f"{base}/diff", diff),
        web.post(f"{base}/preview", preview),
    ]
