"""督查 in the web console (issue 14), over HTTP in-process on the bot's own app, and
``/督查 [时段] [范围]`` over the real OneBot WebSocket, on a frozen runtime clock:

- only 管理员 and the 纪检监督组 open the page, the person pages and the XLSX;
- the page's figures are /督查's for the same data; the chart of on-time rates by grid
  over eight weeks; a person's record; the XLSX rows are the record; every view is
  audited with ids only;
- the scope filter of /督查; a scope that does not resolve gets the usage, nothing written;
- the 需核实 signals in the summary (each rule positive and negative), recomputed
  here exactly as ``/抽查`` computes them.
"""

from __future__ import annotations

import asyncio
import html
import io
import json
import re
from datetime import datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlmodel import col, select

from bot.runtime import Runtime
from ground.timeutil import SHANGHAI
from storage.models import AuditLog, Building, CheckinRound, Community, Grid, Unit
from storage.models import Person as RosterPerson
from tests.conftest import dump_db
from tests.helpers import (
    console_client,
    console_login,
    daily_rounds,
    file_report,
    freeze_clock,
    open_round,
)
from tests.onebot import OneBotPeer

ADMIN, STAFF, INSPECTOR = 10001, 10002, 10009
WORK = 900001
MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI)
CONSOLE_TABLES = ("consolelink", "consolesession", "auditlog", "pendingask")

# Plugin modules are imported inside tests: NoneBot must be initialised first.


def html_text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


async def inspector(rt: Runtime) -> None:
    from storage.importer import import_rows, parse_csv_text, validate

    table = f"姓名,账号,工作组,管理员\n纪检员,qq:{INSPECTOR},纪检监督组,否"
    kind, rows = validate(parse_csv_text(table))
    async with rt.db.write() as s:
        await import_rows(s, kind, rows)


async def a_round(peer: OneBotPeer, street: Runtime):
    """Round #1 due Monday 11:00: 1栋1单元 on time, 1栋2单元 30 minutes late, five
    units missing; the clock then stands at 12:00."""
    await inspector(street)
    clock = freeze_clock(street, MONDAY)
    await peer.ask(ADMIN, "/绑定群 幸福社区 工作群", group_id=WORK)
    await peer.ask(STAFF, "/排查 发起 返区人员排查 截止 2小时", group_id=WORK)
    clock.at = MONDAY + timedelta(minutes=30)
    await peer.ask(30011, "/打卡 已排查18户", group_id=WORK)
    clock.at = MONDAY + timedelta(hours=2, minutes=30)
    await peer.ask(30012, "/打卡 已排查18户", group_id=WORK)
    clock.at = MONDAY + timedelta(hours=3)
    return clock


async def person_id(rt: Runtime, name: str) -> int:
    async with rt.db.read() as s:
        return (await s.exec(select(RosterPerson.id).where(RosterPerson.name == name))).one()


async def audit_rows(rt: Runtime, prefix: str) -> list[AuditLog]:
    async with rt.db.read() as s:
        return list((await s.exec(select(AuditLog).where(
            col(AuditLog.action).startswith(prefix)).order_by(AuditLog.id))).all())


# --- who may open it -------------------------------------------------------------------


@pytest.mark.parametrize(("account", "opens"), [
    (f"qq:{ADMIN}", True), (f"qq:{INSPECTOR}", True), (f"qq:{STAFF}", False),
    ("qq:20001", False), ("qq:30011", False),
], ids=["管理员", "纪检监督组", "工作人员", "楼长", "单元长"])
async def test_only_admins_and_the_supervision_team_open_it(
    peer: OneBotPeer, street: Runtime, account: str, opens: bool,
) -> None:
    await a_round(peer, street)
    me = await person_id(street, "孙丽")
    paths = ["/console/supervision", "/console/supervision?p=上周",
             f"/console/supervision/people/{me}", "/console/supervision/export"]
    async with console_client() as web:
        await console_login(street, web, account)
        overview = await web.get("/console/")
        before = await audit_rows(street, "console_supervise")
        codes = [(await web.get(path)).status_code for path in paths]
        after = await audit_rows(street, "console_supervise")
    assert codes == ([200] * 4 if opens else [403] * 4)
    assert ('href="/console/supervision"' in overview.text) is opens
    assert len(after) - len(before) == (4 if opens else 0)


async def test_without_a_session_nothing_opens(street: Runtime) -> None:
    async with console_client() as web:
        for path in ("/console/supervision", "/console/supervision/people/1",
                     "/console/supervision/export"):
            assert (await web.get(path)).status_code == 401


# --- the page is /督查's summary -------------------------------------------------------------


def kind_rows(page: str) -> dict[str, list[str]]:
    rows = re.findall(r'<tr data-testid="kind-row">(.*?)</tr>', page)
    cells = [[html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", r)] for r in rows]
    return {c[0]: c[1:] for c in cells}


async def test_the_page_shows_what_the_command_answers(peer: OneBotPeer, street: Runtime):
    await a_round(peer, street)
    lines = (await peer.ask(INSPECTOR, "/督查 本周")).text.splitlines()
    assert lines[1] == "排查打卡：7 项，按时 1（14%），逾期 1，未报 5"
    async with console_client() as web:
        await console_login(street, web, f"qq:{INSPECTOR}")
        page = await web.get("/console/supervision?p=本周")
    assert page.status_code == 200
    text = html_text(page.text)
    kinds = kind_rows(page.text)
    counts = re.fullmatch(r"排查打卡：(\d+) 项，按时 (\d+)（(\d+)%），逾期 (\d+)，未报 (\d+)",
                          lines[1])
    total, on_time, rate, late, missed = counts.groups()
    assert kinds["排查打卡"] == [total, on_time, late, missed, f"{rate}%"]
    for line, label in ((lines[4], "事件受理（15分钟）"), (lines[5], "协查（24小时）"),
                        (lines[6], "预警确认（2小时）")):
        total, _limit, on_time, late, missed = re.findall(r"\d+", line.split("：", 1)[1])
        assert kinds[label][:4] == [total, on_time, late, missed], line
    assert kinds["定期任务"][:4] == ["0", "0", "0", "0"]
    # Community and grids: the command's own words.
    community = lines[2].split("：", 1)
    assert f"{community[0]} {community[1].split('，')[0]}" in text  # 幸福社区 按时率 14%（1/7）
    for part in lines[3].removeprefix("按网格：").split("；"):  # 幸福社区/第一网格 25%
        label, rate = part.rsplit(" ", 1)
        assert f"{label} 按时率 {rate}" in text
    # The people most often late or missing: the same names, counts and order.
    people = [html.unescape(re.sub(r"<[^>]+>", "", p)) for p in
              re.findall(r'<li data-testid="person">(.*?)</li>', page.text)]
    assert "；".join(people) == lines[7].removeprefix("逾期或未完成最多：")
    assert "需核实" in text and "没有。" in text  # no signal tripped
    # The figures are the service's for the same period.
    from plugins.supervision import service

    async with street.db.read() as s:
        period = service.parse_period("本周", street.now())
        record = await service.duty_record(s, period, street.now())
    assert f"共 {len(record)} 项" in text
    missed = re.findall(r'data-testid="missed-row"', page.text)
    assert len(missed) == sum(o.outcome == service.MISSED for o in record) == 5


async def test_the_incident_alert_and_assist_rows_follow_the_command(
    peer: OneBotPeer, street: Runtime
):
    """Counted the same way for the other kinds: an incident acknowledged in time."""
    await a_round(peer, street)
    clock = street.clock
    await peer.ask(STAFF, "/事件 设备离线 3栋1单元", group_id=WORK)
    clock.at = clock.at + timedelta(minutes=5)  # type: ignore[attr-defined]
    await peer.ask(STAFF, "/处理 1", group_id=WORK)
    clock.at = clock.at + timedelta(minutes=30)  # type: ignore[attr-defined]
    lines = (await peer.ask(ADMIN, "/督查")).text.splitlines()
    assert lines[4] == "事件受理：1 起，15分钟内 1，超时 0，未受理 0"
    async with console_client() as web:
        await console_login(street, web, f"qq:{ADMIN}")
        kinds = kind_rows((await web.get("/console/supervision")).text)
    assert kinds["事件受理（15分钟）"] == ["1", "1", "0", "0", "100%"]
    assert kinds["协查（24小时）"] == ["0", "0", "0", "0", "—"]


async def test_the_chart_shows_eight_weeks_of_rates_by_grid(peer: OneBotPeer, street: Runtime):
    await a_round(peer, street)
    async with console_client() as web:
        await console_login(street, web, f"qq:{ADMIN}")
        page = (await web.get("/console/supervision?p=上周")).text
    found = re.search(r'id="chart-trend"[^>]*data-chart-kind="line"[^>]*data-chart="([^"]*)"',
                      page)
    assert found, page
    chart = json.loads(html.unescape(found.group(1)))
    assert chart["x"] == ["10-12", "10-19", "10-26", "11-02", "11-09", "11-16", "11-23", "11-30"]
    assert chart["series"] == [["幸福社区/第一网格", [None] * 7 + [25]],
                               ["幸福社区/第二网格", [None] * 7 + [0]]]
    # The bar charts keep their own form (no kind: bars).
    assert 'data-chart-kind="line"' in page and page.count("data-chart=") == 1


# --- a person's record ------------------------------------------------------------------


async def test_a_person_drill_down(peer: OneBotPeer, street: Runtime):
    await a_round(peer, street)
    late = await person_id(street, "赵志强")
    async with console_client() as web:
        await console_login(street, web, f"qq:{INSPECTOR}")
        summary = (await web.get("/console/supervision?p=本周")).text
        assert f'href="/console/supervision/people/{late}?p=%E6%9C%AC%E5%91%A8"' in summary
        page = await web.get(f"/console/supervision/people/{late}?p=本周")
        other_week = await web.get(f"/console/supervision/people/{late}?p=上周")
        missing = await web.get("/console/supervision/people/99999?p=本周")
    assert page.status_code == 200
    rows = re.findall(r'<tr data-testid="obligation" data-outcome="(\w+)">(.*?)</tr>', page.text)
    assert [(outcome, html_text(cells).split()) for outcome, cells in rows] == [
        ("late", ["排查打卡", "#1", "1栋2单元", "幸福社区/1栋2单元", "单元长", "2026-11-30",
                  "11:00", "2026-11-30", "11:30", "逾期（30分钟）", "0", "否"])]
    assert "1 项：按时 0，逾期 1，未完成 0" in html_text(page.text)
    assert "这段时间没有此人的到期事项" in other_week.text
    assert missing.status_code == 404
    views = await audit_rows(street, "console_supervise_person")
    assert [(a.subject_kind, a.subject_id, a.detail) for a in views] == [
        ("person", late, "2026-11-30..2026-12-01 items=1"),
        ("person", late, "2026-11-23..2026-11-30 items=0"),
    ]


# --- the XLSX and the audit --------------------------------------------------------------


async def test_the_workbook_is_the_record_and_every_view_is_audited(
    peer: OneBotPeer, street: Runtime
):
    from plugins.supervision import export, service

    await a_round(peer, street)
    async with console_client() as web:
        await console_login(street, web, f"qq:{INSPECTOR}")
        await web.get("/console/supervision")
        await web.get("/console/supervision?p=本月&scope=幸福社区/第一网格")
        got = await web.get("/console/supervision/export?p=本周")
    assert got.status_code == 200 and got.content[:2] == b"PK"
    assert "attachment" in got.headers["content-disposition"]
    sheet = (await asyncio.to_thread(load_workbook, io.BytesIO(got.content))).active
    rows = [[("" if v is None else v) for v in r] for r in sheet.iter_rows(values_only=True)]
    async with street.db.read() as s:
        record = await service.duty_record(s, service.parse_period("本周", street.now()),
                                           street.now())
        grid = (await s.exec(select(Grid.id).where(Grid.name == "第一网格"))).one()
    assert rows[0] == export.HEADER
    assert rows[1:] == [export.row_of(o) for o in record] and len(record) == 7

    trail = await audit_rows(street, "console_supervise")
    assert [(a.actor, a.action, a.scope) for a in trail] == [
        (f"qq:{INSPECTOR}", "console_supervise", ""),
        (f"qq:{INSPECTOR}", "console_supervise", f"grid:{grid}"),
        (f"qq:{INSPECTOR}", "console_supervise_export", ""),
    ]
    assert trail[0].detail == "2026-11-30..2026-12-01 items=7"
    assert trail[1].detail == "2026-11-01..2026-12-01 items=4"  # 本月, 第一网格
    assert trail[2].detail.startswith("2026-11-30..2026-12-01 items=7 file=supervision_")
    async with street.db.read() as s:
        names = (await s.exec(select(RosterPerson.name))).all()
    assert not [n for a in trail for n in names if n in a.detail]


async def test_a_bad_period_or_scope_shows_nothing_and_audits_nothing(
    peer: OneBotPeer, street: Runtime
):
    await a_round(peer, street)
    async with console_client() as web:
        await console_login(street, web, f"qq:{ADMIN}")
        for query, why in (("p=自定义&from=2026-12-05&to=2026-12-01", "看不懂时段"),
                           ("p=自定义&from=&to=", "看不懂时段"), ("p=明年", "看不懂时段"),
                           ("scope=火星社区", "看不懂范围"), ("scope=@@@", "看不懂范围")):
            for path in ("/console/supervision", "/console/supervision/export"):
                page = await web.get(f"{path}?{query}")
                assert page.status_code == 400 and why in page.text, (path, query)
                assert 'data-testid="kind-row"' not in page.text
        custom = await web.get("/console/supervision?p=自定义&from=2026-11-30&to=2026-11-30")
        assert custom.status_code == 200
        assert kind_rows(custom.text)["排查打卡"][:1] == ["7"]
    trail = await audit_rows(street, "console_supervise")
    assert [a.detail for a in trail] == ["2026-11-30..2026-12-01 items=7"]


# --- /督查 [范围] ----------------------------------------------------------------------------


async def test_the_command_filters_by_scope(peer: OneBotPeer, street: Runtime):
    await a_round(peer, street)
    lines = (await peer.ask(ADMIN, "/督查 本周 幸福社区/第一网格")).text.splitlines()
    assert lines[0] == "【督查】本周 幸福社区/第一网格（11-30 00:00 起）"
    assert lines[1] == "排查打卡：4 项，按时 1（25%），逾期 1，未报 2"
    assert lines[2] == "幸福社区：按时率 25%（1/4），逾期 1，未完成 2"
    [people] = [line for line in lines if line.startswith("逾期或未完成最多")]
    assert "孙丽" in people and "周敏" in people and "吴静" not in people

    lines = (await peer.ask(ADMIN, "/督查 第二网格")).text.splitlines()  # 本周 by default
    assert lines[:2] == ["【督查】本周 幸福社区/第二网格（11-30 00:00 起）",
                         "排查打卡：3 项，按时 0（0%），逾期 0，未报 3"]
    lines = (await peer.ask(ADMIN, "/督查 11-30 至 12-01 幸福社区/1栋")).text.splitlines()
    assert lines[:2] == ["【督查】11-30至12-01 幸福社区/1栋（11-30 00:00 起）",
                         "排查打卡：2 项，按时 1（50%），逾期 1，未报 0"]
    whole = (await peer.ask(ADMIN, "/督查 本周 幸福社区")).text.splitlines()
    assert whole[0] == "【督查】本周 幸福社区（11-30 00:00 起）"
    assert whole[1] == "排查打卡：7 项，按时 1（14%），逾期 1，未报 5"
    every = (await peer.ask(ADMIN, "/督查 本周 全部")).text.splitlines()
    assert every[0] == "【督查】本周（11-30 00:00 起）" and every[1] == whole[1]

    async with street.db.read() as s:
        grid = (await s.exec(select(Grid.id).where(Grid.name == "第一网格"))).one()
        community = (await s.exec(select(Community.id))).one()
        grid2 = (await s.exec(select(Grid.id).where(Grid.name == "第二网格"))).one()
        b1 = (await s.exec(select(Building.id).where(Building.number == 1))).one()
    trail = await audit_rows(street, "supervise")
    assert [a.scope for a in trail] == [f"grid:{grid}", f"grid:{grid2}", f"building:{b1}",
                                        f"community:{community}", ""]
    assert trail[0].detail.startswith("2026-11-30..2026-12-01 items=4 file=")


@pytest.mark.parametrize("text", [
    "/督查 本周 火星社区", "/督查 本周 幸福社区/第九网格", "/督查 本周 @@@",
    "/督查 本周 幸福社区/9栋", "/督查 明年 幸福社区", "/督查 12-05至12-01 幸福社区",
])
async def test_a_scope_that_does_not_resolve_gets_the_usage(
    peer: OneBotPeer, street: Runtime, text: str
):
    await a_round(peer, street)
    before = dump_db(street)
    sent = await peer.ask(ADMIN, text)
    assert sent.text.startswith("没有看懂"), sent.text
    assert "/督查" in sent.text
    assert dump_db(street) == before


async def test_within_keeps_the_work_groups_inside_the_scope(street: Runtime):
    """A 预警 acknowledgement belongs to a scope when its work group covers only units
    of it; a street-wide 协查 only to 全部."""
    from plugins.supervision import service
    from storage.places import Place
    from storage.repo import ALL, Scope

    async with street.db.read() as s:
        community = (await s.exec(select(Community.id))).one()
        g1, g2 = (await s.exec(select(Grid.id).order_by(Grid.id))).all()
        b3 = (await s.exec(select(Building).where(Building.number == 3))).one()
        u31 = (await s.exec(select(Unit.id).where(Unit.building_id == b3.id,
                                                  Unit.number == 1))).one()
    due = MONDAY

    def ob(ref: str, **kw) -> service.Obligation:
        return service.Obligation(service.ALERT, ref, "", "", "", "", due, None,
                                  service.MISSED, **kw)

    rows = [
        ob("community group", group_scope=("community", community)),
        ob("grid 1 group", group_scope=("grid", g1)),
        ob("grid 2 group", group_scope=("grid", g2)),
        ob("unbound", group_scope=None),
        ob("incident 3栋1单元", place=Place(u31, b3.id, g2, community)),
        ob("协查"),
    ]
    async with street.db.read() as s:
        by = {label: [o.ref for o in await service.within(s, rows, scope)]
              for label, scope in (
                  ("all", ALL), ("community", Scope("community", (community,), "")),
                  ("grid2", Scope("grid", (g2,), "")),
                  ("building3", Scope("building", (b3.id,), "")))}
    assert by["all"] == [o.ref for o in rows]
    assert by["community"] == ["community group", "grid 1 group", "grid 2 group",
                               "incident 3栋1单元"]
    assert by["grid2"] == ["grid 2 group", "incident 3栋1单元"]
    assert by["building3"] == ["incident 3栋1单元"]


def test_period_and_scope_words() -> None:
    from plugins.supervision import service

    now = datetime(2026, 12, 2, 15, 0, tzinfo=SHANGHAI)
    got = {t: (lambda r: (r[0].label, r[1]) if r else None)(service.parse_args(t, now))
           for t in ("", "本周", "上周 幸福社区", "幸福社区/第一网格", "11-01至11-30 3栋",
                     "11-01 至 11-30", "2025-12-01至2026-01-31")}
    assert got == {
        "": ("本周", ""), "本周": ("本周", ""), "上周 幸福社区": ("上周", "幸福社区"),
        "幸福社区/第一网格": ("本周", "幸福社区/第一网格"),
        "11-01至11-30 3栋": ("11-01至11-30", "3栋"), "11-01 至 11-30": ("11-01至11-30", ""),
        "2025-12-01至2026-01-31": ("12-01至01-31", ""),
    }
    span = service.parse_period("2025-12-01至2026-01-31", now)
    assert (str(span.start.date()), str(span.end.date())) == ("2025-12-01", "2026-02-01")


# --- 需核实 --------------------------------------------------------------------------------


async def test_signals_are_listed_not_judged(peer: OneBotPeer, street: Runtime):
    """burst and instant: one account reports five units within seconds of the round
    opening (and had never reported); the others' reports trip nothing. The counts are
    those of /抽查's rules over the same reports."""
    from storage import signals

    await inspector(street)
    clock = freeze_clock(street, MONDAY)
    await peer.ask(ADMIN, "/绑定群 幸福社区 工作群", group_id=WORK)
    await peer.ask(STAFF, "/排查 发起 返区人员排查 截止 2小时", group_id=WORK)
    for unit in ("1栋1单元", "1栋2单元", "2栋1单元", "2栋2单元", "3栋1单元"):
        sent = await peer.ask(STAFF, f"/打卡 {unit} 已排查12户", group_id=WORK)
        assert "已记入" in sent.text, sent.text
    clock.at = MONDAY + timedelta(minutes=20)
    await peer.ask(30032, "/打卡 已排查12户", group_id=WORK)  # 郑磊: nothing odd
    clock.at = MONDAY + timedelta(hours=3)

    lines = (await peer.ask(INSPECTOR, "/督查")).text.splitlines()
    [flag] = [line for line in lines if line.startswith("需核实")]
    assert flag == "需核实，不作结论：同一账号短时报多个单元 5个单元次；新账号开轮即报 1个单元次"
    async with street.db.read() as s:
        rnd = (await s.exec(select(CheckinRound))).one()
        flagged = await signals.flagged(s, rnd, signals.Thresholds.of(street.settings))
    assert len(flagged) == 5  # the units /抽查 would draw first
    async with console_client() as web:
        await console_login(street, web, f"qq:{INSPECTOR}")
        page = (await web.get("/console/supervision")).text
        scoped = (await web.get("/console/supervision?scope=第二网格")).text
    assert re.findall(r'data-rule="(\w+)">([^<]*)<', page) == [
        ("burst", "同一账号短时报多个单元：5个单元次"), ("instant", "新账号开轮即报：1个单元次")]
    assert re.findall(r'data-rule="(\w+)">([^<]*)<', scoped) == [
        ("burst", "同一账号短时报多个单元：1个单元次")]  # 3栋1单元 only

    # Negative: six units needed for a burst: only the newcomer's instant report is left.
    street.settings.signal_burst_units = 6
    lines = (await peer.ask(INSPECTOR, "/督查")).text.splitlines()
    assert [line for line in lines if line.startswith("需核实")] == [
        "需核实，不作结论：新账号开轮即报 1个单元次"]
    # And with no rule tripping, no line at all (the other tests' summaries).


T0 = MONDAY


async def test_each_check_in_rule_counts_as_the_spot_check_rule(street: Runtime) -> None:
    from plugins.supervision import service, signals
    await daily_rounds(street, T0)  # unit 1: 18 every day; unit 2 changes: not flagged
    burst = await open_round(street, T0 + timedelta(days=4))
    for unit in (1, 2, 3):  # three units within 20 s by one account
        await file_report(street, burst, unit, "qq:20001",
                      T0 + timedelta(days=4, minutes=10, seconds=unit * 10))
    await file_report(street, burst, 4, "qq:20002", T0 + timedelta(days=4, minutes=30))  # slow
    await file_report(street, burst, 5, "qq:30031", T0 + timedelta(days=4, seconds=20))  # instant
    now = T0 + timedelta(days=6)
    period = service.Period(T0, now, "")
    limits = signals.Thresholds(burst_units=3, burst_seconds=30, same_days=3,
                                instant_seconds=60)
    async with street.db.read() as s:
        found = await signals.signals(s, period, now, limits)
        fewer = await signals.signals(s, period, now, signals.Thresholds(
            burst_units=4, burst_seconds=30, same_days=4, instant_seconds=10))
    assert [(g.rule, g.count) for g in found] == [("burst", 3), ("same_figures", 1),
                                                 ("instant", 1)]
    assert fewer == []  # negative: four units, four days, ten seconds needed


async def test_same_temperature_every_day(street: Runtime) -> None:
    from plugins.supervision import service, signals
    from storage.models_events import HealthCheck, Quarantine

    async with street.db.write() as s:
        unit = (await s.exec(select(Unit).order_by(Unit.id))).first()
        rows = []
        for room in ("101", "102"):
            q = Quarantine(unit_id=unit.id, room=room, start_date=T0.date(), days=14,
                           end_date=(T0 + timedelta(days=14)).date(), created_by="qq:10002")
            s.add(q)
            rows.append(q)
        await s.flush()
        for day in range(5):
            for q, temp in ((rows[0], 3650), (rows[1], 3650 if day != 3 else 3660)):
                s.add(HealthCheck(quarantine_id=q.id, temp_centi=temp, reported_by="qq:30011",
                                  reported_at=T0 + timedelta(days=day, hours=1)))
    now = T0 + timedelta(days=6)
    async with street.db.read() as s:
        found = await signals.signals(s, service.Period(T0, now, ""), now,
                                      signals.Thresholds())
        longer = await signals.signals(s, service.Period(T0, now, ""), now,
                                       signals.Thresholds(same_temp_days=6))
    assert [(g.rule, g.count) for g in found] == [("same_temperature", 1)]  # 101, not 102
    assert longer == []
    day = [(T0 + timedelta(days=d), 3650) for d in range(3)]
    assert signals.same_temperature_run(day, 3)
    assert not signals.same_temperature_run(day[:1] + day[2:], 3)  # a day without a check
