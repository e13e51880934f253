"""Slogans (/标语) over the real OneBot v11 WebSocket, the real outbox and the
scheduling core: library commands, rotation times, and rotation to resident groups.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import col, select

from bot.runtime import Runtime
from bot.scheduler import Scheduler, job_id
from ground.timeutil import SHANGHAI, local
from storage.models import AuditLog, ScheduledItem
from storage.models_publicity import Slogan, SloganLast, SloganTime
from tests.conftest import dump_db
from tests.helpers import as_answered, collect, fire_due, freeze_clock, run_due, start_scheduler
from tests.onebot import OneBotPeer

# Plugin modules are imported inside tests: NoneBot must be initialised first.

STAFF = 10003  # 王干事
WORK = 730000
RESIDENT = {1: 730101, 2: 730102, 3: 730103, 4: 730104}  # building -> resident group
SEEDED = ("戴好口罩，健康你我", "自动自觉、扫码测温", "勤洗手、不聚集")


async def bind_groups(peer: OneBotPeer) -> None:
    sent = await peer.ask(STAFF, "/绑定群 幸福社区 工作群", group_id=WORK)
    assert "工作群" in sent.text
    for building, gid in RESIDENT.items():
        sent = await peer.ask(STAFF, f"/绑定群 幸福社区/{building}栋 居民群", group_id=gid)
        assert "居民群" in sent.text


async def rows(rt: Runtime, model, *where, order=None) -> list:
    async with rt.db.read() as s:
        stmt = select(model).where(*where)
        if order is not None:
            stmt = stmt.order_by(order)
        return list((await s.exec(stmt)).all())


async def rotate_items(rt: Runtime) -> list[ScheduledItem]:
    return await rows(
        rt, ScheduledItem, ScheduledItem.kind == "slogan.rotate", order=ScheduledItem.due_at
    )


async def test_fresh_database_is_seeded_without_the_demo(runtime: Runtime) -> None:
    library = await rows(runtime, Slogan, order=Slogan.id)
    texts = [s.text for s in library]
    for text in SEEDED:
        assert text in texts
    assert len(texts) == len(set(texts)) >= 8
    assert all(s.deleted_at is None and s.created_by == "seed" for s in library)
    times = await rows(runtime, SloganTime, order=SloganTime.minute)
    assert [t.minute for t in times] == [8 * 60, 18 * 60]


async def test_library_commands(peer: OneBotPeer, street: Runtime) -> None:
    freeze_clock(street, datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI))
    listed = await peer.ask(STAFF, "/标语 列表")
    assert "每天 08:00、18:00" in listed.text
    assert "#1 戴好口罩，健康你我" in listed.text and "下次推送：11-30 18:00" in listed.text

    added = await peer.ask(STAFF, "/标语 添加  不信谣、不传谣，\n一切以官方发布为准")
    assert "已加入标语 #11：不信谣、不传谣， 一切以官方发布为准" in added.text
    assert "标语库现有 11 条" in added.text
    dup = await peer.ask(STAFF, "/标语 添加 勤洗手、不聚集")
    assert "已经有这条标语（#3）" in dup.text

    deleted = await peer.ask(STAFF, "/标语 删除 3")
    assert "已删除标语 #3：勤洗手、不聚集" in deleted.text and "还有 10 条" in deleted.text
    again = await peer.ask(STAFF, "/标语 删除 3")
    assert "没有编号为 3 的标语" in again.text
    listed = await peer.ask(STAFF, "/标语 列表")
    assert "勤洗手、不聚集" not in listed.text and "#11 不信谣" in listed.text
    # A retired slogan may be added again (as a new one).
    readded = await peer.ask(STAFF, "/标语 添加 勤洗手、不聚集")
    assert "已加入标语 #12" in readded.text

    times = await peer.ask(STAFF, "/标语 时间 7:30，12:00、 20:15")
    assert "每天 07:30、12:00、20:15" in times.text and "下次推送：11-30 12:00" in times.text
    assert [t.minute for t in await rows(street, SloganTime, order=SloganTime.minute)] == [
        450, 720, 1215
    ]
    pending = [i for i in await rotate_items(street) if i.state == "pending"]
    assert sorted(local(i.due_at).strftime("%m-%d %H:%M") for i in pending) == [
        "11-30 12:00", "11-30 20:15", "12-01 07:30"
    ]

    audit = await rows(street, AuditLog, col(AuditLog.action).startswith("slogan_"))
    assert [(a.actor, a.action, a.detail) for a in audit] == [
        ("qq:10003", "slogan_add", "#11"),
        ("qq:10003", "slogan_delete", "#3"),
        ("qq:10003", "slogan_add", "#12"),
        ("qq:10003", "slogan_times", "07:30,12:00,20:15"),
    ]


async def test_bad_input_and_refusals_change_nothing(peer: OneBotPeer, street: Runtime) -> None:
    usage = street.renderer.render("usage/slogan")
    await peer.ask(STAFF, "/绑定群 幸福社区 工作群", group_id=WORK)
    before = dump_db(street)
    for text, expect in [
        ("/标语", usage),
        ("/标语 发射", usage),
        ("/标语 添加", usage),
        ("/标语 添加   ", usage),
        ("/标语 列表 全部", usage),
        ("/标语 删除", usage),
        ("/标语 删除 三", usage),
        ("/标语 时间", usage),
        ("/标语 时间 25:00", usage),
        ("/标语 时间 8点", usage),
        ("/标语 时间 1:00,2:00,3:00,4:00,5:00,6:00,7:00", usage),
        ("/标语 删除 999", "没有编号为 999 的标语"),
        ("/标语 添加 勤洗手、不聚集", "已经有这条标语"),
        ("/标语 添加 " + "防" * 101, "标语太长（101 字）"),
        ("/标语 时间 08:00,23:00", "23:00 在夜间免打扰时段（22:00-07:00）内"),
    ]:
        sent = await peer.ask(STAFF, text, group_id=WORK)
        expect = as_answered(street.renderer, expect, text)
        assert sent.text == expect or expect in sent.text, (text, sent.text)
    assert dump_db(street) == before
    refused = street.renderer.render("common/refused")
    for user, text in [
        (30011, "/标语 添加 大家好"),  # a unit leader
        (20001, "/标语 时间 09:00"),  # a building leader
        (55555, "/标语 删除 1"),  # a resident
        (55555, "/标语 列表"),
    ]:
        sent = await peer.ask(user, text, group_id=WORK)
        assert sent.text == refused
    assert dump_db(street) == before


async def test_rotation_never_repeats_a_slogan_in_a_group(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    from plugins.slogans import jobs

    await bind_groups(peer)
    clock = freeze_clock(street, datetime(2026, 11, 30, 7, 0, tzinfo=SHANGHAI))
    # Group 4 last got the newest slogan: its rotation wraps to the first one.
    async with street.db.write() as s:
        newest = max((await s.exec(select(Slogan.id))).all())
        g4 = await _group_id(s, RESIDENT[4])
        s.add(SloganLast(chat_group_id=g4, slogan_id=newest))
    # Not started: timers stay off, the test fires the items itself.
    sched = Scheduler.from_hooks(street, jobs.HOOKS)
    street.scheduler = sched
    await jobs.ensure_rotation(street, sched)
    await jobs.ensure_rotation(street, sched)  # idempotent: still one item per time
    items = await rotate_items(street)
    assert [(i.ref_id, local(i.due_at).strftime("%m-%d %H:%M")) for i in items] == [
        (480, "11-30 08:00"), (1080, "11-30 18:00")
    ]

    received: dict[str, list[str]] = {f"group:{g}": [] for g in RESIDENT.values()}
    for rotation, item in enumerate(items, start=1):
        assert await fire_due(sched, clock, item) is True
        sends = await collect(peer, len(RESIDENT))
        assert sorted(s.target for s in sends) == sorted(received)  # resident groups only
        for s in sends:
            assert s.text.startswith("【防疫宣传】") and s.ats == []
            received[s.target].append(s.text.removeprefix("【防疫宣传】"))
        await peer.no_action(0.2)
        assert all(len(v) == rotation for v in received.values())
    library = [s.text for s in await rows(street, Slogan, order=Slogan.id)]
    for target, (first, second) in received.items():
        assert first != second, target
        assert library.index(second) == (library.index(first) + 1) % len(library)
    assert received[f"group:{RESIDENT[4]}"][0] == library[0]
    # Each firing queued the same time of the next day (deterministic job ids).
    states = [
        (i.ref_id, i.state, local(i.due_at).strftime("%m-%d %H:%M"))
        for i in await rotate_items(street)
    ]
    assert states == [
        (480, "done", "11-30 08:00"), (1080, "done", "11-30 18:00"),
        (480, "pending", "12-01 08:00"), (1080, "pending", "12-01 18:00"),
    ]
    outbox_sources = {
        i.source for i in await _outbox(street) if i.source.startswith("slogan:")
    }
    assert len(outbox_sources) >= 2


async def test_two_slogans_alternate_and_deletion_keeps_the_rule(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    from plugins.slogans import jobs

    await bind_groups(peer)
    async with street.db.write() as s:
        for slogan in (await s.exec(select(Slogan))).all():
            if slogan.id not in (2, 5):
                slogan.deleted_at = street.now()
                s.add(slogan)
    sched = Scheduler.from_hooks(street, jobs.HOOKS)
    street.scheduler = sched
    last: dict[str, str] = {}
    for n in range(4):
        if n == 2:
            # Retire the slogan every group just got and add one: the rule still holds.
            sent = await peer.ask(STAFF, "/标语 删除 5", group_id=WORK)
            assert "还有 1 条" in sent.text
            sent = await peer.ask(STAFF, "/标语 添加 科学防疫，人人有责", group_id=WORK)
            assert "已加入标语 #11" in sent.text
        await jobs.ensure_rotation(street, sched)
        item = await _pending_item(street)
        assert item is not None
        freeze_clock(street, local(item.due_at))
        assert await run_due(sched, item.id)
        for s in await collect(peer, len(RESIDENT)):
            assert last.get(s.target) != s.text
            last[s.target] = s.text
    # 2 -> 5 -> (5 retired) 11 -> 2
    assert set(last.values()) == {"【防疫宣传】自动自觉、扫码测温"}


async def test_time_change_rearms_running_scheduler(
    peer: OneBotPeer, street: Runtime, scheduler_stopped
) -> None:
    from plugins.slogans import jobs

    # Far ahead of the wall clock: nothing fires for real during the test.
    freeze_clock(street, datetime(2031, 3, 1, 9, 0, tzinfo=SHANGHAI))
    sched = await start_scheduler(street, jobs.HOOKS)
    items = await rotate_items(street)
    assert [local(i.due_at).strftime("%H:%M") for i in items] == ["18:00", "08:00"]
    for i in items:
        assert sched.aps.get_job(job_id(i.kind, i.ref_id, i.due_at)) is not None
    sent = await peer.ask(STAFF, "/标语 时间 08:00,12:30")
    assert "下次推送：03-01 12:30" in sent.text
    by_ref = {i.ref_id: i for i in await rotate_items(street)}
    assert by_ref[1080].state == "cancelled" and by_ref[480].state == "pending"
    assert sched.aps.get_job(job_id("slogan.rotate", 1080, by_ref[1080].due_at)) is None
    noon = by_ref[750]
    assert local(noon.due_at) == datetime(2031, 3, 1, 12, 30, tzinfo=SHANGHAI)
    assert sched.aps.get_job(job_id("slogan.rotate", 750, noon.due_at)) is not None
    assert job_id("slogan.rotate", 750, noon.due_at) == "slogan.rotate:750:203103010430"


async def test_stale_item_of_a_removed_time_sends_nothing(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    from bot.scheduler import add_item
    from plugins.slogans import jobs

    await bind_groups(peer)
    async with street.db.write() as s:
        stale = await add_item(s, "slogan.rotate", 9 * 60, street.now() + timedelta(hours=1))
    sched = Scheduler.from_hooks(street, jobs.HOOKS)
    assert await run_due(sched, stale.id)
    await peer.no_action(0.3)
    assert next(i for i in await rotate_items(street) if i.ref_id == 540).state == "done"


@given(
    library=st.lists(st.integers(1, 50), min_size=2, max_size=12, unique=True),
    last=st.one_of(st.none(), st.integers(0, 60)),
)
def test_next_slogan_never_repeats_with_two_or_more(library: list[int], last: int | None) -> None:
    from plugins.slogans.service import next_slogan

    slogans = [Slogan(id=i, text=str(i), created_by="t") for i in sorted(library)]
    pick = next_slogan(slogans, last)
    assert pick.id != last
    if last is not None and last in library:
        assert pick.id == sorted(library)[(sorted(library).index(last) + 1) % len(library)]


# --- helpers -------------------------------------------------------------------------------


async def _group_id(s, platform_group: int) -> int:
    from storage.models import ChatGroup

    group = (
        await s.exec(select(ChatGroup).where(ChatGroup.group_id == str(platform_group)))
    ).one()
    return group.id


async def _pending_item(rt: Runtime) -> ScheduledItem | None:
    pending = [i for i in await rotate_items(rt) if i.state == "pending"]
    return pending[0] if pending else None


async def _outbox(rt: Runtime) -> list:
    from storage.models_outbox import OutboxItem

    return await rows(rt, OutboxItem, order=OutboxItem.id)
