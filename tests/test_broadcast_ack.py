"""Broadcast acknowledgements over the real OneBot v11 WebSocket and the real
outbox: a plain "收到" in a resident group records the newest 需回执 broadcast
delivered there (within 3 days); after `ack_chase_minutes` each silent group is
reminded once, @-mentioning its leaders only, and the sender gets a summary.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from functools import partial

from sqlmodel import select

from bot.runtime import Runtime
from bot.scheduler import Scheduler, declared_hooks
from ground.timeutil import SHANGHAI, local
from storage.models import ChatGroup, ScheduledItem
from storage.models_broadcast import Broadcast, BroadcastAck
from storage.models_outbox import OutboxItem
from tests.conftest import dump_db
from tests.helpers import (
    bound_at,
    messages_admitted,
    messages_handled,
    run_due,
    scheduled_items,
)
from tests.onebot import OneBotPeer, Sent

# Plugin modules are imported inside tests: NoneBot must be initialised first.

STAFF = 10003
WORK = 750000
RESIDENT = {1: 750101, 2: 750102, 3: 750103, 4: 750104}  # building -> resident group
LEADER_NAMES = ("王建国", "李秀英", "赵志强", "陈伟", "孙丽", "周敏", "刘洋", "吴静", "郑磊")
MORNING = datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI)
NIGHT = datetime(2026, 11, 30, 23, 0, tzinfo=SHANGHAI)  # in the quiet hours


async def bind_groups(peer: OneBotPeer) -> None:
    await peer.ask(STAFF, "/绑定群 幸福社区 工作群", group_id=WORK)
    for building, gid in RESIDENT.items():
        sent = await peer.ask(STAFF, f"/绑定群 幸福社区/{building}栋 居民群", group_id=gid)
        assert "居民群" in sent.text


async def send_broadcast(peer: OneBotPeer, street: Runtime, text: str, groups: int) -> int:
    preview = await peer.ask(STAFF, text, group_id=WORK)
    number = int(preview.text.split("#", 1)[1].split()[0])
    started = await peer.ask(STAFF, f"/确认 {number}", group_id=WORK)
    assert f"#{number}" in started.text
    sends = [await peer.expect_send() for _ in range(groups + 1)]  # + the private report
    assert sum(s.target == f"private:{STAFF}" for s in sends) == 1
    await settled(street, f"broadcast:{number}")
    return number


async def settled(rt: Runtime, source: str) -> None:
    """The peer answered the last send; wait until the outbox has recorded it."""
    for _ in range(100):
        async with rt.db.read() as s:
            stmt = select(OutboxItem.state).where(OutboxItem.source == source)
            if set((await s.exec(stmt)).all()) <= {"sent", "failed", "unknown"}:
                return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{source} not settled")


async def acks(rt: Runtime) -> list[tuple[int, str, str]]:
    async with rt.db.read() as s:
        rows = (
            await s.exec(
                select(BroadcastAck, ChatGroup)
                .join(ChatGroup, ChatGroup.id == BroadcastAck.chat_group_id)
                .order_by(BroadcastAck.id)
            )
        ).all()
    return [(a.broadcast_id, g.group_id, a.acked_by) for a, g in rows]


chase_items = partial(scheduled_items, kind="broadcast.chase")


async def test_ack_then_chase_the_silent_groups_once(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    from plugins.broadcast import ack

    clock = await bound_at(street, MORNING, bind_groups(peer), outbox)
    plain = await send_broadcast(peer, street, "/广播 范围 幸福社区/1-3栋 明天停水", 3)
    number = await send_broadcast(
        peer, street, "/广播 范围 幸福社区/1-3栋 需回执 今晚8点核酸检测，请带身份证。", 3
    )
    [item] = await chase_items(street)  # only the 需回执 one is chased
    assert item.ref_id == number and item.state == "pending"
    assert local(item.due_at) == clock.at + timedelta(minutes=street.settings.ack_chase_minutes)

    # Residents answer in group 1; the first "收到" is the group's acknowledgement.
    await peer.group_message(55555, RESIDENT[1], "收到！")
    await peer.group_message(55556, RESIDENT[1], "收到")
    await peer.group_message(55557, RESIDENT[4], "收到")  # group 4 was not a target
    await peer.private_message(55558, "收到")  # not in a group
    await peer.group_message(55559, RESIDENT[2], "收到，谢谢")  # not a plain 收到
    await peer.no_action(0.5)  # recorded silently
    # Events are handled concurrently: either of the two counts, once. On a busy
    # machine the handlers may still be running after the silent half second.
    for _ in range(100):
        if await acks(street):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # and a second, wrong one would have landed by now
    [(acked_number, acked_group, acked_by)] = await acks(street)
    assert (acked_number, acked_group) == (number, str(RESIDENT[1]))
    assert acked_by in ("qq:55555", "qq:55556")
    async with street.db.read() as s:
        assert (await s.get(Broadcast, plain)).ack_required is False

    # The chase: groups 2 and 3 get one reminder each, @-mentioning their leaders.
    clock.at = local(item.due_at)
    sched = Scheduler.from_hooks(street, declared_hooks())  # as the app builds it
    assert sched.handlers["broadcast.chase"] is ack.on_chase
    assert await run_due(sched, item.id) is True
    sends = [await peer.expect_send() for _ in range(3)]
    await peer.no_action(0.3)
    by_target: dict[str, Sent] = {s.target: s for s in sends}
    assert set(by_target) == {f"group:{RESIDENT[2]}", f"group:{RESIDENT[3]}", f"private:{STAFF}"}
    # 2栋: 陈伟 (楼长), 孙丽 (单元长); 周敏 has no account. 3栋: 刘洋, 吴静, 郑磊.
    assert by_target[f"group:{RESIDENT[2]}"].ats == ["20002", "30021"]
    assert by_target[f"group:{RESIDENT[3]}"].ats == ["20003", "30031", "30032"]
    for gid in (RESIDENT[2], RESIDENT[3]):
        text = by_target[f"group:{gid}"].text
        assert text.startswith("【回执提醒】11-30 10:00 发布的通知") and f"#{number}" in text
        assert "身份证" not in text  # the reminder does not repeat the broadcast
        for name in LEADER_NAMES:
            assert name not in text
    summary = by_target[f"private:{STAFF}"].text
    assert f"广播 #{number} 回执：1/3 个群已回复" in summary
    assert "幸福社区/2栋" in summary and "幸福社区/3栋" in summary and "1栋" not in summary

    # Once: a late "收到" still counts, but nothing is chased again.
    admitted = messages_admitted(street)
    await peer.group_message(30021, RESIDENT[2], "收到")
    await messages_handled(street, admitted)
    await peer.no_action(0.3)
    async with street.db.write() as s:
        again = ScheduledItem(
            kind="broadcast.chase", ref_id=number, due_at=clock.at + timedelta(minutes=1)
        )
        s.add(again)
    assert await run_due(sched, again.id) is True
    await peer.no_action(0.3)
    assert [a[1] for a in await acks(street)] == [str(RESIDENT[1]), str(RESIDENT[2])]
    status = await peer.ask(STAFF, f"/广播情况 {number}")
    assert "已回复“收到”的群：2" in status.text


async def test_ack_goes_to_the_newest_recent_ack_broadcast(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    clock = await bound_at(street, MORNING, bind_groups(peer), outbox)
    old = await send_broadcast(peer, street, "/广播 范围 幸福社区/1栋 需回执 第一条", 1)
    clock.advance(hours=1)
    new = await send_broadcast(peer, street, "/广播 范围 幸福社区/1-2栋 需回执 第二条", 2)
    clock.advance(hours=1)
    await send_broadcast(peer, street, "/广播 范围 幸福社区/1栋 不需回执的第三条", 1)
    admitted = messages_admitted(street)
    await peer.group_message(55555, RESIDENT[1], "收到")
    await messages_handled(street, admitted)  # however slow the machine
    await peer.no_action(0.3)
    assert await acks(street) == [(new, str(RESIDENT[1]), "qq:55555")]
    assert old < new
    # Three days later the broadcast is too old to acknowledge.
    clock.advance(days=3, minutes=1)
    before = dump_db(street)
    admitted = messages_admitted(street)
    await peer.group_message(55555, RESIDENT[2], "收到")
    await messages_handled(street, admitted)
    await peer.no_action(0.3)
    assert dump_db(street) == before


async def test_quiet_hours_delay_the_chase_and_cancel_drops_it(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    clock = await bound_at(street, NIGHT, bind_groups(peer), outbox)
    preview = await peer.ask(STAFF, "/广播 需回执 明早8点开始核酸", group_id=WORK)
    number = int(preview.text.split("#", 1)[1].split()[0])
    started = await peer.ask(STAFF, f"/确认 {number}", group_id=WORK)
    assert "将于 12-01 07:00 开始" in started.text
    await peer.no_action(0.3)  # held until morning
    [item] = await chase_items(street)
    minutes = street.settings.ack_chase_minutes
    # Counted from when the broadcast really goes out, not from the night-time /确认.
    assert local(item.due_at) == datetime(2026, 12, 1, 7, 0, tzinfo=SHANGHAI) + timedelta(
        minutes=minutes
    )
    cancelled = await peer.ask(STAFF, f"/取消 {number}", group_id=WORK)
    assert "已取消" in cancelled.text
    [item] = await chase_items(street)
    assert item.state == "cancelled"
    clock.at = datetime(2026, 12, 1, 7, 1, tzinfo=SHANGHAI)
    outbox.notify()
    await peer.no_action(0.5)


async def test_leaders_are_those_inside_the_group_scope(street: Runtime) -> None:
    from plugins.broadcast.ack import group_leaders
    from storage.models import Unit

    async with street.db.write() as s:
        unit = (await s.exec(select(Unit).where(Unit.building_id == 3, Unit.number == 1))).one()
        unit_group = ChatGroup(platform="qq", group_id="1", kind="resident",
                               scope_kind="unit", scope_id=unit.id)
        grid_group = ChatGroup(platform="qq", group_id="2", kind="resident",
                               scope_kind="grid", scope_id=2)
        wx_group = ChatGroup(platform="wx", group_id="3", kind="resident",
                             scope_kind="building", scope_id=3)
        for g in (unit_group, grid_group, wx_group):
            s.add(g)
        await s.flush()
        now = street.now()
        # A unit group: its unit leader only; the building leader covers more than it.
        assert [m.account for m in await group_leaders(s, unit_group, now)] == ["qq:30031"]
        # A grid group: building leaders first, then unit leaders (4栋 has none).
        assert [(m.account, m.name) for m in await group_leaders(s, grid_group, now)] == [
            ("qq:20003", "刘洋"), ("qq:30031", "吴静"), ("qq:30032", "郑磊")
        ]
        # Mentions are per platform: no QQ account is @-mentioned in a WeChat group.
        assert await group_leaders(s, wx_group, now) == []
