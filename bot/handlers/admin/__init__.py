"""The admin dashboard: pages under `/admin` on the bot's own web server.

Overview (the journey report, drawn), customers (list, filters, CSV, one customer's page),
message templates (edit, validate, preview, history, diff, rollback, reset) and the reports
other features register. Signed-in accounts only (`gate`); every page escaped and served under a
Content-Security-Policy without inline script (`security`).
"""

from bot.handlers.admin.gate import GateOptions
from bot.handlers.admin.sections import Chart, ReportEntry, ReportSection, Series
from bot.handlers.admin.site import COOKIE, PREFIX, AdminOptions, AdminParts, admin_app

__all__ = [
    "COOKIE",
    "PREFIX",
    "AdminOptions",
    "AdminParts",
    "Chart",
    "GateOptions",
    "ReportEntry",
    "ReportSection",
    "Series",
    "admin_app",
]
