"""Campaigns and tags on the staff desk: `/escalator campaigns` lists each campaign with what it
did (admins get Start, Pause and Cancel buttons), `/escalator campaign start|pause|cancel NAME`,
and `/escalator tag|untag CUSTOMER TAG`. Translation only: the rules are `bot.campaign_service`'s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot import campaign_service
from bot.errors import InvalidInput
from bot.flows.model import CustomerKey
from bot.flows.segments import check_tag
from bot.messages.templates import Format, Renderer
from bot.storage.campaign_types import Campaign, CampaignReport
from bot.storage.protocols import Storage

__all__ = ["ACTIONS", "CampaignDesk"]

ACTIONS = {"campaign_start": "start", "campaign_pause": "pause", "campaign_cancel": "cancel"}
SHOWN = 20


class CampaignDesk:
    def __init__(
        self,
        app: AsyncApp,
        storage: Storage,
        renderer: Renderer,
        *,
        is_staff: Callable[[str], Awaitable[bool]],
        is_admin: Callable[[str], bool],
        display_name: Callable[[str], Awaitable[str]],
        scale: str,
        attribution: timedelta,
        now: Callable[[], datetime],
    ) -> None:
        self._storage = storage
        self._renderer = renderer
        self._is_staff = is_staff
        self._is_admin = is_admin
        self._display_name = display_name
        self._scale = scale
        self._attribution = attribution
        self._now = now
        for action_id in ACTIONS:
            app.action(action_id)(self._on_button)

    def _say(self, template: str, /, **context: object) -> str:
        values = {"problem": None, "targeted": None, **context}  # the optional ones
        return self._renderer.render(template, values, locale=None, fmt=Format.MRKDWN)

    def _row(self, campaign: Campaign, report: CampaignReport) -> dict[str, object]:
        reasons = ", ".join(f"{why} {n}" for why, n in sorted(report.skipped.items()))
        return {
            "name": campaign.name,
            "status": campaign.status,
            "segment": campaign.segment,
            "template": campaign.template,
            "targeted": report.targeted,
            "sent": report.sent,
            "planned": report.planned,
            "deferred": report.deferred,
            "skipped": sum(report.skipped.values()),
            "skipped_reasons": reasons,
            "blocked": report.blocked,
            "replies": report.replies,
            "purchases": report.purchases,
            "referrals": report.referrals,
            "days": round(self._attribution.total_seconds() / 86400, 1),
        }

    async def list_blocks(self, admin: bool) -> list[dict[str, Any]]:
        campaigns = (await self._storage.campaigns.all())[:SHOWN]
        blocks: list[dict[str, Any]] = [
            _section(self._say("staff_campaigns", count=len(campaigns)))
        ]
        for campaign in campaigns:
            report = await self._storage.campaigns.report(campaign.id, self._attribution)
            blocks.append(
                _section(self._say("staff_campaign_row", campaign=self._row(campaign, report)))
            )
            buttons = _buttons(campaign.status) if admin else ()
            if buttons:
                blocks.append(
                    {
                        "type": "actions",
                        "elements": [
                            {
                                "type": "button",
                                "action_id": action_id,
                                "value": campaign.name,
                                "text": {"type": "plain_text", "text": self._label(action_id)},
                            }
                            for action_id in buttons
                        ],
                    }
                )
        return blocks

    def _label(self, action_id: str) -> str:
        name = f"button_{action_id}"
        return self._renderer.render(name, {}, locale=None, fmt=Format.TEXT)[:75]

    async def act(self, verb: str, name: str) -> str:
        """Start, pause or cancel a campaign; the result as staff read it."""
        now = self._now()
        try:
            if verb == "start":
                started = await campaign_service.start_campaign(
                    self._storage, name, self._scale, now
                )
                action = "resumed" if started.resumed else "started"
                return self._say(
                    "staff_campaign_result", action=action, name=name, targeted=started.targeted
                )
            if verb == "pause":
                await campaign_service.pause(self._storage, name, now)
                return self._say("staff_campaign_result", action="paused", name=name)
            await campaign_service.cancel(self._storage, name, now)
            return self._say("staff_campaign_result", action="cancelled", name=name)
        except InvalidInput as exc:
            return self._say("staff_campaign_result", action=verb, name=name, problem=str(exc))

    async def tag(self, user: str, words: list[str], remove: bool) -> str:
        if len(words) != 2:
            problem = "use /escalator tag <customer> <tag> (or untag)"
            return self._say(
                "staff_tagged",
                customer_id="",
                tag="",
                removed=remove,
                changed=False,
                problem=problem,
            )
        who, raw = words
        key = CustomerKey.parse(who if ":" in who else f"telegram:{who}")
        try:
            tag = check_tag(raw)
        except InvalidInput as exc:
            return self._say(
                "staff_tagged",
                customer_id=key.id,
                tag=raw,
                removed=remove,
                changed=False,
                problem=str(exc),
            )
        if await self._storage.journey.customer(key) is None:
            return self._say(
                "staff_tagged",
                customer_id=key.id,
                tag=tag,
                removed=remove,
                changed=False,
                problem=f"no customer {key.id}",
            )
        if remove:
            changed = await self._storage.segments.untag(key, tag)
        else:
            by = await self._display_name(user)
            changed = await self._storage.segments.tag(key, tag, by, self._now())
        return self._say(
            "staff_tagged", customer_id=key.id, tag=tag, removed=remove, changed=changed
        )

    async def command(self, user: str, words: list[str], respond: AsyncRespond) -> None:
        """`campaigns`, `campaign VERB NAME`, `tag ...`, `untag ...` from a staff member."""
        verb = words[0].lower()
        if verb in ("tag", "untag"):
            text = await self.tag(user, words[1:], remove=verb == "untag")
            await respond(text=text, response_type="ephemeral")
            return
        if (
            verb == "campaign"
            and len(words) == 3
            and words[1].lower() in ("start", "pause", "cancel")
        ):
            if not self._is_admin(user):
                text = self._renderer.render(
                    "staff_not_allowed", {}, locale=None, fmt=Format.MRKDWN
                )
            else:
                text = await self.act(words[1].lower(), words[2])
            await respond(text=text, response_type="ephemeral")
            return
        blocks = await self.list_blocks(self._is_admin(user))
        await respond(text="campaigns", blocks=blocks, response_type="ephemeral")

    async def _on_button(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        user = body["user"]["id"]
        if not self._is_admin(user):
            text = self._renderer.render("staff_not_allowed", {}, locale=None, fmt=Format.MRKDWN)
            await respond(text=text, response_type="ephemeral", replace_original=False)
            return
        action = body["actions"][0]
        text = await self.act(ACTIONS[action["action_id"]], str(action.get("value", "")))
        await respond(text=text, response_type="ephemeral", replace_original=False)


def _buttons(status: str) -> tuple[str, ...]:
    if status == "draft":
        return ("campaign_start", "campaign_cancel")
    if status == "running":
        return ("campaign_pause", "campaign_cancel")
    if status == "paused":
        return ("campaign_start", "campaign_cancel")
    return ()


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}
