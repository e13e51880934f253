"""Broadcasts over the real OneBot v11 WebSocket, through the real outbox."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlmodel import select

from bot.runtime import Runtime
from ground.timeutil import SHANGHAI
from storage.models_broadcast import Broadcast
from storage.models_outbox import OutboxItem
from tests.conftest import dump_db
from tests.helpers import as_answered, bound_at
from tests.onebot import OneBotPeer, Sent

WORK = 720000
RESIDENT = {1: 720101, 2: 720102, 3: 720103, 4: 720104}  # building -> resident group
MORNING = datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI)


async def bind_resident_groups(peer: OneBotPeer) -> None:
    """The staff's work group, and one resident group per building."""
    sent = await peer.ask(10003, "/绑定群 幸福社区 工作群", group_id=WORK)
    assert "工作群" in sent.text
    for building, gid in RESIDENT.items():
        sent = await peer.ask(10003, f"/绑定群 幸福社区/{building}栋 居民群", group_id=gid)
        assert "居民群" in sent.text


async def collect(peer: OneBotPeer, n: int) -> list[Sent]:
    return [await peer.expect_send() for _ in range(n)]


async def test_broadcast_preview_confirm_deliver_report(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    await bound_at(street, MORNING, bind_resident_groups(peer))
    text = "/广播 范围 幸福社区/1-3栋 今晚8点核酸检测，请带身份证。[CQ:at,qq=all]"
    preview = await peer.ask(10003, text, group_id=WORK)
    assert "共 3 个居民群" in preview.text
    for label in ("幸福社区/1栋", "幸福社区/2栋", "幸福社区/3栋"):
        assert label in preview.text
    assert "幸福社区/4栋" not in preview.text
    number = int(preview.text.split("#", 1)[1].split()[0])
    async with street.db.read() as s:
        assert (await s.exec(select(OutboxItem))).all() == []  # nothing queued before /确认
    started = await peer.ask(10003, f"/确认 {number}", group_id=WORK)
    assert f"#{number}" in started.text and "3 个群" in started.text
    sends = await collect(peer, 4)  # three groups + the private report
    group_sends = [s for s in sends if s.target.startswith("group:")]
    assert sorted(s.target for s in group_sends) == sorted(
        f"group:{RESIDENT[b]}" for b in (1, 2, 3)
    )
    for s in group_sends:
        assert s.text == "今晚8点核酸检测，请带身份证。[CQ:at,qq=all]"
        assert s.ats == [] and all(seg["type"] == "text" for seg in s.segments)
    report = [s for s in sends if s.target == "private:10003"]
    assert len(report) == 1 and "成功 3" in report[0].text and "失败 0" in report[0].text
    # Confirming again sends nothing more.
    again = await peer.ask(10003, f"/确认 {number}", group_id=WORK)
    assert "已经确认过" in again.text
    await peer.no_action(0.3)
    status = await peer.ask(10003, f"/广播情况 {number}")
    assert "发送完毕" in status.text and "成功 3" in status.text


async def test_quiet_hours_hold_and_urgent_goes_now(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    await bind_resident_groups(peer)
    street.clock = lambda: datetime(2026, 11, 30, 23, 0, tzinfo=SHANGHAI)
    outbox.wall = street.clock
    preview = await peer.ask(10003, "/广播 范围 幸福社区/1栋 明天停水", group_id=WORK)
    assert "夜间免打扰" in preview.text and "12-01 07:00" in preview.text
    number = int(preview.text.split("#", 1)[1].split()[0])
    await peer.ask(10003, f"/确认 {number}", group_id=WORK)
    await peer.no_action(0.4)  # held until morning
    urgent = await peer.ask(
        10003, "/紧急广播 范围 幸福社区/2栋 发现确诊病例，请居家", group_id=WORK
    )
    assert "夜间免打扰" not in urgent.text
    n2 = int(urgent.text.split("#", 1)[1].split()[0])
    await peer.ask(10003, f"/确认 {n2}", group_id=WORK)
    sends = await collect(peer, 2)
    assert {s.target for s in sends} == {f"group:{RESIDENT[2]}", "private:10003"}
    # Morning comes: the held one goes out.
    street.clock = lambda: datetime(2026, 12, 1, 7, 1, tzinfo=SHANGHAI)
    outbox.wall = street.clock
    outbox.notify()
    sends = await collect(peer, 2)
    assert {s.target for s in sends} == {f"group:{RESIDENT[1]}", "private:10003"}


async def test_duplicate_within_a_minute_is_flagged(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    await bound_at(street, MORNING, bind_resident_groups(peer))
    p1 = await peer.ask(10003, "/广播 范围 幸福社区/4栋 勤洗手", group_id=WORK)
    assert "相同内容" not in p1.text
    n1 = int(p1.text.split("#", 1)[1].split()[0])
    await peer.ask(10003, f"/确认 {n1}", group_id=WORK)
    await collect(peer, 2)
    p2 = await peer.ask(10003, "/广播 范围 幸福社区/4栋 勤洗手", group_id=WORK)
    assert "相同内容" in p2.text and "/确认" in p2.text


async def test_cancel_and_foreign_confirm(peer: OneBotPeer, street: Runtime, outbox) -> None:
    await bind_resident_groups(peer)
    p = await peer.ask(10003, "/广播 戴好口罩，健康你我", group_id=WORK)
    number = int(p.text.split("#", 1)[1].split()[0])
    before = dump_db(street)
    other = await peer.ask(10002, f"/确认 {number}", group_id=WORK)
    assert "不是您发起的" in other.text
    assert dump_db(street) == before
    cancelled = await peer.ask(10003, f"/取消 {number}", group_id=WORK)
    assert "已取消" in cancelled.text
    late = await peer.ask(10003, f"/确认 {number}", group_id=WORK)
    assert "已经取消" in late.text
    await peer.no_action(0.3)
    async with street.db.read() as s:
        assert (await s.get(Broadcast, number)).state == "cancelled"


async def test_bad_broadcast_input_changes_nothing(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    await bind_resident_groups(peer)
    before = dump_db(street)
    for text, expect in [
        ("/广播", street.renderer.render("usage/broadcast")),
        ("/广播 范围 ??? 内容", None),
        ("/广播 范围 火星社区 内容", "没有找到社区"),
        ("/确认", street.renderer.render("usage/confirm")),
        ("/确认 abc", street.renderer.render("usage/confirm")),
        ("/确认 999", "没有编号为 999 的广播"),
        ("/取消 x", street.renderer.render("usage/cancel")),
    ]:
        sent = await peer.ask(10003, text, group_id=WORK)
        if expect is not None:
            assert as_answered(street.renderer, expect, text) in sent.text
    assert dump_db(street) == before
    refused = await peer.ask(30011, "/广播 大家好", group_id=WORK)
    assert "没有使用这个命令的权限" in refused.text
    await asyncio.sleep(0)


async def test_confirm_and_cancel_without_a_number_take_the_only_pending_preview(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    await bound_at(street, MORNING, bind_resident_groups(peer))
    p1 = await peer.ask(10003, "/广播 范围 幸福社区/4栋 明天上午9点核酸检测", group_id=WORK)
    n1 = int(p1.text.split("#", 1)[1].split()[0])
    p2 = await peer.ask(10003, "/广播 范围 幸福社区/3栋 请配合排查", group_id=WORK)
    n2 = int(p2.text.split("#", 1)[1].split()[0])
    before = dump_db(street)
    listed = await peer.ask(10003, "/确认", group_id=WORK)  # two pending: pick one
    assert "您有 2 项待确认" in listed.text
    assert f"/确认 {n1} —— 广播" in listed.text and f"/确认 {n2} —— 广播" in listed.text
    assert dump_db(street) == before
    cancelled = await peer.ask(10003, f"/取消 {n1}", group_id=WORK)
    assert f"#{n1}" in cancelled.text
    started = await peer.ask(10003, "/确认", group_id=WORK)  # now the only one
    assert f"#{n2}" in started.text and "1 个群" in started.text
    sends = await collect(peer, 2)
    assert {s.target for s in sends} == {f"group:{RESIDENT[3]}", "private:10003"}
    p3 = await peer.ask(10003, "/广播 范围 幸福社区/1栋 勤洗手", group_id=WORK)
    n3 = int(p3.text.split("#", 1)[1].split()[0])
    cancelled = await peer.ask(10003, "/取消", group_id=WORK)
    assert f"#{n3}" in cancelled.text
    async with street.db.read() as s:
        states = {b.id: b.state for b in (await s.exec(select(Broadcast))).all()}
    assert states[n1] == states[n3] == "cancelled" and states[n2] != "cancelled"
    nothing = await peer.ask(10003, "/确认", group_id=WORK)  # none pending: the usage
    assert nothing.text.startswith("/确认 [编号]")
