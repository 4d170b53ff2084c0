"""What keeps the studio private: host binding, the access token, safe names and paths, headers.

The studio listens on 127.0.0.1 unless told otherwise. Bound anywhere else it refuses every
request that does not carry the access token (a header, a cookie set from the ``?token=`` of the
printed URL, or the query itself). Without a token it answers only requests addressed to a
loopback host name, so a web page that re-points its own domain at 127.0.0.1 (DNS rebinding)
gets nothing. Requests that change anything must carry the ``X-Tunesmith`` header: a page on
another origin cannot add it without a CORS preflight, and the studio never answers CORS, so
cross-site form posts and fetches cannot start work. Every response carries a strict
Content-Security-Policy (everything from the studio itself, nothing from the internet).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import unicodedata
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_COOKIE = "tunesmith_token"
TOKEN_HEADER = "x-tunesmith-token"
CSRF_HEADER = "x-tunesmith"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
SAFE_METHODS = frozenset({"GET", "HEAD"})

#: Ids of jobs and uploads: 32 lowercase hex digits (uuid4().hex), nothing else is ever looked up.
ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ ()+-]{0,159}$")
MAX_NAME_CHARS = 120

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
#: Reports are our own self-contained HTML (inline CSS and PNGs): shown sandboxed, no scripts at all.
REPORT_SECURITY_POLICY = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) only reaches this machine."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A fresh random access token (URL-safe, 192 bits)."""
    return secrets.token_urlsafe(24)


def safe_name(name: str, default: str = "upload") -> str:
    """A file name that is safe to create inside a folder of ours.

    Only the last path component of ``name`` is kept (``/`` and ``\\`` both count as separators);
    letters are folded to NFKC; characters outside letters, digits and ``._-()+ `` become ``_``;
    leading dots and spaces are dropped (no hidden files, no ``..``); the result is at most
    120 characters, keeping the suffix. An empty result becomes ``default``.

    Examples
    --------
    >>> safe_name("../../etc/passwd")
    'passwd'
    >>> safe_name("My Song (final).wav")
    'My Song (final).wav'
    """
    base = unicodedata.normalize("NFKC", name).replace("\\", "/").split("/")[-1]
    base = "".join(c if (c.isascii() and (c.isalnum() or c in "._-()+ ")) else "_" for c in base)
    base = re.sub(r"_+", "_", base).lstrip(". ").rstrip(" ")
    if len(base) > MAX_NAME_CHARS:
        stem, dot, suffix = base.rpartition(".")
        suffix = suffix[:12] if dot else ""
        base = (stem if dot else base)[: MAX_NAME_CHARS - len(suffix) - 1].rstrip(". ") + (f".{suffix}" if dot else "")
    if not base or not _SEGMENT.match(base):
        return default
    return base


def safe_join(root: Path, relative: str) -> Path | None:
    """``root / relative`` when it names a regular file inside ``root``, else None.

    Every segment must look like a name we write (no ``..``, no hidden or empty segments,
    no backslashes or percent signs), and the resolved path, links followed, must still lie
    inside ``root``. A symbolic link anywhere on the way is refused.
    """
    parts = relative.split("/")
    if not parts or any(not _SEGMENT.match(p) or p in (".", "..") for p in parts):
        return None
    base = root.resolve()
    candidate = base.joinpath(*parts)
    probe = base
    for part in parts:
        probe = probe / part
        if probe.is_symlink():
            return None
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_relative_to(base) or not resolved.is_file():
        return None
    return resolved


def _cookie_token(cookie_header: str) -> str | None:
    for item in cookie_header.split(";"):
        name, _, value = item.strip().partition("=")
        if name == TOKEN_COOKIE:
            return value
    return None


class StudioGuard:
    """ASGI middleware: token, host name, cross-site writes and security headers.

    Parameters
    ----------
    app : ASGIApp
        The application behind the guard.
    token : str, optional
        Required on every request when given (``Authorization: Bearer``, ``X-Tunesmith-Token``,
        the ``tunesmith_token`` cookie, or ``?token=``; the last sets the cookie).
    """

    def __init__(self, app: ASGIApp, token: str | None = None) -> None:
        self.app = app
        self.token = token

    def _presented_token(self, scope: Scope, headers: dict[str, str]) -> tuple[str | None, bool]:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), False
        if TOKEN_HEADER in headers:
            return headers[TOKEN_HEADER], False
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "token" in query:
            return query["token"][0], True
        return _cookie_token(headers.get("cookie", "")), False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # the studio has none: refuse rather than guard two protocols
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        set_cookie = False
        if self.token is not None:
            presented, from_query = self._presented_token(scope, headers)
            if presented is None or not secrets.compare_digest(presented.encode(), self.token.encode()):
                await _refuse(send, 401, "this studio needs its access token (open the URL it printed)")
                return
            set_cookie = from_query
        else:
            host = headers.get("host", "")
            hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if hostname.lower() not in LOOPBACK_NAMES:
                await _refuse(send, 403, f"host {host!r} is not this machine")
                return
        if scope["method"] not in SAFE_METHODS and headers.get(CSRF_HEADER) != "1":
            await _refuse(send, 403, "requests that change anything need the X-Tunesmith: 1 header")
            return
        await self.app(scope, receive, _with_headers(send, self.token if set_cookie else None))


def _with_headers(send: Send, cookie_token: str | None) -> Callable[[Message], Awaitable[None]]:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {k.lower() for k, _ in headers}
            if b"content-security-policy" not in present:
                headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
            headers += [
                (b"x-content-type-options", b"nosniff"),
                (b"referrer-policy", b"no-referrer"),
                (b"x-frame-options", b"DENY"),
                (b"cross-origin-resource-policy", b"same-origin"),
                (b"cross-origin-opener-policy", b"same-origin"),
            ]
            if cookie_token is not None:
                cookie = f"{TOKEN_COOKIE}={cookie_token}; Path=/; HttpOnly; SameSite=Strict"
                headers.append((b"set-cookie", cookie.encode()))
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


async def _refuse(send: Send, status: int, detail: str) -> None:
    import json

    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-content-type-options", b"nosniff"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
