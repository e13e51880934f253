"""One-time links and sessions of the web console, as plain functions on a session.

A token is 256 random bits, shown once (in the link or the cookie) and stored only
as its SHA-256 digest. Redeeming a link marks it used in the same write
transaction that reads it, so a second use is refused even when two arrive at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ground.timeutil import as_utc
from storage.models_console import LINK_DOWNLOAD, LINK_LOGIN, ConsoleLink, ConsoleSession

LOGIN_TTL = timedelta(minutes=10)
DOWNLOAD_TTL = timedelta(hours=1)
SESSION_TTL = timedelta(hours=8)

__all__ = [
    "DOWNLOAD_TTL", "LINK_DOWNLOAD", "LINK_LOGIN", "LOGIN_TTL", "SESSION_TTL", "Opened",
    "digest", "issue_link", "open_session", "redeem_link", "revoke_sessions", "session_for",
]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_link(
    session: AsyncSession, account: str, purpose: str, now: datetime,
    path: str = "", label: str = "",
) -> str:
    """A new single-use link token for ``account``; only its digest is stored."""
    token = new_token()
    ttl = LOGIN_TTL if purpose == LINK_LOGIN else DOWNLOAD_TTL
    now = as_utc(now)
    session.add(ConsoleLink(
        token_hash=digest(token), account=account, purpose=purpose, path=path, label=label,
        created_at=now, expires_at=now + ttl,
    ))
    await session.flush()
    return token


async def redeem_link(
    session: AsyncSession, token: str, purpose: str, now: datetime, account: str | None = None,
) -> ConsoleLink | None:
    """The link, marked used, when it is unused, unexpired, of this purpose (and, for a
    download, this account's); else None and nothing changes."""
    now = as_utc(now)
    conditions = [
        ConsoleLink.token_hash == digest(token), ConsoleLink.purpose == purpose,
        col(ConsoleLink.used_at).is_(None), ConsoleLink.expires_at > now,
    ]
    if account is not None:
        conditions.append(ConsoleLink.account == account)
    found = (await session.exec(select(ConsoleLink).where(*conditions))).first()
    if found is None:
        return None
    done = await session.exec(  # type: ignore[call-overload]
        update(ConsoleLink).where(ConsoleLink.id == found.id, col(ConsoleLink.used_at).is_(None))
        .values(used_at=now)
    )
    return found if done.rowcount == 1 else None


@dataclass(frozen=True)
class Opened:
    token: str  # goes into the (signed) cookie
    csrf: str
    expires_at: datetime


async def open_session(session: AsyncSession, account: str, now: datetime) -> Opened:
    token, csrf = new_token(), new_token()
    now = as_utc(now)
    row = ConsoleSession(token_hash=digest(token), account=account, csrf=csrf,
                         created_at=now, expires_at=now + SESSION_TTL)
    session.add(row)
    await session.flush()
    return Opened(token, csrf, row.expires_at)


async def session_for(session: AsyncSession, token: str, now: datetime) -> ConsoleSession | None:
    """The live session the cookie's token names, or None."""
    return (await session.exec(select(ConsoleSession).where(
        ConsoleSession.token_hash == digest(token), col(ConsoleSession.revoked_at).is_(None),
        ConsoleSession.expires_at > as_utc(now),
    ))).first()


async def revoke_sessions(session: AsyncSession, account: str, now: datetime) -> int:
    """End every live session of the account (``/后台 退出``); how many there were."""
    done = await session.exec(  # type: ignore[call-overload]
        update(ConsoleSession).where(
            ConsoleSession.account == account, col(ConsoleSession.revoked_at).is_(None),
            ConsoleSession.expires_at > as_utc(now),
        ).values(revoked_at=as_utc(now))
    )
    return done.rowcount
