"""Signing in to the dashboard: the service's token, kept in the browser as an HttpOnly cookie.

The cookie holds an HMAC of the token, not the token, so it is the same on every replica and stops working
when the token changes; forms carry a second HMAC (the CSRF token) and the cookie is ``SameSite=Strict``.
Without a token (demo mode) everything is open, as the management endpoints are.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import parse_qs

from fastapi import Request

from service.settings import Settings

__all__ = ["COOKIE", "csrf_token", "parse_form", "session_token", "signed_in", "token_matches"]

COOKIE = "steadyrec_ui"
SESSION_S = 12 * 3600  # how long a sign-in lasts in the browser
MAX_FORM_BYTES = 16_384  # the dashboard's forms are a token and a few hidden fields


def _mac(settings: Settings, purpose: bytes) -> str:
    if settings.token is None:
        return "demo"
    return hmac.new(settings.token.get_secret_value().encode(), purpose, hashlib.sha256).hexdigest()


def session_token(settings: Settings) -> str:
    return _mac(settings, b"steadyrec dashboard session")


def csrf_token(settings: Settings) -> str:
    return _mac(settings, b"steadyrec dashboard form")


def token_matches(settings: Settings, given: str) -> bool:
    if settings.token is None:
        return True
    return secrets.compare_digest(given.encode(), settings.token.get_secret_value().encode())


def signed_in(request: Request, settings: Settings) -> bool:
    if settings.token is None:
        return True
    cookie = request.cookies.get(COOKIE, "")
    return bool(cookie) and secrets.compare_digest(cookie.encode(), session_token(settings).encode())


async def parse_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as {name: first value}; ValueError when it is not one."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise ValueError("expected a form (application/x-www-form-urlencoded)")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ValueError(f"the form is larger than {MAX_FORM_BYTES} bytes")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as err:
        raise ValueError("the form is not UTF-8") from err
    return {name: values[0] for name, values in fields.items()}
