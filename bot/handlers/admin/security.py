"""What every dashboard response and request goes through: security headers, the client's
address and scheme, and the CSRF check of state-changing requests.

The Content-Security-Policy allows scripts and styles from the dashboard's own static files
only: no inline script, no inline event handler, no `eval`, nothing from another origin. Pages
hand data to scripts as JSON in `<script type="application/json">` elements, which browsers
never execute.
"""

from __future__ import annotations

import hmac

from aiohttp import web

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "UNSAFE_METHODS",
    "client_address",
    "is_https",
    "protect",
    "same_token",
]

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_https(request: web.Request) -> bool:
    """Served over HTTPS, directly or behind a proxy that says so (X-Forwarded-Proto). Trusting
    the header here can only make the cookie stricter (Secure), never looser."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


def client_address(request: web.Request, trust_proxy: bool) -> str:
    """Who is asking, for throttling: the peer, or behind a trusted proxy the address it saw
    (the last X-Forwarded-For entry, the one the proxy itself added)."""
    if trust_proxy:
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",")]
        if forwarded[-1]:
            return forwarded[-1][:100]
    return request.remote or "unknown"


def protect(response: web.StreamResponse, *, page: bool) -> None:
    """The headers every dashboard response carries; pages (HTML, CSV) are never cached."""
    headers = response.headers
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "same-origin"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if page:
        headers["Cache-Control"] = "no-store"


def same_token(given: str | None, expected: str | None) -> bool:
    """Compare CSRF tokens in constant time; a missing one never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
