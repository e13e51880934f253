"""The duty record beyond check-ins (issue 14) over the real OneBot v11 WebSocket, the
real outbox and scheduler, on a virtual clock across two weeks:

- week 1: a round with on-time, late and missing units; an incident acknowledged
  5 minutes after its 15-minute limit; a 协查函 done at 25 h; a 预警 acknowledged by
  two of three work groups, whose 48-hour round two units answer;
- week 2: another round, one unit late.

``/督查 上周`` and ``/督查 本周`` report exactly those facts; the XLSX behind the
one-time link holds one row per obligation; the Monday report reaches the
纪检监督组 group once, across a restart (and once, late, after a downtime over it).
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
from datetime import datetime, timedelta

from openpyxl import load_workbook
from sqlmodel import select

from bot.runtime import Runtime
from bot.scheduler import Scheduler, merge_hooks
from ground.timeutil import SHANGHAI, as_utc
from storage.console import digest
from storage.models import AuditLog, ScheduledItem
from storage.models_console import ConsoleLink
from storage.retention import exports_dir
from tests.helpers import freeze_clock, restart, start_scheduler
from tests.onebot import OneBotPeer, Sent

# Plugin modules are imported inside tests: NoneBot must be initialised first.

ADMIN, STAFF, TRACER, INSPECTOR = 10001, 10002, 10003, 10009  # 张主任, 李干事, 王干事 (流调组)
L11, L12, L21 = 30011, 30012, 30021  # 李秀英, 赵志强, 孙丽
W0, W1, W2, TEAM = 910001, 910002, 910003, 910009  # 幸福社区, 第一网格, 第二网格, 纪检监督组
MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI)
NEXT_MONDAY = MONDAY + timedelta(days=7)


def hooks():
    from plugins.alerts import jobs as alert_jobs
    from plugins.assist import jobs as assist_jobs
    from plugins.checkin import jobs as checkin_jobs
    from plugins.incidents import jobs as incident_jobs
    from plugins.supervision import jobs as supervision_jobs

    return merge_hooks(checkin_jobs.HOOKS, incident_jobs.HOOKS, assist_jobs.HOOKS,
                       alert_jobs.HOOKS, supervision_jobs.HOOKS)


async def start(rt: Runtime) -> Scheduler:
    return await start_scheduler(rt, hooks())


class Chat:
    """The peer's side of the conversation: every send, drained after each step."""

    def __init__(self, peer: OneBotPeer) -> None:
        self.peer = peer
        self.seen: list[Sent] = []

    async def drain(self, quiet: float = 0.4) -> list[Sent]:
        got = []
        while True:
            try:
                got.append(await self.peer.expect_send(timeout=quiet))
            except TimeoutError:
                break
        self.seen += got
        return got

    async def say(self, user: int, text: str, group: int | None = None) -> Sent:
        """Send a command; the answer in the chat it was sent in (pushes are kept)."""
        if group is None:
            await self.peer.private_message(user, text)
        else:
            await self.peer.group_message(user, group, text)
        where = f"group:{group}" if group is not None else f"private:{user}"
        # The answer may queue behind paced pushes on a loaded machine: wait for it
        # (up to expect_send's timeout), then take whatever else is still coming.
        got = []
        while not any(s.target == where for s in got):
            try:
                got.append(await self.peer.expect_send())
            except TimeoutError:
                break
        self.seen += got
        got += await self.drain()
        answers = [s for s in got if s.target == where]
        assert answers, (text, [(s.target, s.text[:40]) for s in got])
        return answers[0]

    def weekly(self) -> list[Sent]:
        return [s for s in self.seen if s.text.startswith("【督查周报】")]


async def inspector(rt: Runtime) -> None:
    from storage.importer import import_rows, parse_csv_text, validate

    table = f"姓名,账号,工作组,管理员\n纪检员,qq:{INSPECTOR},纪检监督组,否"
    kind, rows = validate(parse_csv_text(table))
    async with rt.db.write() as s:
        await import_rows(s, kind, rows)


async def step(chat: Chat, clock, sched: Scheduler, at: datetime) -> None:
    """Move the clock to ``at``; what fell due fires; its pushes are drained."""
    clock.at = at
    await sched.settle()
    await chat.drain()


async def items(rt: Runtime, kind: str) -> list[ScheduledItem]:
    async with rt.db.read() as s:
        return list((await s.exec(
            select(ScheduledItem).where(ScheduledItem.kind == kind).order_by(ScheduledItem.due_at)
        )).all())


async def week_one(chat: Chat, rt: Runtime, clock, sched: Scheduler) -> None:
    day = MONDAY
    # Round #1, due 11:00: 1栋1单元 on time, 1栋2单元 30 minutes late, five units missing.
    opened = await chat.say(STAFF, "/排查 发起 返区人员排查 截止 2小时", W0)
    assert "#1" in opened.text
    await step(chat, clock, sched, day + timedelta(minutes=30))
    await chat.say(L11, "/打卡 已排查18户", W0)
    await step(chat, clock, sched, day + timedelta(hours=1, minutes=40))  # the 80 % reminder
    await step(chat, clock, sched, day + timedelta(hours=2, minutes=5))  # the deadline summary
    await step(chat, clock, sched, day + timedelta(hours=2, minutes=30))
    await chat.say(L12, "/打卡 已排查18户", W0)

    # Tuesday: an incident at 10:00, escalated at 10:15, acknowledged at 10:20.
    tue = day + timedelta(days=1)
    await step(chat, clock, sched, tue + timedelta(hours=1))
    reported = await chat.say(STAFF, "/事件 设备离线 3栋1单元", W0)
    assert "#1" in reported.text
    await step(chat, clock, sched, tue + timedelta(hours=1, minutes=16))
    await step(chat, clock, sched, tue + timedelta(hours=1, minutes=20))
    await chat.say(STAFF, "/处理 1", W0)

    # Tuesday 11:00: a 协查函, due Wednesday 11:00; its three reminders and the
    # escalation fire; done Wednesday 12:00 (25 h).
    await step(chat, clock, sched, tue + timedelta(hours=2))
    await chat.say(STAFF, "/协查 XC2026-01 核查轨迹")
    for hours in (12, 20, 23, 24):
        await step(chat, clock, sched, tue + timedelta(hours=2 + hours, minutes=1))
    wed = day + timedelta(days=2)
    await step(chat, clock, sched, wed + timedelta(hours=3))
    done = await chat.say(TRACER, "/协查 完成 XC2026-01")
    assert "XC2026-01" in done.text

    # Wednesday 14:00: a 预警, three work groups; 第一网格 acknowledges at 14:30, the
    # community group after the reminder at 15:50, 第二网格 never (escalated at 16:00).
    await step(chat, clock, sched, wed + timedelta(hours=5))
    started = await chat.say(STAFF, "/预警 武汉")
    assert "已通知 3 个工作群" in started.text
    await step(chat, clock, sched, wed + timedelta(hours=5, minutes=30))
    await chat.say(L11, "/收到 1", W1)
    await step(chat, clock, sched, wed + timedelta(hours=6, minutes=31))
    await step(chat, clock, sched, wed + timedelta(hours=6, minutes=50))
    await chat.say(STAFF, "/收到 1", W0)
    await step(chat, clock, sched, wed + timedelta(hours=7, minutes=1))

    # The alert's round #2 closes Friday 14:00: two units answer on Thursday.
    thu = day + timedelta(days=3)
    await step(chat, clock, sched, thu + timedelta(hours=1))
    await chat.say(L11, "/打卡 #2 已排查18户", W0)
    await chat.say(L21, "/打卡 #2 已排查24户", W0)
    fri = day + timedelta(days=4)
    for at in (fri - timedelta(hours=4), fri + timedelta(hours=5, minutes=1)):
        await step(chat, clock, sched, at)


LAST_WEEK = [
    "【督查】上周（11-30 00:00 起）",
    "排查打卡：14 项，按时 3（21%），逾期 1，未报 10",
    "幸福社区：按时率 21%（3/14），逾期 1，未完成 10",
    "按网格：幸福社区/第一网格 37%；幸福社区/第二网格 0%",
    "事件受理：1 起，15分钟内 0，超时 1，未受理 0",
    "协查函：1 件，24小时内完成 0，逾期完成 1，未完成 0",
    "预警确认：3 个工作群次，2小时内 2，超时 0，未确认 1",
]

PEOPLE = (
    "逾期或未完成最多：吴静（单元长）逾期0、未完成2；周敏（单元长）逾期0、未完成2；"
    "郑磊（单元长）逾期0、未完成2；赵志强（单元长）逾期1、未完成1；孙丽（单元长）逾期0、未完成1"
)


async def test_two_weeks_of_duty_record(peer: OneBotPeer, street: Runtime, outbox) -> None:
    from plugins.supervision import export, service

    await inspector(street)
    clock = freeze_clock(street, MONDAY, outbox)
    chat = Chat(peer)
    for gid, args in ((W0, "幸福社区 工作群"), (W1, "幸福社区/第一网格 工作群"),
                      (W2, "幸福社区/第二网格 工作群"), (TEAM, "全部 纪检监督组")):
        assert "已将本群登记为" in (await chat.say(ADMIN, f"/绑定群 {args}", gid)).text
    sched = await start(street)
    weekly = await items(street, "supervision.weekly")
    assert [(i.due_at, i.state) for i in weekly] == [(as_utc(NEXT_MONDAY), "pending")]

    await week_one(chat, street, clock, sched)

    # Sunday night: a restart before the report queues nothing twice.
    sched = await restart(sched, start, clock, NEXT_MONDAY - timedelta(hours=10))
    assert [i.state for i in await items(street, "supervision.weekly")] == ["pending"]
    assert chat.weekly() == []

    # Monday 09:00: the weekly report of 11-30..12-06, to the 纪检监督组 group.
    await step(chat, clock, sched, NEXT_MONDAY)
    [report] = chat.weekly()
    assert report.target == f"group:{TEAM}"
    lines = report.text.splitlines()
    assert lines[0] == "【督查周报】11-30至12-06"
    assert lines[1:8] == [*LAST_WEEK[1:], PEOPLE]
    assert lines[-1] == "完整记录：私聊机器人发送 /督查 上周"
    assert "/console/" not in report.text
    # Back after a restart: not again; next week's is queued.
    sched = await restart(sched, start, clock, NEXT_MONDAY + timedelta(minutes=30))
    await step(chat, clock, sched, NEXT_MONDAY + timedelta(hours=1))
    assert len(chat.weekly()) == 1
    assert [(i.due_at, i.state) for i in await items(street, "supervision.weekly")] == [
        (as_utc(NEXT_MONDAY), "done"), (as_utc(NEXT_MONDAY + timedelta(days=7)), "pending")]

    # Week 2: round #3 due Tuesday 11:00; 1栋2单元 on time, 1栋1单元 10 minutes late.
    tue = NEXT_MONDAY + timedelta(days=1)
    await step(chat, clock, sched, tue)
    assert "#3" in (await chat.say(STAFF, "/排查 发起 日常排查 截止 2小时", W0)).text
    await step(chat, clock, sched, tue + timedelta(minutes=20))
    await chat.say(L12, "/打卡 #3 已排查18户", W0)
    await step(chat, clock, sched, tue + timedelta(hours=2, minutes=10))
    await chat.say(L11, "/打卡 #3 已排查18户", W0)
    await step(chat, clock, sched, tue + timedelta(hours=3))

    this_week = (await chat.say(INSPECTOR, "/督查 本周")).text.splitlines()
    assert this_week[:7] == [
        "【督查】本周（12-07 00:00 起）",
        "排查打卡：7 项，按时 1（14%），逾期 1，未报 5",
        "幸福社区：按时率 14%（1/7），逾期 1，未完成 5",
        "按网格：幸福社区/第一网格 25%；幸福社区/第二网格 0%",
        "事件受理：0 起，15分钟内 0，超时 0，未受理 0",
        "协查函：0 件，24小时内完成 0，逾期完成 0，未完成 0",
        "预警确认：0 个工作群次，2小时内 0，超时 0，未确认 0",
    ]

    answer = (await chat.say(INSPECTOR, "/督查 上周")).text
    lines = answer.splitlines()
    assert lines[:7] == LAST_WEEK
    # Most late or missed first (the incident's and the 协查's one each fall off the top 5).
    assert lines[7] == PEOPLE
    assert lines[-2] == "完整记录（XLSX，1小时内有效，只能用一次，需先用 /后台 登录）："
    url = lines[-1]
    token = re.fullmatch(r"http://127\.0\.0\.1:8080/console/download/([\w-]+)", url)
    assert token is not None, url

    # The XLSX behind the link: one row per obligation of the record.
    async with street.db.read() as s:
        link = (await s.exec(
            select(ConsoleLink).where(ConsoleLink.token_hash == digest(token.group(1)))
        )).one()
        period = service.parse_period("上周", street.now())
        record = await service.duty_record(s, period, street.now())
        audits = (await s.exec(
            select(AuditLog.actor, AuditLog.detail).where(AuditLog.action == "supervise")
        )).all()
    assert (link.account, link.purpose, link.used_at) == (f"qq:{INSPECTOR}", "download", None)
    assert link.label == "督查记录_上周.xlsx"
    assert as_utc(link.expires_at) - as_utc(link.created_at) == timedelta(hours=1)
    path = exports_dir(street.settings.data_path()) / link.path
    assert path.parent == exports_dir(street.settings.data_path()) and path.is_file()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [a for a, _ in audits] == [f"qq:{INSPECTOR}"] * 2
    assert audits[-1][1].startswith(f"2026-11-30..2026-12-07 items={len(record)} file=")

    sheet = (await asyncio.to_thread(load_workbook, path)).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == export.HEADER
    none_as_empty = [[("" if v is None else v) for v in r] for r in rows[1:]]
    assert none_as_empty == [export.row_of(o) for o in record]
    assert len(record) == 14 + 1 + 1 + 3
    by_kind: dict[str, list[list]] = {}
    for r in none_as_empty:
        by_kind.setdefault(r[0], []).append(r)
    assert [r[9] for r in by_kind["排查打卡"]].count("按时") == 3
    assert [r[9] for r in by_kind["排查打卡"]].count("未完成") == 10
    late_unit = next(r for r in by_kind["排查打卡"] if r[1] == "#1 1栋2单元")
    assert late_unit[5:] == ["赵志强", "单元长", "2026-11-30 11:00", "2026-11-30 11:30", "逾期",
                             30, 1, "是", ""]
    on_time = next(r for r in by_kind["排查打卡"] if r[1] == "#1 1栋1单元")
    assert on_time[9:13] == ["按时", 0, 0, "否"]
    [incident] = by_kind["事件受理"]
    assert incident[1:] == ["事件#1 设备离线", "幸福社区", "第二网格", "幸福社区/3栋1单元",
                            "李干事", "应急小分队", "2026-12-01 10:15", "2026-12-01 10:20",
                            "逾期", 5, 0, "是", ""]
    [assist] = by_kind["协查"]
    assert assist[1:] == ["协查函 XC2026-01", "", "", "全部", "王干事", "流调组",
                          "2026-12-02 11:00", "2026-12-02 12:00", "逾期", 60, 3, "是", ""]
    acks = {r[4]: r for r in by_kind["预警确认"]}
    assert {k: (v[5], v[9], v[11], v[12]) for k, v in acks.items()} == {
        "幸福社区/第一网格 工作群": ("李秀英", "按时", 0, "否"),
        "幸福社区 工作群": ("李干事", "按时", 1, "否"),
        "幸福社区/第二网格 工作群": ("", "未完成", 1, "是"),
    }

    # In the 纪检监督组 group: the summary there, the link only privately.
    await peer.group_message(INSPECTOR, TEAM, "/督查 上周")
    got = {s.target: s.text for s in await chat.drain()}
    assert set(got) == {f"private:{INSPECTOR}", f"group:{TEAM}"}
    assert "/console/download/" in got[f"private:{INSPECTOR}"]
    assert "/console/" not in got[f"group:{TEAM}"]
    assert got[f"group:{TEAM}"].splitlines()[1:7] == LAST_WEEK[1:]
    assert len(chat.weekly()) == 1
    await sched.stop()


async def test_weekly_report_after_a_downtime_over_monday(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    """Down from Sunday to Monday 10:00: the report goes once, marked 补发; a second
    restart sends nothing; a changed schedule replaces the pending item."""
    clock = freeze_clock(street, MONDAY, outbox)
    chat = Chat(peer)
    assert "已将本群登记为" in (await chat.say(ADMIN, "/绑定群 全部 纪检监督组", TEAM)).text
    sched = await start(street)
    sched = await restart(sched, start, clock, NEXT_MONDAY + timedelta(hours=1))
    await sched.settle()
    await chat.drain()
    [report] = chat.weekly()
    assert report.target == f"group:{TEAM}"
    assert report.text.splitlines()[:2] == [
        "【督查周报】11-30至12-06（补发）", "这段时间没有到期的排查打卡。"]
    sched = await restart(sched, start, clock, NEXT_MONDAY + timedelta(hours=2))
    await sched.settle()
    await chat.drain()
    assert len(chat.weekly()) == 1

    # Friday 17:00 instead: the pending Monday item is replaced at the next start.
    street.settings.supervision_weekly_day, street.settings.supervision_weekly_time = 4, "17:00"
    sched = await restart(sched, start, clock, NEXT_MONDAY + timedelta(hours=3))
    states = [(i.due_at, i.state) for i in await items(street, "supervision.weekly")]
    friday = as_utc(NEXT_MONDAY + timedelta(days=4, hours=8))
    assert states == [(as_utc(NEXT_MONDAY), "done"), (friday, "pending"),
                      (as_utc(NEXT_MONDAY + timedelta(days=7)), "cancelled")]
    await step(chat, clock, sched, friday)
    assert [s.text.splitlines()[0] for s in chat.weekly()] == [
        "【督查周报】11-30至12-06（补发）", "【督查周报】12-04至12-10"]
    await sched.stop()


async def test_recurring_duties_in_the_record(peer: OneBotPeer, street: Runtime, outbox) -> None:
    """定期任务: one unit on time, one late after the chase; a duty stopped before the
    end of its day cancels what was still open (labelled, not counted)."""
    from plugins.duties import jobs as duty_jobs
    from plugins.supervision import jobs as supervision_jobs
    from plugins.supervision import service

    clock = freeze_clock(street, MONDAY - timedelta(hours=1), outbox)
    chat = Chat(peer)
    assert "已将本群登记为" in (await chat.say(ADMIN, "/绑定群 幸福社区 工作群", W0)).text
    sched = await start_scheduler(street, merge_hooks(duty_jobs.HOOKS, supervision_jobs.HOOKS))
    created = await chat.say(STAFF, "/任务 楼道消杀 每天 09:00 幸福社区/3栋", W0)
    assert "#1" in created.text
    await step(chat, clock, sched, MONDAY)  # Monday's occurrence: 3栋1单元, 3栋2单元
    await step(chat, clock, sched, MONDAY + timedelta(hours=1))
    await chat.say(30031, "/完成 1", W0)  # 吴静, on time
    await step(chat, clock, sched, MONDAY + timedelta(hours=4, minutes=1))  # the chase
    tue = MONDAY + timedelta(days=1)
    await step(chat, clock, sched, tue - timedelta(hours=1))
    await chat.say(30032, "/完成 1", W0)  # 郑磊, Tuesday 08:00: 8 hours late
    await step(chat, clock, sched, tue)  # Tuesday's occurrence
    await step(chat, clock, sched, tue + timedelta(hours=3))
    assert "#1" in (await chat.say(STAFF, "/任务 停止 1", W0)).text
    await step(chat, clock, sched, tue + timedelta(days=1))

    lines = (await chat.say(ADMIN, "/督查 本周")).text.splitlines()
    assert lines[:4] == [
        "【督查】本周（11-30 00:00 起）",
        "这段时间没有到期的排查打卡。",
        "定期任务：2 项，按时 1（50%），逾期 1，未完成 0",
        "幸福社区：按时率 50%（1/2），逾期 1，未完成 0",
    ]
    assert "郑磊（单元长）逾期1、未完成0" in lines[7]
    assert lines[8] == "另有 2 项免除或取消，不计入。"
    async with street.db.read() as s:
        record = await service.duty_record(
            s, service.parse_period("本周", street.now()), street.now())
    assert [(o.ref, o.outcome, o.late_minutes, o.reminders, o.note) for o in record] == [
        ("任务#1 楼道消杀 11-30 3栋1单元", "on_time", 0, 0, ""),
        ("任务#1 楼道消杀 11-30 3栋2单元", "late", 8 * 60, 1, ""),
        ("任务#1 楼道消杀 12-01 3栋1单元", "cancelled", 0, 0, "任务已停止"),
        ("任务#1 楼道消杀 12-01 3栋2单元", "cancelled", 0, 0, "任务已停止"),
    ]
    await sched.stop()


async def test_policy_study_is_an_obligation(peer: OneBotPeer, street: Runtime) -> None:
    """A policy note must be studied within GRIDBOT_POLICY_REMIND_HOURS (24) by everyone
    holding 工作人员 or 管理员: on time, late, or not at all, in /督查 and the record."""
    from plugins.supervision import service

    await inspector(street)  # 纪检员 is on the staff roster too: one of those obliged
    clock = freeze_clock(street, MONDAY)
    sent = await peer.ask(10002, "/政策 发布 返乡人员管理办法\n返乡人员须在24小时内报备。")
    assert "#1" in sent.text, sent.text
    clock.at = MONDAY + timedelta(hours=2)
    assert "#1" in (await peer.ask(10001, "/已学习 1")).text
    clock.at = MONDAY + timedelta(hours=30)
    assert "#1" in (await peer.ask(10003, "/已学习 1")).text
    clock.at = MONDAY + timedelta(days=3)
    lines = (await peer.ask(INSPECTOR, "/督查 本周")).text.splitlines()
    assert "政策学习：4 人次，按时 1，逾期 1，未学习 2" in lines
    async with street.db.read() as s:
        record = await service.duty_record(s, service.parse_period("本周", clock.at), clock.at)
    studied = {o.person: (o.outcome, o.late_minutes) for o in record if o.kind == service.POLICY}
    assert studied == {"张主任": ("on_time", 0), "王干事": ("late", 360),
                       "李干事": ("missed", 0), "纪检员": ("missed", 0)}
    # Before it fell due, nothing is owed yet: the week before holds none.
    async with street.db.read() as s:
        earlier = await service.duty_record(s, service.parse_period("上周", clock.at), clock.at)
    assert [o for o in earlier if o.kind == service.POLICY] == []
