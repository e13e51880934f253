"""Policy notes (政策): versioned publication, who has studied which version.

Plain async functions over a session; errors are ``PolicyError`` with a code (a
branch of ``policy/error``) raised before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.kit import CommandError
from bot.scheduler import add_item, as_utc
from ground.grammar import normalize
from ground.quiet import quiet_until
from plugins._common.rows import first_where
from storage.models import ChatGroup, Person, RoleGrant, ScheduledItem
from storage.models_publicity import Policy, PolicyStudy
from storage.repo import ADMIN, STAFF, accounts_of, audit, person_of

KIND_REMIND = "policy.remind"
COORDINATION_TEAM = "综合协调组"  # owns policy study (DESIGN.md §1)
MAX_TITLE = 50
MAX_BODY = 3000
LIST_LIMIT = 10


class PolicyError(CommandError):
    template = "policy/error"


# --- syntax ------------------------------------------------------------------------------

_NUMBER = re.compile(r"^#?(\d{1,9})$")


def parse_number(raw: str) -> int | None:
    m = _NUMBER.match(normalize(raw))
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class PolicyArgs:
    action: str  # list | show | publish
    number: int = 0
    title: str = ""
    body: str = ""


def parse_args(raw: str) -> PolicyArgs | None:
    """`` (list) · `<编号>` · `发布 <标题>` + newline + body; None = show usage."""
    if not raw.strip():
        return PolicyArgs("list")
    text = raw.replace("\r\n", "\n").lstrip()
    if text.startswith("发布"):
        lines = text[len("发布"):].split("\n")
        while lines and not lines[0].strip():  # `发布` alone on its line, title below
            lines.pop(0)
        if not lines:
            return None
        title, body = " ".join(lines[0].split()), "\n".join(lines[1:]).strip()
        if title.startswith("《") and title.endswith("》"):  # templates add their own
            title = title[1:-1].strip()
        return PolicyArgs("publish", title=title, body=body) if title and body else None
    number = parse_number(raw)
    return PolicyArgs("show", number=number) if number is not None else None


# --- publishing --------------------------------------------------------------------------


@dataclass
class Published:
    policy: Policy
    work_groups: list[ChatGroup]
    resident_groups: list[ChatGroup]
    notice_held_until: datetime | None
    remind: ScheduledItem


def remind_due(published: datetime, hours: int, quiet: str) -> datetime:
    """Reminders are private messages to staff: never in the quiet hours."""
    due = as_utc(published) + timedelta(hours=hours)
    return as_utc(quiet_until(due, quiet) or due)


async def groups_of_kind(session: AsyncSession, kind: str) -> list[ChatGroup]:
    rows = await session.exec(
        select(ChatGroup).where(ChatGroup.kind == kind).order_by(ChatGroup.id)
    )
    return list(rows.all())


async def publish(
    session: AsyncSession,
    *,
    actor: str,
    title: str,
    body: str,
    now: datetime,
    remind_hours: int,
    quiet: str,
) -> Published:
    if len(title) > MAX_TITLE:
        raise PolicyError("title_too_long", limit=MAX_TITLE, length=len(title))
    if len(body) > MAX_BODY:
        raise PolicyError("body_too_long", limit=MAX_BODY, length=len(body))
    latest = (
        await session.exec(select(func.max(Policy.version)).where(Policy.title == title))
    ).one()
    policy = Policy(
        title=title, version=(latest or 0) + 1, body=body, published_by=actor, published_at=now
    )
    session.add(policy)
    await session.flush()
    assert policy.id is not None
    remind = await add_item(
        session, KIND_REMIND, policy.id, remind_due(now, remind_hours, quiet)
    )
    await audit(session, actor, "policy_publish", f"#{policy.id} v{policy.version}")
    return Published(
        policy, await groups_of_kind(session, "work"), await groups_of_kind(session, "resident"),
        quiet_until(now, quiet), remind,
    )


async def get_policy(session: AsyncSession, number: int) -> Policy:
    policy = await session.get(Policy, number)
    if policy is None:
        raise PolicyError("not_found", number=number)
    return policy


async def newer_version(session: AsyncSession, policy: Policy) -> Policy | None:
    """The latest version of the same title, if `policy` is not it."""
    return (
        await session.exec(
            select(Policy)
            .where(Policy.title == policy.title, Policy.version > policy.version)
            .order_by(col(Policy.version).desc())
        )
    ).first()


async def latest_policies(session: AsyncSession, limit: int = LIST_LIMIT) -> list[Policy]:
    """The newest version of each title, most recently published first."""
    newest = (
        select(Policy.title, func.max(Policy.version).label("v")).group_by(Policy.title).subquery()
    )
    rows = await session.exec(
        select(Policy)
        .join(newest, (col(Policy.title) == newest.c.title) & (col(Policy.version) == newest.c.v))
        .order_by(col(Policy.published_at).desc(), col(Policy.id).desc())
        .limit(limit)
    )
    return list(rows.all())


# --- study -------------------------------------------------------------------------------


@dataclass
class StaffMember:
    person_id: int
    name: str
    accounts: list[str] = field(default_factory=list)


async def current_staff(session: AsyncSession, now: datetime) -> list[StaffMember]:
    """Everyone holding 工作人员 or 管理员 right now: who must study a policy."""
    rows = await session.exec(
        select(Person)
        .join(RoleGrant, col(RoleGrant.person_id) == col(Person.id))
        .where(
            col(RoleGrant.role).in_((ADMIN, STAFF)),
            or_(col(RoleGrant.expires_at).is_(None), col(RoleGrant.expires_at) > now),
        )
        .distinct()
        .order_by(Person.id)
    )
    return [
        StaffMember(p.id, p.name, await accounts_of(session, p.id))  # type: ignore[arg-type]
        for p in rows.all()
    ]


@dataclass
class Studied:
    policy: Policy
    already: bool
    newer: Policy | None


async def mark_studied(
    session: AsyncSession, *, account: str, number: int, now: datetime
) -> Studied:
    policy = await get_policy(session, number)
    person = await person_of(session, account)
    if person is None:
        raise PolicyError("no_person")
    assert policy.id is not None and person.id is not None
    done = await first_where(
        session, PolicyStudy,
        PolicyStudy.policy_id == policy.id, PolicyStudy.person_id == person.id,
    )
    if done is None:
        session.add(
            PolicyStudy(policy_id=policy.id, person_id=person.id, account=account, studied_at=now)
        )
        await session.flush()
    return Studied(policy, done is not None, await newer_version(session, policy))


@dataclass
class StudyStatus:
    policy: Policy
    total: int
    pending: list[StaffMember]
    newer: Policy | None

    @property
    def studied(self) -> int:
        return self.total - len(self.pending)


async def study_status(session: AsyncSession, number: int, now: datetime) -> StudyStatus:
    policy = await get_policy(session, number)
    staff = await current_staff(session, now)
    done = set(
        (
            await session.exec(
                select(PolicyStudy.person_id).where(PolicyStudy.policy_id == policy.id)
            )
        ).all()
    )
    pending = [m for m in staff if m.person_id not in done]
    return StudyStatus(policy, len(staff), pending, await newer_version(session, policy))
