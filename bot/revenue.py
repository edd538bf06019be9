"""Shop revenue for `escalator report`: paid orders, net of partial refunds, per currency, by the
stage their customers have reached, and what each referrer's chain brought (seed 004's "Jack",
who is responsible for every generation of introductions, counted in money)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.flows.orders import format_money
from bot.flows.stages import Stage
from bot.storage.protocols import ShopStore
from bot.storage.types import ChainRevenue, RevenueRow
from bot.terminal import inert

__all__ = ["RevenueReport", "revenue_report"]

NOT_LINKED = "not linked"


@dataclass(frozen=True)
class RevenueReport:
    by_stage: tuple[RevenueRow, ...]
    chains: tuple[ChainRevenue, ...]

    def currencies(self) -> list[str | None]:
        return sorted({row.currency for row in self.by_stage}, key=lambda c: c or "")

    def total(self, currency: str | None) -> int:
        return sum(row.amount_micros for row in self.by_stage if row.currency == currency)

    def lines(self) -> list[str]:
        if not self.by_stage:
            return []  # no shop sends orders (or none were paid in the period): nothing to say
        out = ["revenue             paid shop orders, net of refunds"]
        for currency in self.currencies():
            label = currency or "(no currency)"
            out.append(f"  {label:<17} {format_money(self.total(currency)):>12}")
            rows = {row.stage: row for row in self.by_stage if row.currency == currency}
            for stage in [*(s.value for s in Stage), None]:
                row = rows.get(stage)
                if row is None:
                    continue
                name = stage or NOT_LINKED
                orders = f"{row.orders} order{'s' if row.orders != 1 else ''}"
                out.append(f"    {name:<15} {format_money(row.amount_micros):>12}  ({orders})")
        if self.chains:
            out.append("revenue by referral chain (what the people each referrer brought spent)")
            for chain in self.chains:
                who = inert(f"{chain.first_name or '-'} ({chain.referrer_id})")
                money = f"{format_money(chain.amount_micros)} {chain.currency or ''}".rstrip()
                out.append(
                    f"  {who:<32} {money:>16}  {chain.buyers} buyer"
                    f"{'s' if chain.buyers != 1 else ''}, {chain.generations} generation"
                    f"{'s' if chain.generations != 1 else ''}"
                )
        return out


async def revenue_report(
    shop: ShopStore,
    since: datetime | None = None,
    until: datetime | None = None,
    top_chains: int = 10,
) -> RevenueReport:
    """Revenue of orders placed in [since, until); referral chains over all time."""
    return RevenueReport(
        tuple(await shop.revenue(since, until)), tuple(await shop.chain_revenue(top_chains))
    )
