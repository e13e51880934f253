"""The web console's frame: who is looking (``Viewer``), login through the bot's
one-time links, signed session cookies, CSRF, rate limits, and the pages plugins
declare.

The console is served by the bot's own process, on NoneBot's FastAPI app, under
``/console/``. A capability adds pages by declaring a ``ConsolePart`` in its plugin
metadata (``extra["console"]``): a FastAPI router, its menu entries and, for 概览,
a card. This module never imports a plugin; it collects the declarations.

A session is a random token, signed (itsdangerous) in an HttpOnly, SameSite=Strict
cookie, and stored as a digest (``storage.console``): a forged cookie is refused
before the database is read, a revoked one by the database.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from itsdangerous import BadSignature, URLSafeSerializer
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from bot.runtime import current_runtime
from messages.web import PageRenderer
from storage import console as links
from storage.directory import Member
from storage.places import Place
from storage.repo import ADMIN, BUILDING_LEADER, STAFF, SUPERVISION_TEAM, UNIT_LEADER, audit
from storage.retention import exports_dir

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger("gridbot.console")

COOKIE = "gridbot_console"
PREFIX = "/console"
# Staff and leaders; 志愿者 and residents have no console.
LEVELS = {"leader": 0, "staff": 1, "admin": 2}


@dataclass(frozen=True)
class Viewer:
    """The person behind a console session, with the rights the chat gives them."""

    account: str
    name: str
    csrf: str
    level: str  # leader | staff | admin
    # Staff: the scopes of their grants (("all", 0) for 管理员 and superusers).
    # Leaders: their unit and building grants.
    scopes: tuple[tuple[str, int], ...] = ()
    roles: frozenset[str] = frozenset()

    def at_least(self, level: str) -> bool:
        return LEVELS[self.level] >= LEVELS[level]

    @property
    def supervises(self) -> bool:
        """管理员, or a member of the 纪检监督组: the audit log is theirs to read."""
        return self.level == "admin" or SUPERVISION_TEAM in self.roles

    def sees(self, place: Place) -> bool:
        return any(place.covers(kind, ref) for kind, ref in self.scopes)

    def sees_scope(self, kind: str, ref: int, places: Iterable[Place]) -> bool:
        """Whether a record about a scope (a round, a broadcast) is theirs to see:
        everything for whole-street staff, else any unit of it in their own scope."""
        if ("all", 0) in self.scopes:
            return True
        return any(self.sees(p) for p in places if p.covers(kind, ref))


def viewer_of(member: Member | None, account: str, csrf: str, now: datetime,
              superuser: bool = False) -> Viewer | None:
    """The viewer an account is today, or None when it holds no console role."""
    grants = [g for g in (member.grants if member else ()) if g.live(now)]
    roles = frozenset(g.role for g in grants) | (member.teams if member else frozenset())
    name = member.name if member else ""
    if superuser or any(g.role == ADMIN for g in grants):
        return Viewer(account, name, csrf, "admin", (("all", 0),), roles)
    staff = [(g.scope_kind, g.scope_id) for g in grants if g.role == STAFF]
    if staff:
        return Viewer(account, name, csrf, "staff", tuple(staff), roles)
    leading = [(g.scope_kind, g.scope_id) for g in grants
               if g.role in (UNIT_LEADER, BUILDING_LEADER)]
    if leading or SUPERVISION_TEAM in roles:
        # A 纪检监督组 member without another role sees no places, only the audit
        # log and the files the bot offered them.
        return Viewer(account, name, csrf, "leader", tuple(leading), roles)
    return None


Card = Callable[["Runtime", Viewer, datetime], Awaitable[tuple[str, dict] | None]]


@dataclass(frozen=True)
class ConsolePart:
    """What a capability adds to the console."""

    router: APIRouter | None = None
    # Menu entries: (label, path, lowest level that sees it, or "supervisor"), in order.
    nav: tuple[tuple[str, str, str], ...] = ()
    # 概览 cards: (page template, context) or None when there is nothing to show.
    cards: tuple[Card, ...] = ()
    order: int = 50  # menu and card order among the capabilities
    static: Path | None = None  # files served under /console/static/


class ConsoleDenied(Exception):
    """Refused: no session, a bad cookie, too low a level, a bad CSRF token."""

    def __init__(self, reason: str, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass
class Console:
    """The console of one app: its declared parts and page renderer."""

    parts: list[ConsolePart] = field(default_factory=list)
    pages: PageRenderer = field(default_factory=PageRenderer)
    # One per runtime (a test runs many, on one database or several).
    limiters: weakref.WeakKeyDictionary[Runtime, MovingWindowRateLimiter] = field(
        default_factory=weakref.WeakKeyDictionary)

    def nav_for(self, viewer: Viewer) -> list[tuple[str, str]]:
        entries = [("概览", f"{PREFIX}/", "leader")]
        for part in sorted(self.parts, key=lambda p: p.order):
            entries.extend(part.nav)
        return [(label, path) for label, path, level in entries
                if (viewer.supervises if level == "supervisor" else viewer.at_least(level))]

    def page(self, request: Request, viewer: Viewer | None, template: str,
             status: int = 200, **context: Any) -> HTMLResponse:
        html = self.pages.render(
            template, viewer=viewer, nav=self.nav_for(viewer) if viewer else [],
            here=request.url.path, prefix=PREFIX, **context,
        )
        return HTMLResponse(html, status_code=status, headers=_NO_STORE)

    def fragment(self, template: str, **context: Any) -> HTMLResponse:
        return HTMLResponse(self.pages.render(template, prefix=PREFIX, **context),
                            headers=_NO_STORE)


_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
             "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}

_console = Console()


def the_console() -> Console:
    return _console


# --- keys and cookies -----------------------------------------------------------


def secret_of(rt: Runtime) -> str:
    """The cookie-signing key: the setting, else a key kept (0600) in the data directory."""
    if rt.settings.console_secret:
        return rt.settings.console_secret
    path = rt.settings.data_path() / "console.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(links.new_token())
    return path.read_text().strip()


_signers: weakref.WeakKeyDictionary[Runtime, URLSafeSerializer] = weakref.WeakKeyDictionary()


async def signer(rt: Runtime) -> URLSafeSerializer:
    found = _signers.get(rt)  # one per runtime (tests run many)
    if found is None:
        secret = await asyncio.to_thread(secret_of, rt)
        found = _signers[rt] = URLSafeSerializer(secret, salt="gridbot-console-session")
    return found


def runtime() -> Runtime:
    return current_runtime()


async def current_viewer(request: Request) -> Viewer:
    rt = current_runtime()
    raw = request.cookies.get(COOKIE)
    if not raw:
        raise ConsoleDenied("no_session", 401)
    try:
        token = (await signer(rt)).loads(raw)
    except BadSignature:
        raise ConsoleDenied("bad_cookie", 401) from None
    now = rt.now()
    async with rt.db.read() as s:
        row = await links.session_for(s, str(token), now)
    if row is None:
        raise ConsoleDenied("no_session", 401)
    member = (await rt.db.directory.current()).members.get(row.account)
    viewer = viewer_of(member, row.account, row.csrf, now,
                       superuser=row.account in rt.settings.superusers)
    if viewer is None:  # the role was revoked since the login
        raise ConsoleDenied("no_role", 403)
    return viewer


def at_least(level: str) -> Callable[..., Awaitable[Viewer]]:
    async def _dep(viewer: Viewer = Depends(current_viewer)) -> Viewer:
        if not viewer.at_least(level):
            raise ConsoleDenied("level", 403)
        return viewer

    return _dep


async def _supervisor(viewer: Viewer = Depends(current_viewer)) -> Viewer:
    if not viewer.supervises:
        raise ConsoleDenied("level", 403)
    return viewer


SupervisorView = Depends(_supervisor)
LeaderView = Depends(at_least("leader"))
StaffView = Depends(at_least("staff"))
AdminView = Depends(at_least("admin"))


async def form_of(request: Request, viewer: Viewer) -> Any:
    """The posted form, after its CSRF token is checked against the session's."""
    form = await request.form()
    sent = form.get("csrf")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, viewer.csrf):
        raise ConsoleDenied("csrf", 403)
    return form


async def _rate_limited(rt: Runtime, request: Request) -> bool:
    """Login links tried per client address and minute, good or bad."""
    client = request.client.host if request.client else "?"
    rate = RateLimitItemPerMinute(rt.settings.console_logins_per_minute)
    limiter = _console.limiters.get(rt)
    if limiter is None:
        limiter = _console.limiters[rt] = MovingWindowRateLimiter(MemoryStorage())
    return not await limiter.hit(rate, "login", client)


# --- the frame's own routes ----------------------------------------------------------

frame = APIRouter(prefix=PREFIX)


@frame.get("/login/{token}")
async def login(request: Request, token: str) -> Response:
    rt = current_runtime()
    if await _rate_limited(rt, request):
        return _console.page(request, None, "denied", status=429, reason="rate")
    now = rt.now()
    async with rt.db.write() as s:
        link = await links.redeem_link(s, token, links.LINK_LOGIN, now)
        if link is None:
            await audit(s, "console", "console_login_refused", "link", at=now)
            opened = None
        else:
            opened = await links.open_session(s, link.account, now)
            await audit(s, link.account, "console_login", f"session={opened.expires_at:%H:%M}",
                        at=now)
    if opened is None:
        return _console.page(request, None, "denied", status=403, reason="link")
    response = RedirectResponse(f"{PREFIX}/", status_code=303)
    response.set_cookie(
        COOKIE, (await signer(rt)).dumps(opened.token),
        max_age=int(links.SESSION_TTL.total_seconds()),
        httponly=True, samesite="strict", path=PREFIX,
        secure=rt.settings.console_url().startswith("https://"),
    )
    return response


@frame.post("/logout")
async def logout(request: Request, viewer: Viewer = LeaderView) -> Response:
    await form_of(request, viewer)
    rt = current_runtime()
    now = rt.now()
    async with rt.db.write() as s:
        await links.revoke_sessions(s, viewer.account, now)
        await audit(s, viewer.account, "console_logout", at=now)
    response = _console.page(request, None, "denied", status=200, reason="logout")
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


@frame.get("/download/{token}")
async def download(request: Request, token: str, viewer: Viewer = LeaderView) -> Response:
    """A file the bot offered in chat: single use, 1 h, and only for the account it
    was offered to (opened through that person's own console login)."""
    rt = current_runtime()
    now = rt.now()
    async with rt.db.write() as s:
        link = await links.redeem_link(s, token, links.LINK_DOWNLOAD, now, account=viewer.account)
        if link is not None:
            await audit(s, viewer.account, "console_download", f"file={link.path}", at=now)
    path = exports_dir(rt.settings.data_path()) / link.path if link is not None else None
    if link is None or path is None or path.name != link.path or not path.is_file():
        return _console.page(request, viewer, "denied", status=403, reason="download")
    return FileResponse(path, filename=link.label or link.path, headers=_NO_STORE)


@frame.get("/")
async def overview(request: Request, viewer: Viewer = LeaderView) -> Response:
    rt = current_runtime()
    now = rt.now()
    cards = []
    for part in sorted(_console.parts, key=lambda p: p.order):
        for card in part.cards:
            shown = await card(rt, viewer, now)
            if shown is not None:
                cards.append(shown)
    return _console.page(request, viewer, "overview", cards=cards, now=now)


async def _denied(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConsoleDenied)
    reason = exc.reason
    return _console.page(request, None, "denied", status=exc.status, reason=reason)


def declared_parts(extras: Iterable[Any]) -> list[ConsolePart]:
    parts: list[ConsolePart] = []
    for extra in extras:
        if isinstance(extra, dict):
            declared = extra.get("console", ())
            parts.extend([declared] if isinstance(declared, ConsolePart) else declared)
    return parts


def install(app: FastAPI, parts: list[ConsolePart]) -> Console:
    """Mount the frame and the declared parts on the bot's FastAPI app (once)."""
    if _console.parts:
        return _console
    _console.parts.extend(parts)
    app.add_exception_handler(ConsoleDenied, _denied)
    app.include_router(frame)
    for part in parts:
        if part.router is not None:
            app.include_router(part.router, prefix=PREFIX)
        if part.static is not None:
            app.mount(f"{PREFIX}/static", StaticFiles(directory=part.static, check_dir=False),
                      name="console-static")
    return _console
