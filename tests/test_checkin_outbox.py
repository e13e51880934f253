"""Check-in pushes are written in the transaction that decides them (issue 9).

The 异常 alert commits with the report, a laggard reminder with the chase that
chose its leaders, a daily round's closing with its summary: if queueing fails
nothing is recorded, and once the decision is committed its pushes are in the
outbox (pending, with no bot connected here), so a crash cannot lose them.
The outbox is attached but not started: rows stay as the transaction left them.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, func, select

from bot.runtime import Runtime
from storage.models import ChatGroup, CheckinReport, CheckinRound, ScheduledItem
from storage.models_outbox import OutboxItem
from storage.repo import Scope

pytestmark = pytest.mark.time  # what the outbox holds: also run at the moved instants

WORK, ALERTS, STATS = "800001", "800002", "800003"
BOT = "8888"
COMMUNITY = Scope("community", (1,), "幸福社区")
STAFF = "qq:10002"


class QueueBroke(RuntimeError):
    """Stands for a write that fails while the pushes are queued."""


@pytest.fixture
async def checkin(street: Runtime) -> Runtime:
    """The test street with its work group, 四人一专班 and 数据统计排查组 bound,
    one open round over the community and an outbox that is attached, not started."""
    from bot.app import attach_outbox
    from plugins.checkin import service

    attach_outbox(street)
    async with street.db.write() as s:
        for gid, kind, team, scope_kind, scope_id in (
            (WORK, "work", None, "grid", 1),
            (ALERTS, "team", "四人一专班", "all", 0),
            (STATS, "team", "数据统计排查组", "all", 0),
        ):
            s.add(ChatGroup(platform="qq", group_id=gid, bot_id=BOT, kind=kind, team=team,
                            scope_kind=scope_kind, scope_id=scope_id, bound_by=STAFF))
        await service.open_round(
            s, actor=STAFF, title="返乡排查", scope=COMMUNITY,
            deadline=street.now() + timedelta(days=2), now=street.now(),
        )
    return street


def sender(account: str, group_id: str | None = WORK):
    from plugins.checkin.flows import Sender

    return Sender(account=account, platform="qq", group_id=group_id, bot_id=BOT)


async def outbox_rows(rt: Runtime) -> list[OutboxItem]:
    async with rt.db.read() as s:
        return list((await s.exec(select(OutboxItem).order_by(OutboxItem.id))).all())


async def reports(rt: Runtime) -> int:
    async with rt.db.read() as s:
        return (await s.exec(select(func.count()).select_from(CheckinReport))).one()


async def group_rows(rt: Runtime) -> list[OutboxItem]:
    return [r for r in await outbox_rows(rt) if r.target_kind != "account"]


def break_queueing(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args, **kwargs):
        raise QueueBroke("the outbox row could not be written")

    monkeypatch.setattr(rt.delivery, "to_group", broken)


async def test_abnormal_alert_is_queued_with_the_report(checkin: Runtime) -> None:
    from plugins.checkin import flows

    outcome = await flows.report_cmd(
        checkin, sender("qq:20002"), "2-2 20户 异常1 备注 201室张三发热已送医"
    )
    assert outcome.first.template == "checkin/report_ok"
    assert await reports(checkin) == 1
    rows = await outbox_rows(checkin)
    # The 备注 (free text) goes privately to the round's opener, never to a group.
    [note] = [r for r in rows if r.target_kind == "account"]
    assert note.target == "qq:10002" and "201室张三发热已送医" not in note.text
    assert "***室张三发热已送医" in note.text
    rows = [r for r in rows if r.target_kind != "account"]
    assert sorted(r.target for r in rows) == [ALERTS, STATS]
    for row in rows:
        assert (row.state, row.source, row.priority, row.bot_id) == (
            "pending", "checkin:1", 1, BOT
        )
        assert row.text.startswith("【异常报告】#1「返乡排查」")
        assert "幸福社区/2栋2单元：已排查20户，返区0，隔离0，异常1" in row.text
        assert "张三" not in row.text and "201" not in row.text  # the note stays private

    # Amended with the same 异常: nothing new to alert. Changed: alerted again.
    await flows.report_cmd(checkin, sender("qq:20002"), "2-2 22户 异常1")
    assert len(await group_rows(checkin)) == 2
    await flows.report_cmd(checkin, sender("qq:20002"), "2-2 22户 异常2")
    rows = await group_rows(checkin)
    assert len(rows) == 4 and all("（更正，原异常1）" in r.text for r in rows[2:])


async def test_a_report_whose_alert_cannot_be_queued_is_not_recorded(
    checkin: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plugins.checkin import flows

    break_queueing(checkin, monkeypatch)
    with pytest.raises(QueueBroke):
        await flows.report_cmd(checkin, sender("qq:20002"), "2-2 20户 异常1")
    assert await reports(checkin) == 0
    # Without 异常 there is nothing to queue: the report is recorded as ever.
    outcome = await flows.report_cmd(checkin, sender("qq:20002"), "2-2 20户")
    assert outcome.first.template == "checkin/report_ok"
    assert await reports(checkin) == 1


async def test_refused_report_queues_nothing(checkin: Runtime) -> None:
    from plugins.checkin import flows

    outcome = await flows.report_cmd(checkin, sender("qq:20002"), "2-2 99户 异常1")
    assert outcome.first.template == "checkin/error"
    assert await reports(checkin) == 0 and await outbox_rows(checkin) == []


async def test_chase_queues_its_reminders(checkin: Runtime) -> None:
    from plugins.checkin import flows

    outcome = await flows.chase_cmd(checkin, sender(STAFF), "#1")
    assert outcome.first.template == "checkin/chase_done"
    assert outcome.first.context["groups"] == 1
    (row,) = await outbox_rows(checkin)
    assert (row.target, row.source, row.state) == (WORK, "checkin:1", "pending")
    assert row.text.startswith("【催报】#1「返乡排查」")
    assert '"qq:30011"' in row.mentions  # 第一网格's leaders, @-mentioned


async def test_reminder_job_queues_in_its_transaction(checkin: Runtime) -> None:
    from plugins.checkin import jobs
    from plugins.checkin.service import KIND_REMIND

    item = ScheduledItem(kind=KIND_REMIND, ref_id=1, due_at=checkin.now())
    await jobs.on_remind(checkin, item)
    (row,) = await outbox_rows(checkin)
    assert row.target == WORK and row.text.startswith("【排查提醒】#1")


async def test_daily_round_closes_with_its_summary_or_not_at_all(
    checkin: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plugins.checkin import jobs, service
    from plugins.checkin.service import KIND_DEADLINE, KIND_REMIND

    now = checkin.now()
    async with checkin.db.write() as s:
        defn, _ = await service.create_daily(
            s, actor=STAFF, title="每日排查", scope=COMMUNITY, open_minute=8 * 60,
            close_minute=20 * 60, now=now,
        )
        opened = await service.open_round(
            s, actor=jobs.SCHEDULER_ACTOR, title="每日排查", scope=COMMUNITY,
            deadline=now + timedelta(hours=1), now=now, recurring_id=defn.id,
        )
    rid = opened.round.id
    assert rid is not None
    item = ScheduledItem(kind=KIND_DEADLINE, ref_id=rid, due_at=now + timedelta(hours=1))

    # The summary cannot be queued: the round stays open, for the scheduler's retry.
    with monkeypatch.context() as m:
        break_queueing(checkin, m)
        with pytest.raises(QueueBroke):
            await jobs.on_deadline(checkin, item)
    async with checkin.db.read() as s:
        assert (await s.get(CheckinRound, rid)).state == "open"
        pending = (await s.exec(select(ScheduledItem.state).where(
            ScheduledItem.ref_id == rid, col(ScheduledItem.kind).in_((KIND_REMIND, KIND_DEADLINE))
        ))).all()
    assert set(pending) == {"pending"}

    await jobs.on_deadline(checkin, item)
    async with checkin.db.read() as s:
        assert (await s.get(CheckinRound, rid)).state == "closed"
    (row,) = await outbox_rows(checkin)
    assert row.target == STATS and row.source == f"checkin:{rid}"
    assert row.text.startswith(f"【截止汇总】#{rid}「每日排查」")
    # Already closed: a second run says nothing.
    await jobs.on_deadline(checkin, item)
    assert len(await outbox_rows(checkin)) == 1
