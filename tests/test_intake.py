"""Bounded intake and failure answers (bot.intake): every command is answered.

Unit tests drive `Intake` directly; the rest go over the in-process OneBot v11
WebSocket with an intake of small limits attached to the test's runtime.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import func, select

from bot import intake as intake_mod
from bot.intake import Intake
from bot.runtime import Runtime
from messages.render import Renderer
from storage.models import CheckinReport
from tests import pgdb
from tests.conftest import SUPERUSER, dump_db
from tests.onebot import OneBotPeer

STAFF = 10002  # 数据统计排查组 in tests/data/staff.csv
LEADER = 30011  # 单元长 of 幸福社区 1栋1单元
WORK = 800001
BUSY = "系统繁忙，本条 /打卡 未处理，也未记录，请一分钟后重发。"
FAILED = "系统出错，本条未记录，请稍后重发。"


# --- the intake on its own -------------------------------------------------------------


async def test_turns_are_fifo_and_bounded() -> None:
    intake = Intake(max_inflight=2, max_waiting=2, max_wait=60)
    assert await intake.admit(refusable=True) and await intake.admit(refusable=True)
    order: list[str] = []

    async def wait(name: str, refusable: bool = True) -> bool:
        ok = await intake.admit(refusable=refusable)
        order.append(name)
        return ok

    a = asyncio.create_task(wait("a"))
    b = asyncio.create_task(wait("b"))
    await asyncio.sleep(0)
    assert intake.waiting == 2
    assert await intake.admit(refusable=True) is False  # queue full: refused at once
    chatter = asyncio.create_task(wait("chatter", refusable=False))  # never refused
    await asyncio.sleep(0)
    assert intake.waiting == 3 and intake.refused == 1
    for _ in range(3):
        intake.release(intake.clock())
        await asyncio.sleep(0)
    assert await a and await b and await chatter
    assert order == ["a", "b", "chatter"]
    assert intake.inflight == 2  # each release handed its turn on
    intake.release(intake.clock())
    intake.release(intake.clock())
    assert intake.inflight == 0 and intake.waiting == 0


async def test_refuses_when_the_wait_would_be_too_long() -> None:
    now = [0.0]
    intake = Intake(max_inflight=1, max_waiting=100, max_wait=5.0, clock=lambda: now[0])
    assert await intake.admit(refusable=True)
    now[0] = 4.0
    intake.release(0.0)  # one event took 4 s: the smoothed service time rises
    assert intake.service == pytest.approx(0.2 + 0.2 * 3.8)
    assert await intake.admit(refusable=True)
    waiters = [asyncio.create_task(intake.admit(refusable=True)) for _ in range(5)]
    await asyncio.sleep(0)
    # Five waiting at ~0.96 s each: a sixth would wait ~5.8 s > 5 s.
    assert intake.waiting == 5
    assert await intake.admit(refusable=True) is False
    for _ in waiters:
        intake.release(now[0])
        await asyncio.sleep(0)
    assert all([await w for w in waiters])


async def test_a_waiter_starved_past_twice_the_bound_is_refused() -> None:
    intake = Intake(max_inflight=1, max_waiting=10, max_wait=0.05, initial_service=0.001)
    assert await intake.admit(refusable=True)
    assert await intake.admit(refusable=True) is False  # let in, waited 0.1 s: refused
    assert intake.refused_late == 1 and intake.waiting == 0
    intake.release(intake.clock())
    assert intake.inflight == 0


async def test_a_cancelled_waiter_does_not_keep_a_turn() -> None:
    intake = Intake(max_inflight=1, max_waiting=10, max_wait=60)
    assert await intake.admit(refusable=False)
    waiter = asyncio.create_task(intake.admit(refusable=False))
    await asyncio.sleep(0)
    intake.release(intake.clock())  # the turn is handed to the waiter ...
    waiter.cancel()  # ... which is cancelled before it runs: the turn goes back
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert intake.inflight == 0 and intake.waiting == 0


def test_answer_templates() -> None:
    renderer = Renderer()
    assert renderer.render("common/busy", command="打卡") == BUSY
    assert renderer.render("common/failed", command="打卡") == FAILED
    assert "可能已部分记录" in renderer.render("common/failed_partial", command="打卡")


# --- over the WebSocket ----------------------------------------------------------------


def small_intake(rt: Runtime) -> Intake:
    return intake_mod.attach(rt, Intake(max_inflight=1, max_waiting=0, max_wait=5))


async def idle(intake: Intake) -> None:
    """Wait until every event has given its turn back (an answer is sent before
    the event's handling ends)."""
    async with asyncio.timeout(5):
        while intake.inflight or intake.waiting:
            await asyncio.sleep(0.01)


async def open_round(peer: OneBotPeer) -> None:
    sent = await peer.ask(STAFF, "/排查 发起 来自A地区人员排查 截止 2天 范围 幸福社区")
    assert "已发起排查 #1" in sent.text, sent.text


async def reports(rt: Runtime) -> int:
    async with rt.db.read() as s:
        return (await s.exec(select(func.count()).select_from(CheckinReport))).one()


async def test_a_busy_bot_answers_a_command_at_once_and_records_nothing(
    peer: OneBotPeer, street: Runtime
) -> None:
    intake = small_intake(street)
    await open_round(peer)
    await idle(intake)  # the /排查 gave its turn back
    # Something else holds the only turn and nothing may wait: the bot is full.
    assert await intake.admit(refusable=False)
    before = dump_db(street)
    sent = await peer.ask(LEADER, "/打卡 已排查18户")
    assert sent.target == f"private:{LEADER}" and sent.text == BUSY
    # In a group the answer says whose message it was; the refusals of one moment
    # are one message (a burst of replies gets a QQ account muted).
    for user in (LEADER, 30012, 30021):
        await peer.group_message(user, WORK, "/打卡 已排查18户")
    sent = await peer.expect_send()
    assert sent.target == f"group:{WORK}" and sent.text == BUSY
    assert sent.ats == [str(LEADER), "30012", "30021"]
    await peer.no_action()
    assert dump_db(street) == before
    # An event that is not a message (a notice) passes without a turn.
    await peer.ws.send_json({
        "time": 1, "self_id": peer.self_id, "post_type": "notice",
        "notice_type": "group_increase", "sub_type": "approve", "group_id": WORK,
        "operator_id": STAFF, "user_id": 55555,
    })
    await peer.no_action()
    assert intake.waiting == 0 and intake.refused == 4
    # A message that is not a command is never refused: it waits for its turn.
    await peer.group_message(LEADER, WORK, "收到")
    await peer.no_action()
    for _ in range(100):
        if intake.waiting:
            break
        await asyncio.sleep(0.01)
    assert intake.waiting == 1
    intake.release(intake.clock())
    await idle(intake)
    # With the turn free again, the same report is recorded.
    sent = await peer.ask(LEADER, "/打卡 已排查18户")
    assert "已记入 #1" in sent.text
    assert await reports(street) == 1
    assert intake.refused == 4 and intake.busy_replies.messages == 2


def break_reports(rt: Runtime) -> None:
    """A database that refuses every new check-in report (as a full disk would)."""
    if rt.db.sqlite:
        pgdb.execute(rt.settings.db_url,
                     "CREATE TRIGGER broken BEFORE INSERT ON checkinreport "
                     "BEGIN SELECT RAISE(ABORT, 'disk I/O error (test)'); END")
        return
    pgdb.execute(rt.settings.db_url,
                 "CREATE FUNCTION broken() RETURNS trigger LANGUAGE plpgsql AS $$ "
                 "BEGIN RAISE EXCEPTION 'disk I/O error (test)'; END $$")
    pgdb.execute(rt.settings.db_url, "CREATE TRIGGER broken BEFORE INSERT ON checkinreport "
                 "FOR EACH ROW EXECUTE FUNCTION broken()")


async def test_a_failing_handler_answers_its_sender_and_records_nothing(
    peer: OneBotPeer, street: Runtime
) -> None:
    intake = small_intake(street)
    sent = await peer.ask(STAFF, "/绑定群 幸福社区/第一网格 工作群", group_id=WORK)
    assert "已将本群登记为" in sent.text
    await idle(intake)
    await open_round(peer)
    break_reports(street)
    before = dump_db(street)
    await idle(intake)
    sent = await peer.ask(LEADER, "/打卡 已排查18户")
    assert sent.target == f"private:{LEADER}" and sent.text == FAILED
    await idle(intake)
    sent = await peer.ask(LEADER, "/打卡 已排查18户", group_id=WORK)
    assert sent.text == FAILED and sent.ats == [str(LEADER)]
    await peer.no_action()
    assert dump_db(street) == before
    assert await reports(street) == 0
    # The failed handlers gave their turns back: the next command is served.
    await idle(intake)
    assert intake.refused == 0
    sent = await peer.ask(SUPERUSER_ID, "/进度 #1")
    assert "#1" in sent.text and "系统" not in sent.text


SUPERUSER_ID = int(SUPERUSER.split(":")[1])


async def test_a_handler_failing_after_a_commit_says_it_may_be_recorded(
    peer: OneBotPeer, street: Runtime
) -> None:
    from nonebot import on_command

    from bot.runtime import current_runtime
    from storage.models import Community

    matcher = on_command("测试半途失败", priority=1, block=True)

    @matcher.handle()
    async def _half_done() -> None:
        async with current_runtime().db.write() as s:
            s.add(Community(name="半途社区"))
        raise RuntimeError("failed after the commit (test)")

    try:
        sent = await peer.ask(SUPERUSER_ID, "/测试半途失败")
    finally:
        matcher.destroy()
    assert "可能已部分记录" in sent.text and "/测试半途失败" in sent.text
    await peer.no_action()


async def test_a_failing_privacy_gate_answers_instead_of_dropping_the_command(
    peer: OneBotPeer, street: Runtime
) -> None:
    """The gate runs before the handler (a NoneBot run-preprocessor, whose errors
    NoneBot only logs): a database it cannot read still gets the sender an answer."""
    pgdb.execute(street.settings.db_url, "ALTER TABLE chatgroup RENAME TO chatgroup_gone")
    sent = await peer.ask(LEADER, "/打卡 已排查18户", group_id=WORK)
    assert sent.text == FAILED and sent.ats == [str(LEADER)]
    await peer.no_action()
    assert await reports(street) == 0
