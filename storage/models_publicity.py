"""Publicity (宣传): the slogan library and its rotation, versioned policy notes and
who has studied them.

Imported by the last line of ``storage.models`` so Alembic and ``SQLModel.metadata``
see these tables. Times are aware UTC, as everywhere in storage.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from ground.timeutil import utcnow


class Slogan(SQLModel, table=True):
    """One slogan of the library. Deleting only stamps ``deleted_at``: the per-group
    rotation memory and the outbox sources (``slogan:<id>``) keep pointing at it."""

    id: int | None = Field(default=None, primary_key=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None
    deleted_by: str | None = None


class SloganTime(SQLModel, table=True):
    """A daily rotation time, as minutes after local (Asia/Shanghai) midnight.

    The minute is also the ``ref_id`` of its ``slogan.rotate`` scheduler items, so
    the job id of each day's rotation is deterministic.
    """

    minute: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    set_by: str = ""
    set_at: datetime = Field(default_factory=utcnow)


class SloganLast(SQLModel, table=True):
    """The slogan a resident group received last, so it never gets it twice in a row.

    No foreign key to ``chatgroup``: unbinding deletes the group row and must not be
    blocked by this memory (a stale row is harmless and pruned at rotation).
    """

    chat_group_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    slogan_id: int
    sent_at: datetime = Field(default_factory=utcnow)


class Policy(SQLModel, table=True):
    """One published version of a policy note. Its ``id`` is the 编号 people type;
    publishing a title again adds the next ``version`` as a new row."""

    __table_args__ = (UniqueConstraint("title", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(index=True)
    version: int = 1
    body: str = Field(sa_column=Column(Text, nullable=False))
    published_by: str
    published_at: datetime = Field(default_factory=utcnow)


class PolicyStudy(SQLModel, table=True):
    """A staff member's ``/已学习`` of one policy version (per person, whichever
    account they answered from)."""

    __table_args__ = (UniqueConstraint("policy_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    policy_id: int = Field(foreign_key="policy.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    account: str
    studied_at: datetime = Field(default_factory=utcnow)
