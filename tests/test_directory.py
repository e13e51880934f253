"""The in-memory directory answers exactly as the tables do, and is never stale
for this process's writes; another writer's are seen once the reuse window passes."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import psycopg
from sqlmodel import select

from bot.runtime import Runtime
from storage.directory import DIRECTORY_TABLES, Directory
from storage.models import Account, ChatGroup, Person, RoleGrant, TeamMember
from storage.places import Standing, leader_standing
from storage.repo import group_binding, roles_of_account
from tests import pgdb
from tests.helpers import TEST_EPOCH


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def view(who: Standing) -> tuple:
    """A standing without its transient grants' row stamps."""
    grants = sorted((g.person_id, g.role, g.scope_kind, g.scope_id) for g in who.leader_grants)
    return (who.account, who.person_id, who.name, who.staff, who.teams, grants)


def version(rt: Runtime) -> int:
    return pgdb.execute(rt.settings.db_url, "SELECT n FROM directoryversion")[0][0]


def other_writer(rt: Runtime, sql: str, params: tuple = ()) -> None:
    """A write by another connection, as `gridbot import` beside the bot would."""
    pgdb.execute(rt.settings.db_url, sql, *params)


async def test_the_snapshot_answers_as_the_tables_do(street: Runtime) -> None:
    now = TEST_EPOCH
    async with street.db.write() as s:
        person = (await s.exec(select(Person))).first()
        # An expired grant and a team membership, so both rules are exercised.
        s.add(RoleGrant(person_id=person.id, role="工作人员", expires_at=now - timedelta(hours=1)))
        s.add(RoleGrant(person_id=person.id, role="管理员", expires_at=now + timedelta(hours=1)))
        s.add(TeamMember(person_id=person.id, team="数据统计排查组"))
        s.add(ChatGroup(platform="qq", group_id="5150", kind="work", scope_kind="grid",
                        scope_id=1, bound_by="qq:1"))
    snap = await street.db.directory.current()
    async with street.db.read() as s:
        accounts = (await s.exec(select(Account.id))).all()
        groups = (await s.exec(select(ChatGroup))).all()
        assert len(accounts) > 10 and groups
        for account in [*accounts, "qq:nobody"]:
            for at in (now, now + timedelta(hours=2)):
                assert snap.roles(account, at) == await roles_of_account(s, account, at)
                for superuser in (False, True):
                    assert view(snap.standing(account, at, superuser)) == view(
                        await leader_standing(s, account, at, superuser))
        for g in groups:
            assert snap.binding(g.platform, g.group_id) == await group_binding(
                s, g.platform, g.group_id)
        assert snap.binding("qq", "no-such-group") is None
        assert snap.binding("qq", None) is None
    account = await _account_of(street, person.id)
    assert "管理员" in snap.roles(account, now)
    assert "管理员" not in snap.roles(account, now + timedelta(hours=2))  # expired by then
    assert "工作人员" not in snap.roles(account, now)  # expired an hour ago
    assert "数据统计排查组" in snap.roles(account, now)


async def _account_of(rt: Runtime, person_id: int) -> str:
    async with rt.db.read() as s:
        return (await s.exec(select(Account.id).where(Account.person_id == person_id))).first()


async def test_every_directory_table_bumps_the_version(street: Runtime) -> None:
    assert DIRECTORY_TABLES == {"chatgroup", "account", "person", "rolegrant", "teammember"}
    before = version(street)
    other_writer(street, "INSERT INTO person (name, created_at) VALUES ('新人', '2026-11-30')")
    other_writer(street, "UPDATE person SET name = '新人甲' WHERE name = '新人'")
    other_writer(street, "DELETE FROM person WHERE name = '新人甲'")
    assert version(street) == before + 3
    other_writer(street, "INSERT INTO chatgroup (platform, group_id, bot_id, kind, scope_kind,"
                 " scope_id, bound_by, created_at) VALUES ('qq', '77', '', 'work', 'all', 0, 'x',"
                 " '2026-11-30')")
    other_writer(street, "INSERT INTO teammember (person_id, team) VALUES (1, '数据统计排查组')")
    assert version(street) == before + 5
    for table in ("chatgroup", "account", "rolegrant", "teammember"):
        n = version(street)
        other_writer(street, f"UPDATE {table} SET id = id")
        assert version(street) > n, table
    # Other tables leave it alone: a check-in is not a directory change.
    n = version(street)
    other_writer(street, "UPDATE community SET name = name")
    assert version(street) == n


async def test_own_writes_are_seen_at_once(street: Runtime) -> None:
    directory = street.db.directory
    account = await _account_of(street, 1)
    assert "管理员" not in (await directory.current()).roles(account, TEST_EPOCH)
    async with street.db.write() as s:
        s.add(RoleGrant(person_id=1, role="管理员"))
    assert "管理员" in (await directory.current()).roles(account, TEST_EPOCH)
    async with street.db.write() as s:
        grant = (await s.exec(select(RoleGrant).where(
            RoleGrant.person_id == 1, RoleGrant.role == "管理员"))).one()
        await s.delete(grant)
    # Revoked in this process: the very next lookup no longer grants it.
    assert "管理员" not in (await directory.current()).roles(account, TEST_EPOCH)


async def test_another_writer_is_seen_once_the_reuse_window_passes(street: Runtime) -> None:
    ticks = Ticks()
    directory = Directory(street.db.directory_source(), lambda: street.db.directory_writes,
                          reuse_s=0.05, monotonic=ticks)
    try:
        account = await _account_of(street, 1)
        assert "管理员" not in (await directory.current()).roles(account, TEST_EPOCH)
        other_writer(street, "INSERT INTO rolegrant (person_id, role, scope_kind, scope_id,"
                     " granted_by, created_at) VALUES (1, '管理员', 'all', 0, 'cli', '2026-11-30')")
        ticks.t += 0.01  # within the window: the last check still stands
        assert "管理员" not in (await directory.current()).roles(account, TEST_EPOCH)
        ticks.t += 0.05
        assert "管理员" in (await directory.current()).roles(account, TEST_EPOCH)
        other_writer(street, "DELETE FROM rolegrant WHERE person_id = 1 AND role = '管理员'")
        ticks.t += 0.06
        assert "管理员" not in (await directory.current()).roles(account, TEST_EPOCH)
    finally:
        directory.close()


async def test_an_unchanged_version_reuses_the_snapshot(street: Runtime) -> None:
    ticks = Ticks()
    directory = Directory(street.db.directory_source(), lambda: 0, reuse_s=0.0,
                          monotonic=ticks)
    try:
        first = await directory.current()
        ticks.t += 1
        assert await directory.current() is first  # checked, not reloaded
        other_writer(street, "UPDATE person SET name = name || '' WHERE id = 1")
        ticks.t += 1
        assert await directory.current() is not first
    finally:
        directory.close()


async def test_a_missing_table_is_an_error_not_an_empty_directory(street: Runtime) -> None:
    directory = Directory(street.db.directory_source(), lambda: 0)
    other_writer(street, "ALTER TABLE chatgroup RENAME TO chatgroup_gone")
    try:
        try:
            await directory.current()
        except (sqlite3.OperationalError, psycopg.errors.UndefinedTable):
            pass
        else:
            raise AssertionError("a directory without its chatgroup table was served")
    finally:
        directory.close()


async def test_a_revocation_counts_at_the_next_command(peer, street: Runtime) -> None:
    """Over the OneBot protocol: the staff member's rights end with the /撤销 that ends them."""
    sent = await peer.ask(10001, "/绑定群 幸福社区 工作群", group_id=710002)
    assert "已将本群登记为" in sent.text
    sent = await peer.ask(10002, "/解绑群", group_id=710002)  # staff: allowed
    assert "已取消本群的登记" in sent.text
    sent = await peer.ask(10001, "/绑定群 幸福社区 工作群", group_id=710002)
    assert "已将本群登记为" in sent.text
    sent = await peer.ask(10001, "/撤销 qq:10002 工作人员", group_id=710002)
    assert "已撤销 qq:10002" in sent.text
    sent = await peer.ask(10002, "/解绑群", group_id=710002)
    assert sent.text == street.renderer.render("common/refused")
