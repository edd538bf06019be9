"""Report queries over shop orders, written once for both backends (`mark(n)` writes the n-th
parameter: `?` on SQLite, `$n` on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["chain_revenue_sql", "revenue_sql"]


def _net(alias: str) -> str:
    """The paid amount of order `alias`, net of its partial refunds."""
    return (
        f"({alias}.amount_micros - coalesce((SELECT sum(r.amount_micros) FROM shop_refunds r "
        f"WHERE r.source = {alias}.source AND r.order_id = {alias}.order_id), 0))"
    )


def revenue_sql(mark: Callable[[int], str]) -> str:
    """Revenue by stage and currency; `mark(n)` writes the n-th parameter (since, until)."""
    return (
        f"SELECT c.stage, o.currency, count(*), sum({_net('o')}) FROM shop_orders o "
        "LEFT JOIN customers c ON c.id = o.customer_id "
        "WHERE o.status = 'paid' AND o.amount_micros IS NOT NULL "
        f"AND coalesce(o.placed_at, o.received_at) >= {mark(1)} "
        f"AND coalesce(o.placed_at, o.received_at) < {mark(2)} "
        "GROUP BY c.stage, o.currency ORDER BY c.stage, o.currency"
    )


def chain_revenue_sql(mark: Callable[[int], str]) -> str:
    """Per referrer and currency, what their chain spent; parameters (depth, limit)."""
    return (
        "WITH RECURSIVE chain(root, id, generation) AS ("
        " SELECT referrer_id, referee_id, 1 FROM referrals"
        " UNION ALL"
        " SELECT c.root, r.referee_id, c.generation + 1 FROM referrals r"
        f" JOIN chain c ON r.referrer_id = c.id WHERE c.generation < {mark(1)}"
        "), spent AS ("
        f" SELECT o.customer_id, o.currency, sum({_net('o')}) AS amount FROM shop_orders o"
        " WHERE o.status = 'paid' AND o.amount_micros IS NOT NULL AND o.customer_id IS NOT NULL"
        " GROUP BY o.customer_id, o.currency"
        ") SELECT chain.root, coalesce(u.first_name, ''), spent.currency,"
        " count(DISTINCT chain.id), max(chain.generation), sum(spent.amount)"
        " FROM chain JOIN spent ON spent.customer_id = chain.id"
        " LEFT JOIN customers u ON u.id = chain.root"
        " GROUP BY chain.root, u.first_name, spent.currency"
        f" ORDER BY sum(spent.amount) DESC, chain.root LIMIT {mark(2)}"
    )
