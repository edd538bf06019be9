"""Template editing for admins in Slack: pick a message, edit it in a modal, preview, save.

`/escalator templates` (or the Home tab's button) opens a picker; the editor shows the current
text, the variables the message may use and its recent history. Submitting validates the text:
problems are shown on the text box itself (Slack shows errors only on input blocks, and only in
answer to a submission); a valid text moves to a preview rendered with the sample values, where
a second submission saves it as a new version. Only admins get past the first step.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.messages.templates import Format, Renderer, escape_mrkdwn, html_to_text
from bot.messages.validation import FORMATS
from bot.messages.versions import TemplateVersions

__all__ = ["TemplateDesk"]

log = logging.getLogger(__name__)

SLACK_INPUT_LIMIT = 3000
"""A plain-text input holds at most 3000 characters."""


def _text(kind: str, text: str) -> dict[str, Any]:
    return {"type": kind, "text": text[:3000]}


class TemplateDesk:
    def __init__(
        self,
        app: AsyncApp,
        templates: TemplateVersions,
        renderer: Renderer,
        is_admin: Callable[[str], bool],
        display_name: Callable[[str], Awaitable[str]],
    ) -> None:
        self._templates = templates
        self._renderer = renderer
        self._is_admin = is_admin
        self._display_name = display_name
        app.action("open_templates")(self._on_open_button)
        app.view("tpl_pick")(self._on_pick)
        app.view("tpl_edit")(self._on_edit)
        app.view("tpl_confirm")(self._on_confirm)

    def _say(self, name: str, **context: object) -> str:
        return self._renderer.render(name, context, locale=None, fmt=Format.MRKDWN)

    async def open_picker(self, client: AsyncWebClient, trigger_id: str, user: str) -> bool:
        """Open the picker for an admin; False (nothing opened) for anyone else."""
        if not self._is_admin(user):
            return False
        names = self._templates.catalog.names()
        options = [{"text": _text("plain_text", name[:75]), "value": name} for name in names[:100]]
        locales = [
            {"text": _text("plain_text", loc), "value": loc} for loc in self._renderer.locales()
        ]
        view = {
            "type": "modal",
            "callback_id": "tpl_pick",
            "title": _text("plain_text", "Edit a message"),
            "submit": _text("plain_text", "Edit"),
            "close": _text("plain_text", "Cancel"),
            "blocks": [
                {
                    "type": "input",
                    "block_id": "message",
                    "label": _text("plain_text", "Message"),
                    "element": {"type": "static_select", "action_id": "value", "options": options},
                },
                {
                    "type": "input",
                    "block_id": "locale",
                    "label": _text("plain_text", "Language"),
                    "element": {
                        "type": "static_select",
                        "action_id": "value",
                        "options": locales,
                        "initial_option": next(
                            o for o in locales if o["value"] == self._renderer.default_locale
                        ),
                    },
                },
            ],
        }
        await client.views_open(trigger_id=trigger_id, view=view)
        return True

    async def _on_open_button(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        await self.open_picker(client, body["trigger_id"], body["user"]["id"])

    async def _on_pick(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        if not self._is_admin(body["user"]["id"]):
            await ack(response_action="errors", errors={"message": self._say("staff_not_allowed")})
            return
        values = view["state"]["values"]
        name = values["message"]["value"]["selected_option"]["value"]
        locale = values["locale"]["value"]["selected_option"]["value"]
        source = self._renderer.current(name, locale) or ""
        await ack(response_action="update", view=await self._editor(name, locale, source))

    async def _editor(self, name: str, locale: str, source: str) -> dict[str, Any]:
        spec = self._templates.catalog[name]
        variables = ", ".join(f"`{v.name}` ({v.type})" for v in spec.variables) or "none"
        history = await self._templates.history(name, locale)
        recent = "\n".join(
            # author and comment are free text: no pings or disguised links from them
            f"v{v.number} · {escape_mrkdwn(v.author)} · {v.at:%Y-%m-%d %H:%M}"
            + (f" · {escape_mrkdwn(v.comment)}" if v.comment else "")
            if v.at
            else f"v{v.number} · shipped text"
            for v in history[-5:]
        )
        meta = json.dumps({"name": name, "locale": locale})
        return {
            "type": "modal",
            "callback_id": "tpl_edit",
            "private_metadata": meta,
            "title": _text("plain_text", "Edit a message"),
            "submit": _text("plain_text", "Preview"),
            "close": _text("plain_text", "Cancel"),
            "blocks": [
                {
                    "type": "section",
                    "text": _text("mrkdwn", f"*{name}* [{locale}] — {spec.description}"),
                },
                {"type": "context", "elements": [_text("mrkdwn", f"Variables: {variables}")]},
                _source_input(source),
                {
                    "type": "input",
                    "block_id": "comment",
                    "optional": True,
                    "label": _text("plain_text", "Why (kept in the history)"),
                    "element": {"type": "plain_text_input", "action_id": "value"},
                },
                {"type": "context", "elements": [_text("mrkdwn", f"*History*\n{recent}")]},
            ],
        }

    def _problems(self, name: str, locale: str, source: str) -> str | None:
        problems = self._templates.check(name, source, locale)
        return "\n".join(str(p) for p in problems)[:2000] if problems else None

    async def _on_edit(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        if not self._is_admin(body["user"]["id"]):
            await ack(response_action="errors", errors={"source": self._say("staff_not_allowed")})
            return
        meta = json.loads(view["private_metadata"])
        values = view["state"]["values"]
        source = values["source"]["value"]["value"] or ""
        comment = (values.get("comment", {}).get("value", {}) or {}).get("value") or ""
        problem = self._problems(meta["name"], meta["locale"], source)
        if problem:
            await ack(response_action="errors", errors={"source": problem})
            return
        await ack(
            response_action="update",
            view=self._confirmation(meta["name"], meta["locale"], source, comment),
        )

    def _confirmation(self, name: str, locale: str, source: str, comment: str) -> dict[str, Any]:
        spec = self._templates.catalog[name]
        env = self._renderer.environment(FORMATS[spec.audience])
        preview = env.from_string(source).render(**spec.check(spec.samples())).strip()
        if spec.audience != "staff":
            preview = html_to_text(preview)
        meta = json.dumps({"name": name, "locale": locale, "comment": comment[:500]})
        return {
            "type": "modal",
            "callback_id": "tpl_confirm",
            "private_metadata": meta,
            "title": _text("plain_text", "Preview"),
            "submit": _text("plain_text", "Save"),
            "close": _text("plain_text", "Cancel"),
            "blocks": [
                {
                    "type": "section",
                    "text": _text("mrkdwn", f"*{name}* [{locale}] with sample values:"),
                },
                {"type": "section", "text": _text("plain_text", preview or " ")},
                _source_input(source, label="Text to save (you can still change it)"),
            ],
        }

    async def _on_confirm(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        if not self._is_admin(user):
            await ack(response_action="errors", errors={"source": self._say("staff_not_allowed")})
            return
        meta = json.loads(view["private_metadata"])
        source = view["state"]["values"]["source"]["value"]["value"] or ""
        problem = self._problems(meta["name"], meta["locale"], source)
        if problem:
            await ack(response_action="errors", errors={"source": problem})
            return
        number = await self._templates.save(
            meta["name"],
            source,
            locale=meta["locale"],
            author=await self._display_name(user),
            comment=meta.get("comment", ""),
        )
        done = {
            "type": "modal",
            "title": _text("plain_text", "Saved"),
            "close": _text("plain_text", "Done"),
            "blocks": [
                {
                    "type": "section",
                    "text": _text(
                        "mrkdwn",
                        f"*{meta['name']}* [{meta['locale']}] saved as version {number}. "
                        "The bot uses it within seconds.",
                    ),
                }
            ],
        }
        await ack(response_action="update", view=done)
        log.info(
            "template %s [%s] v%s saved from Slack by %s",
            meta["name"],
            meta["locale"],
            number,
            user,
        )


def _source_input(source: str, label: str = "Text") -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": True,
        "max_length": SLACK_INPUT_LIMIT,
    }
    if source:
        element["initial_value"] = source[:SLACK_INPUT_LIMIT]
    return {
        "type": "input",
        "block_id": "source",
        "label": _text("plain_text", label),
        "element": element,
    }
