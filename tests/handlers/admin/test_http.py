"""The dashboard over plain HTTP (aiohttp's client against the real web server app on a real
SQLite file): who gets in, the headers every answer carries, CSRF, throttled sign-in, escaping,
the CSV, template saves and their refusals. No browser needed."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import aiohttp
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from bot.app import Runtime
from bot.dashboard import admin_options, dashboard
from bot.flows.model import CustomerKey, OrderKey, Profile, Start, Text
from bot.flows.orders import OrderStatus, OrderUpdate, Refund, merge
from bot.handlers.admin import (
    AdminParts,
    Chart,
    ReportEntry,
    Series,
    admin_app,
)
from bot.handlers.web import build_web_app
from bot.passwords import hash_password
from bot.revenue import revenue_report
from bot.storage.types import AdminAccount
from tests.conftest import Harness

PASSWORD = "correct horse battery"
HOSTILE = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://evil","x")'


@dataclass(frozen=True)
class Section:
    title: str
    found: Sequence[ReportEntry]

    async def entries(self) -> Sequence[ReportEntry]:
        return self.found


@dataclass
class Site:
    rt: Runtime
    client: TestClient[aiohttp.web.Request, aiohttp.web.Application]


async def add_account(rt: Runtime, name: str, role: str, password: str = PASSWORD) -> None:
    now = datetime.now(UTC)
    # a cheaper hash than production's: the tests sign in dozens of times
    encoded = hash_password(password, log2_n=12)
    await rt.storage.admin.save_account(AdminAccount(name, encoded, role, now, now))  # type: ignore[arg-type]


@pytest_asyncio.fixture
async def site(harness: Harness) -> AsyncIterator[Site]:
    async with harness.open() as rt:
        await add_account(rt, "ann", "editor")
        await add_account(rt, "vic", "viewer")
        hostile = CustomerKey("test", "666")
        await rt.engine.handle(Start(key=hostile, inbound_id="s1", profile=Profile(HOSTILE, "en")))
        await rt.engine.handle(Text(key=hostile, inbound_id="s2", text=FORMULA))
        await rt.settle()
        entries = [
            ReportEntry(
                "Spring nurture <b>",
                "running",
                (("targeted", "120"), ("sent", "97")),
                Chart("bar", ("A", "B"), (Series("reply rate", (0.25, 0.5)),)),
            )
        ]
        options = admin_options(harness.settings.model_copy(update={"admin_login_attempts": 5}))
        parts = AdminParts(
            rt.storage, rt.templates, rt.renderer, rt.clock, (Section("Campaigns", entries),)
        )
        app = build_web_app(
            telegram_path=None,
            telegram_secret=None,
            accept_update=None,
            admin=admin_app(options, parts),
        )
        jar = aiohttp.CookieJar(unsafe=True)  # the test server is an IP address
        async with TestClient(TestServer(app), cookie_jar=jar) as client:
            yield Site(rt, client)


def hidden(html: str, name: str = "csrf") -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden {name} field"
    return found.group(1)


async def sign_in(
    client: TestClient[aiohttp.web.Request, aiohttp.web.Application],
    name: str = "ann",
    password: str = PASSWORD,
    headers: dict[str, str] | None = None,
) -> aiohttp.ClientResponse:
    page = await client.get("/admin/login")
    token = hidden(await page.text())
    return await client.post(
        "/admin/login",
        data={"csrf": token, "name": name, "password": password, "next": "/admin/customers"},
        headers=headers or {},
        allow_redirects=False,
    )


async def csrf_of(client: TestClient[aiohttp.web.Request, aiohttp.web.Application]) -> str:
    page = await client.get("/admin/templates/en/help")
    assert page.status == 200
    return hidden(await page.text())


async def test_every_page_needs_a_session_and_the_health_check_does_not(site: Site) -> None:
    client = site.client
    assert (await client.get("/healthz")).status == 200
    for path in ("/admin", "/admin/", "/admin/customers", "/admin/templates", "/admin/reports"):
        answer = await client.get(path, allow_redirects=False)
        assert answer.status == 303, path
        assert answer.headers["Location"].startswith("/admin/login?next=/admin"), path
    refused = await client.post("/admin/templates/en/help", data={"source": "hi"})
    assert refused.status == 401
    # static files are the package's own, served to anyone
    script = await client.get("/admin/static/admin.js")
    assert script.status == 200 and "Chart" in await script.text()
    assert (await client.get("/admin/static/vendor/chart.umd.min.js")).status == 200


async def test_signing_in_sets_a_strict_expiring_cookie_and_signing_out_ends_it(
    site: Site,
) -> None:
    client = site.client
    answer = await sign_in(client)
    assert answer.status == 303 and answer.headers["Location"] == "/admin/customers"
    cookie = answer.headers.getall("Set-Cookie")
    (session,) = [c for c in cookie if c.startswith("escalator_admin=")]
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Path=/admin" in session
    assert "Max-Age=43200" in session  # ADMIN_SESSION_TTL, 12h by default
    assert "Secure" not in session  # plain HTTP here: a Secure cookie would never come back
    page = await client.get("/admin/")
    assert page.status == 200 and "ann · editor" in await page.text()
    token = hidden(await page.text())
    out = await client.post("/admin/logout", data={"csrf": token}, allow_redirects=False)
    assert out.status == 303
    assert (await client.get("/admin/", allow_redirects=False)).status == 303


async def test_behind_an_https_proxy_the_cookie_is_secure(site: Site) -> None:
    answer = await sign_in(site.client, headers={"X-Forwarded-Proto": "https"})
    (session,) = [c for c in answer.headers.getall("Set-Cookie") if "escalator_admin=" in c]
    assert "Secure" in session


async def test_a_next_page_elsewhere_is_not_followed(site: Site) -> None:
    client = site.client
    page = await client.get("/admin/login")
    answer = await client.post(
        "/admin/login",
        data={
            "csrf": hidden(await page.text()),
            "name": "ann",
            "password": PASSWORD,
            "next": "//evil.example/admin/",
        },
        allow_redirects=False,
    )
    assert answer.headers["Location"] == "/admin/"


async def test_every_answer_carries_the_security_headers(site: Site) -> None:
    client = site.client
    await sign_in(client)
    for path in ("/admin/", "/admin/customers", "/admin/templates/en/help", "/admin/nowhere"):
        answer = await client.get(path)
        policy = answer.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "default-src 'none'" in policy, path
        assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Cache-Control"] == "no-store"
    page = await (await client.get("/admin/")).text()
    # no inline script, no inline handler: scripts come from files, data as JSON
    assert not re.search(r"<script(?![^>]*(src=|type=\"application/json\"))", page)
    assert not re.search(r"\son[a-z]+=", page)


async def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(site: Site) -> None:
    client = site.client
    await sign_in(client)
    before = await site.rt.templates.history("help", "en")
    for data in ({"source": "Hijacked"}, {"source": "Hijacked", "csrf": "guess"}):
        answer = await client.post("/admin/templates/en/help", data=data)
        assert answer.status == 403
        assert "not sent from a page of this dashboard" in await answer.text()
    reset = await client.post("/admin/templates/en/help/reset")
    assert reset.status == 403
    preview = await client.post("/admin/templates/en/help/preview", json={"source": "x"})
    assert preview.status == 403
    assert await site.rt.templates.history("help", "en") == before
    # the sign-in form has its own token (a cookie of its own, checked against the form)
    fresh = TestClient(TestServer(client.app), cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with fresh:
        bare = await fresh.post("/admin/login", data={"name": "ann", "password": PASSWORD})
        assert bare.status == 403


async def test_five_wrong_passwords_and_the_sixth_try_waits(site: Site) -> None:
    client = site.client
    for _ in range(5):
        wrong = await sign_in(client, password="not the password")
        assert wrong.status == 401
        assert "Wrong name or password." in await wrong.text()
    # even the right password is not checked now
    held = await sign_in(client)
    assert held.status == 429
    assert "Too many failed sign-ins" in await held.text()
    assert 0 < int(held.headers["Retry-After"]) <= 15 * 60 + 1
    # the account is held for everyone, from any address
    other = await sign_in(client, headers={"X-Forwarded-For": "10.9.9.9"})
    assert other.status == 429
    # another account from this address is held too (the address's count)
    assert (await sign_in(client, name="vic")).status == 429
    # after the window, the right password works again
    site.rt.clock.advance(timedelta(minutes=16))  # type: ignore[attr-defined]
    assert (await sign_in(client)).status == 303


async def test_an_unknown_name_is_answered_like_a_wrong_password(site: Site) -> None:
    answer = await sign_in(site.client, name="mallory")
    assert answer.status == 401 and "Wrong name or password." in await answer.text()


async def test_a_customer_value_is_text_in_every_page_and_neutral_in_the_csv(site: Site) -> None:
    client = site.client
    await sign_in(client)
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    listing = await (await client.get("/admin/customers")).text()
    assert HOSTILE not in listing and escaped in listing
    page = await client.get("/admin/customers/test:666")
    text = await page.text()
    assert page.status == 200
    assert HOSTILE not in text and escaped in text
    assert "=HYPERLINK(&#34;http://evil&#34;,&#34;x&#34;)" in text  # what they wrote, as text
    sheet = await client.get("/admin/customers.csv?q=test:666")
    assert sheet.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in sheet.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO((await sheet.text()).removeprefix("\ufeff"))))
    assert [row["name"] for row in rows] == [HOSTILE]
    assert (await client.get("/admin/customers/test:nobody")).status == 404


async def test_customers_are_filtered_and_a_bad_filter_is_said(site: Site) -> None:
    client = site.client
    await sign_in(client)
    found = await (await client.get("/admin/customers?stage=engaged")).text()
    assert "test:666" in found and "1 customer" in found
    none = await (await client.get("/admin/customers?stage=customer")).text()
    assert "No customer matches." in none
    bad = await client.get("/admin/customers?stage=royalty&since=yesterday")
    assert bad.status == 400
    said = await bad.text()
    assert "no stage &#39;royalty&#39; (ignored)" in said and "not a date" in said


async def test_an_editor_saves_a_valid_text_and_sees_why_an_invalid_one_is_not_saved(
    site: Site,
) -> None:
    client = site.client
    await sign_in(client)
    token = await csrf_of(client)
    broken = await client.post(
        "/admin/templates/en/help",
        data={"csrf": token, "source": "Hi {{ nonsense }}", "comment": "try"},
    )
    assert broken.status == 422
    page = await broken.text()
    assert "unknown variable &#39;nonsense&#39;" in page
    assert "Hi {{ nonsense }}</textarea>" in page  # the draft is kept, not lost
    assert len(await site.rt.templates.history("help", "en")) == 1  # nothing saved
    saved = await client.post(
        "/admin/templates/en/help",
        data={"csrf": token, "source": "Ask me, {{ first_name }}!", "comment": "shorter"},
        allow_redirects=False,
    )
    assert saved.status == 303 and saved.headers["Location"].endswith("?saved=2")
    latest = (await site.rt.templates.history("help", "en"))[-1]
    assert (latest.number, latest.source, latest.author, latest.comment) == (
        2,
        "Ask me, {{ first_name }}!",
        "ann",
        "shorter",
    )
    diff = await (await client.get("/admin/templates/en/help/diff?from=1&to=2")).text()
    assert 'class="line add">+Ask me, {{ first_name }}!' in diff
    rolled = await client.post(
        "/admin/templates/en/help/rollback", data={"csrf": token, "version": "1"}
    )
    assert rolled.status == 200 and "Saved as version 3" in await rolled.text()
    assert (await site.rt.templates.history("help", "en"))[-1].shipped
    await client.post(
        "/admin/templates/en/help", data={"csrf": token, "source": "Again, {{ first_name }}?"}
    )
    reset = await client.post("/admin/templates/en/help/reset", data={"csrf": token})
    assert "Back to the shipped text." in await reset.text()
    history = await site.rt.templates.history("help", "en")
    assert [(v.number, v.shipped) for v in history[-2:]] == [(4, False), (5, True)]
    again = await client.post("/admin/templates/en/help/reset", data={"csrf": token})
    assert "Already at the shipped text: nothing changed." in await again.text()
    assert len(await site.rt.templates.history("help", "en")) == 5


async def test_a_viewer_sees_templates_but_cannot_change_them(site: Site) -> None:
    client = site.client
    await sign_in(client, name="vic")
    page = await (await client.get("/admin/templates/en/help")).text()
    assert "readonly" in page and "Save as a new version" not in page
    token = hidden(page)
    for path, data in (
        ("/admin/templates/en/help", {"csrf": token, "source": "Viewer was here"}),
        ("/admin/templates/en/help/rollback", {"csrf": token, "version": "1"}),
        ("/admin/templates/en/help/reset", {"csrf": token}),
    ):
        answer = await client.post(path, data=data)
        assert answer.status == 403, path
        assert "Viewers cannot change messages" in await answer.text()
    assert len(await site.rt.templates.history("help", "en")) == 1


async def test_the_live_preview_renders_both_forms_for_a_customer_and_cleans_html(
    site: Site,
) -> None:
    client = site.client
    await sign_in(client)
    token = await csrf_of(client)
    source = '<b>Hi {{ first_name }}</b> <a href="javascript:alert(2)" onclick="x()">there</a>'
    answer = await client.post(
        "/admin/templates/en/help/preview",
        json={"source": source, "customer": "test:666"},
        headers={"X-CSRF-Token": token},
    )
    assert answer.status == 200
    shown = await answer.json()
    assert shown["problems"] == []
    assert shown["for"].endswith("(test:666)")
    # the customer's hostile name is escaped by the template, the link loses its script
    assert shown["telegram"].startswith("<b>Hi &lt;script&gt;alert(1)&lt;/script&gt;</b>")
    assert "javascript:" not in shown["telegram"] and "onclick" not in shown["telegram"]
    assert shown["slack"].startswith("<b>Hi &lt;script&gt;alert(1)&lt;/script&gt;</b>")
    wrong = await client.post(
        "/admin/templates/en/help/preview",
        json={"source": "{% for %}"},
        headers={"X-CSRF-Token": token},
    )
    assert (await wrong.json())["problems"][0].startswith("[en] line 1: syntax error")


async def test_other_features_reports_are_listed_with_their_charts(site: Site) -> None:
    client = site.client
    await sign_in(client)
    page = await (await client.get("/admin/reports")).text()
    assert "Campaigns" in page and "Spring nurture &lt;b&gt;" in page
    assert "<dt>targeted</dt><dd>120</dd>" in page
    assert '"series": [{"label": "reply rate", "values": [0.25, 0.5]}]' in page


async def test_the_overview_shows_the_report_of_a_period_and_refuses_nonsense(
    site: Site,
) -> None:
    client = site.client
    await sign_in(client)
    page = await client.get("/admin/?days=30")
    assert page.status == 200
    text = await page.text()
    assert (
        'id="customers-total">1<' in text and 'type="application/json" id="overview-data"' in text
    )
    assert 'id="revenue"' not in text  # no shop sends orders: nothing to say
    paid = OrderUpdate(
        OrderKey("shopify", "1001"),
        "orders/paid",
        OrderStatus.PAID,
        order_number="#1001",
        amount=Decimal("49.90"),
        currency="EUR",
        refunds=(Refund("r1", Decimal("5.00")),),
    )
    at = site.rt.clock.now()
    await site.rt.storage.shop.record(
        "shopify:w1", paid.topic, paid.key, lambda now: merge(now, paid, at), at
    )
    printed = (await revenue_report(site.rt.storage.shop)).lines()
    shown = await (await client.get("/admin/")).text()
    assert 'id="revenue"' in shown and "EUR" in printed[1] and "EUR" in shown
    assert "44.90" in printed[1] and '<td class="num">44.90</td>' in shown  # as the CLI says
    assert "<td>not linked</td>" in shown
    bad = await client.get("/admin/?since=2026-05-01&until=2026-04-01")
    assert bad.status == 400 and "From must be before Until" in await bad.text()
    missing = await client.get("/admin/templates/xx/help")
    assert missing.status == 404


async def test_the_dashboard_is_off_until_someone_can_sign_in(harness: Harness) -> None:
    async with harness.open() as rt:
        assert await dashboard(harness.settings, rt) is None
        encoded = hash_password(PASSWORD, log2_n=12)
        with_hash = harness.settings.model_copy(update={"admin_password_hash": SecretStr(encoded)})
        assert await dashboard(with_hash, rt) is not None
        await add_account(rt, "ann", "viewer")
        assert await dashboard(harness.settings, rt) is not None


async def test_the_environments_account_signs_in_and_a_new_password_ends_sessions(
    harness: Harness,
) -> None:
    async with harness.open() as rt:
        encoded = hash_password(PASSWORD, log2_n=12)
        settings = harness.settings.model_copy(update={"admin_password_hash": SecretStr(encoded)})
        await add_account(rt, "bob", "editor")
        app = await dashboard(settings, rt)
        assert app is not None
        server = build_web_app(
            telegram_path=None, telegram_secret=None, accept_update=None, admin=app
        )
        async with TestClient(TestServer(server), cookie_jar=aiohttp.CookieJar(unsafe=True)) as c:
            assert (await sign_in(c, name=" Admin ")).status == 303  # names ignore case
            assert "admin · editor" in await (await c.get("/admin/")).text()
            await c.post("/admin/logout", data={"csrf": await csrf_of(c)})
            assert (await sign_in(c, name="bob")).status == 303
            assert (await c.get("/admin/", allow_redirects=False)).status == 200
            # bob gets a new password: the session opened with the old one ends
            stamp = datetime.now(UTC)
            fresh = AdminAccount(
                "bob", hash_password("a new long phrase", log2_n=12), "editor", stamp, stamp
            )
            await rt.storage.admin.save_account(fresh, replace=True)
            assert (await c.get("/admin/", allow_redirects=False)).status == 303
