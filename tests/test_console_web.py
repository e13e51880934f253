"""The web console over HTTP, in-process on the bot's own FastAPI app: login through
the bot's one-time links, sessions, CSRF, every page and action for each role, the
roster upload, the broadcast, the export link. The browser run is
tests/test_console_browser.py."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlmodel import col, select

from bot.clock import ManualClock
from bot.runtime import Runtime
from storage import console as links
from storage.models import (
    AuditLog,
    ChatGroup,
    CheckinRound,
    ConsoleSession,
    OutboxItem,
    Unit,
)
from tests.conftest import dump_db
from tests.helpers import console_client, console_login, link_in, outbox_settled
from tests.onebot import OneBotPeer

ADMIN, STAFF, BUILDING, UNIT_1_1, UNIT_2_1, NOBODY = (
    "qq:10001", "qq:10002", "qq:20001", "qq:30011", "qq:30021", "qq:77777")
WORK = 500
# Tables the console itself writes on every visit: its links and sessions, the audit.
CONSOLE_TABLES = ("consolelink", "consolesession", "auditlog", "pendingask")


async def add_groups(rt: Runtime, rows: list[tuple[str, int, str, int]]) -> None:
    async with rt.db.write() as s:
        for kind, gid, scope_kind, scope_id in rows:
            s.add(ChatGroup(platform="qq", group_id=str(gid), kind=kind, scope_kind=scope_kind,
                            scope_id=scope_id))


def html_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def open_round(rt: Runtime, peer: OneBotPeer) -> int:
    sent = await peer.ask(10002, "/排查 发起 来自A地区人员排查 截止 明天18:00", group_id=WORK)
    assert "#1" in sent.text, sent.text
    async with rt.db.read() as s:
        return (await s.exec(select(CheckinRound.id))).one()


@pytest.fixture
async def work(peer: OneBotPeer, street: Runtime) -> OneBotPeer:
    await add_groups(street, [("work", WORK, "all", 0)])
    return peer


async def unit_id(rt: Runtime, building: int, unit: int) -> int:
    from storage.models import Building

    async with rt.db.read() as s:
        return (await s.exec(select(Unit.id).join(Building, col(Building.id) == Unit.building_id)
                             .where(Building.number == building, Unit.number == unit))).one()


# --- login ---------------------------------------------------------------------------


async def test_a_login_link_works_once_and_only_in_private(work: OneBotPeer, street: Runtime):
    sent = await work.ask(10002, "/后台", group_id=WORK)
    assert "私聊" in sent.text and "/console/" not in sent.text
    sent = await work.ask(10002, "/后台")
    assert "10分钟内有效" in sent.text
    path = link_in(sent.text, "login")
    async with console_client() as web:
        first = await web.get(path)
        assert first.status_code == 303 and first.headers["location"] == "/console/"
        cookie = first.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
        page = await web.get("/console/")
        assert page.status_code == 200 and "概览" in page.text
    async with console_client() as other:
        again = await other.get(path)
        assert again.status_code == 403 and "链接已失效" in again.text
        assert "set-cookie" not in again.headers
        assert (await other.get("/console/")).status_code == 401
    async with street.db.read() as s:
        actions = (await s.exec(select(AuditLog.action).where(
            col(AuditLog.action).like("console_%")))).all()
    assert actions == ["console_link", "console_login", "console_login_refused"]


async def test_a_link_expires_after_ten_minutes(street: Runtime):
    clock = street.clock
    assert isinstance(clock, ManualClock)
    async with street.db.write() as s:
        token = await links.issue_link(s, STAFF, links.LINK_LOGIN, street.now())
    clock.advance(timedelta(minutes=10, seconds=1))
    async with console_client() as web:
        assert (await web.get(f"/console/login/{token}")).status_code == 403


async def test_logout_in_chat_ends_every_session(peer: OneBotPeer, street: Runtime):
    async with console_client() as phone, console_client() as desk:
        await console_login(street, phone, STAFF)
        await console_login(street, desk, STAFF)
        assert (await desk.get("/console/")).status_code == 200
        sent = await peer.ask(10002, "/后台 退出")
        assert "2个登录已失效" in sent.text
        assert (await phone.get("/console/")).status_code == 401
        assert (await desk.get("/console/rounds")).status_code == 401


async def test_a_session_lasts_eight_hours(street: Runtime):
    async with console_client() as web:
        await console_login(street, web, STAFF)
        street.clock.advance(timedelta(hours=7, minutes=59))  # type: ignore[attr-defined]
        assert (await web.get("/console/")).status_code == 200
        street.clock.advance(timedelta(minutes=2))  # type: ignore[attr-defined]
        assert (await web.get("/console/")).status_code == 401


async def test_logins_are_rate_limited(street: Runtime):
    async with console_client() as web:
        answers = [(await web.get(f"/console/login/guess{i}")).status_code for i in range(12)]
    assert answers[:10] == [403] * 10 and answers[10:] == [429, 429]


async def test_a_person_without_a_console_role_gets_no_session(street: Runtime):
    async with console_client() as web:
        await console_login(street, web, NOBODY)  # the link works, the role does not
        assert (await web.get("/console/")).status_code == 403


# --- every page and action, for each role ----------------------------------------------


def pages(round_id: int, own_unit: int, other_unit: int) -> dict[str, str]:
    return {
        "overview": "/console/",
        "rounds": "/console/rounds",
        "round": f"/console/rounds/{round_id}",
        "round_live": f"/console/rounds/{round_id}/live",
        "own_history": f"/console/rounds/{round_id}/units/{own_unit}",
        "other_history": f"/console/rounds/{round_id}/units/{other_unit}",
        "export": f"/console/rounds/{round_id}/export",
        "roster": "/console/roster",
        "roster_download": "/console/roster/download",
        "groups": "/console/groups",
        "broadcast": "/console/broadcast",
        "broadcast_report": "/console/broadcast/1",
        "broadcast_live": "/console/broadcast/1/live",
        "publicity": "/console/publicity",
        "quarantine": "/console/quarantine",
        "incidents": "/console/incidents",
        "tasks": "/console/tasks",
        "audit": "/console/audit",
    }


LEADER_OPENS = {"overview", "rounds", "round", "round_live", "own_history"}
STAFF_OPENS = set(pages(0, 0, 0)) - {"audit"}
ADMIN_OPENS = set(pages(0, 0, 0))
ACTIONS = ("/console/roster/preview", "/console/roster/apply", "/console/roster/discard",
           "/console/broadcast/preview", "/console/broadcast/1/confirm",
           "/console/broadcast/1/cancel", "/console/logout")


@pytest.mark.parametrize(("account", "opens"), [
    (UNIT_1_1, LEADER_OPENS), (BUILDING, LEADER_OPENS), (STAFF, STAFF_OPENS),
    (ADMIN, ADMIN_OPENS),
], ids=["单元长", "楼长", "工作人员", "管理员"])
async def test_each_role_opens_exactly_its_pages(
    work: OneBotPeer, street: Runtime, account: str, opens: set[str]
):
    round_id = await open_round(street, work)
    own = await unit_id(street, 1, 1)  # 李秀英's unit, in 王建国's building
    other = await unit_id(street, 3, 2)
    await a_broadcast(street)
    async with console_client() as web:
        await console_login(street, web, account)
        got = {name: (await web.get(path)).status_code
               for name, path in pages(round_id, own, other).items()}
        if account in (UNIT_1_1, BUILDING):  # with their own valid token, no staff action
            csrf = re.search(r'name="csrf" value="([^"]+)"',
                             (await web.get("/console/")).text).group(1)
            before = dump_db(street, skip=CONSOLE_TABLES)
            for path in ACTIONS[:-1]:  # all but /logout, which is theirs
                response = await web.post(path, data={"csrf": csrf, "text": "通知"})
                assert response.status_code == 403, path
            assert dump_db(street, skip=CONSOLE_TABLES) == before
    assert {name for name, code in got.items() if code == 200} == opens
    assert all(code in (403, 404) for name, code in got.items() if name not in opens), got


async def test_a_unit_leader_sees_only_their_units(work: OneBotPeer, street: Runtime):
    round_id = await open_round(street, work)
    async with console_client() as web:
        await console_login(street, web, UNIT_1_1)
        page = html_text((await web.get(f"/console/rounds/{round_id}")).text)
    assert "已排查 0/18户 · 单元 0/1" in page  # 1栋1单元 only, not the round's 138
    assert "1栋1单元" in page and "3栋" not in page and "孙丽" not in page


async def a_broadcast(rt: Runtime) -> None:
    """Broadcast #1, so that its report pages exist for the roles that may open them."""
    from storage.models_broadcast import Broadcast

    async with rt.db.write() as s:
        s.add(Broadcast(id=1, created_by=STAFF, scope_label="全街道", targets="[]",
                        text="通知", state="preview"))


def forged_cookie() -> str:
    return "eyJhIjoxfQ.forged-signature"


@pytest.mark.parametrize("how", ["none", "forged", "expired_link", "used_link", "revoked"])
async def test_without_a_valid_session_everything_is_refused_and_nothing_changes(
    work: OneBotPeer, street: Runtime, how: str
):
    round_id = await open_round(street, work)
    own, other = await unit_id(street, 1, 1), await unit_id(street, 3, 2)
    await a_broadcast(street)
    async with console_client() as web:
        if how == "forged":
            web.cookies.set("gridbot_console", forged_cookie(), path="/console")
        elif how in ("expired_link", "used_link"):
            async with street.db.write() as s:
                token = await links.issue_link(s, ADMIN, links.LINK_LOGIN, street.now())
            if how == "used_link":
                async with console_client() as first:
                    assert (await first.get(f"/console/login/{token}")).status_code == 303
            else:
                street.clock.advance(timedelta(minutes=11))  # type: ignore[attr-defined]
            assert (await web.get(f"/console/login/{token}")).status_code == 403
        elif how == "revoked":
            await console_login(street, web, ADMIN)
            async with street.db.write() as s:
                await links.revoke_sessions(s, ADMIN, street.now())
        before = dump_db(street, skip=CONSOLE_TABLES)
        for path in pages(round_id, own, other).values():
            response = await web.get(path)
            assert response.status_code in (401, 403), path
            assert "请先登录" in response.text or "链接已失效" in response.text
        for path in ACTIONS:
            response = await web.post(path, data={"csrf": "x", "text": "通知", "scope": ""})
            assert response.status_code in (401, 403), path
    assert dump_db(street, skip=CONSOLE_TABLES) == before


async def test_an_action_without_the_csrf_token_is_refused_and_changes_nothing(
    work: OneBotPeer, street: Runtime
):
    await add_groups(street, [("resident", 700, "all", 0)])
    async with console_client() as web:
        await console_login(street, web, ADMIN)
        before = dump_db(street, skip=CONSOLE_TABLES)
        for path in ACTIONS:
            for data in ({"text": "通知", "scope": ""}, {"csrf": "wrong", "text": "通知"}):
                response = await web.post(path, data=data)
                assert response.status_code == 403, path
                assert "页面已过期" in response.text
        assert dump_db(street, skip=CONSOLE_TABLES) == before
        assert (await web.get("/console/")).status_code == 200  # still logged in


# --- 概览 and 排查 -----------------------------------------------------------------------


async def test_the_overview_shows_coverage_and_the_round_page_follows_reports(
    work: OneBotPeer, street: Runtime
):
    round_id = await open_round(street, work)
    async with console_client() as web:
        await console_login(street, web, STAFF)
        page = await web.get("/console/")
        assert f'data-testid="round-{round_id}"' in page.text
        assert "0/138户" in html_text(page.text)
        live = await web.get(f"/console/rounds/{round_id}/live")
        assert 'hx-trigger="every 3s"' in live.text
        assert "已排查 0/138户 · 单元 0/7" in html_text(live.text)
        sent = await work.ask(30011, "/打卡 1栋1单元 已排查16户 空置2户", group_id=WORK)
        assert "已记入" in sent.text
        live = await web.get(f"/console/rounds/{round_id}/live")
        assert "已排查 18/138户 · 单元 1/7" in html_text(live.text)
        missing = re.findall(r'data-testid="missing-unit">([^：]*)：', live.text)
        assert len(missing) == 6 and "幸福社区/1栋1单元" not in missing  # the list follows too
        chart = re.search(r'id="chart-building"[^>]*data-chart="([^"]*)"', live.text)
        assert chart and "&#34;1栋&#34;, 18, 18" in chart.group(1)


async def test_a_unit_history_shows_amendments(work: OneBotPeer, street: Runtime):
    round_id = await open_round(street, work)
    await work.ask(30011, "/打卡 1栋1单元 已排查16户", group_id=WORK)
    # The note goes to staff privately first; the group's answer follows.
    await work.ask_until(30011, "/打卡 1栋1单元 已排查18户 备注 电话13812345678", "已排查18户",
                         group_id=WORK)
    own = await unit_id(street, 1, 1)
    path = f"/console/rounds/{round_id}/units/{own}"
    async with console_client() as web:
        await console_login(street, web, UNIT_1_1)
        page = html_text((await web.get(path)).text).split("状态", 1)[1]
    assert page.index("16户") < page.index("已更正") < page.index("18户") < page.index("当前")
    assert "有备注" in page and "电话" not in page  # notes are for staff
    async with console_client() as web:
        await console_login(street, web, STAFF)
        page = html_text((await web.get(path)).text)
    assert "13812345678" not in page and "138****5678" in page


async def test_the_round_workbook_downloads_and_is_audited(work: OneBotPeer, street: Runtime):
    round_id = await open_round(street, work)
    await work.ask(30011, "/打卡 1栋1单元 已排查16户", group_id=WORK)
    async with console_client() as web:
        await console_login(street, web, STAFF)
        got = await web.get(f"/console/rounds/{round_id}/export")
    assert got.status_code == 200
    wb = load_workbook(io.BytesIO(got.content), read_only=True)
    rows = list(wb["报告"].iter_rows(values_only=True))
    assert rows[1][4:8] == ("1栋", "1单元", 18, 16)
    async with street.db.read() as s:
        audit = (await s.exec(select(AuditLog).where(AuditLog.action == "console_export"))).one()
    assert audit.actor == STAFF and audit.subject_id == round_id


async def test_an_export_link_is_single_use_and_only_for_its_owner(
    work: OneBotPeer, street: Runtime
):
    await open_round(street, work)
    sent = await work.ask(10002, "/导出")
    assert "data/" not in sent.text and "exports" not in sent.text
    # The workbook as a file too, where QQ can; when the upload is refused, the link
    # that already went out is all there is, and nothing else is said.
    upload = await work.next_action(answer={"status": "failed", "retcode": 100, "data": None})
    assert upload["action"] == "upload_private_file"
    assert upload["params"]["user_id"] == 10002
    await work.no_action()
    path = link_in(sent.text, "download")
    async with console_client() as web:
        assert (await web.get(path)).status_code == 401  # not logged in: still unused
        await console_login(street, web, ADMIN)
        assert (await web.get(path)).status_code == 403  # someone else's link
    async with console_client() as web:
        await console_login(street, web, STAFF)
        got = await web.get(path)
        assert got.status_code == 200 and got.content[:2] == b"PK"
        assert "attachment" in got.headers["content-disposition"]
        assert (await web.get(path)).status_code == 403


# --- 名册 ------------------------------------------------------------------------------


NEW_ROWS = (
    "社区,网格,楼栋,单元,户数,楼长,楼长账号,单元长,单元长账号\n"
    "幸福社区,第二网格,5栋,1单元,20,钱多多,qq:20005,,\n"
    "幸福社区,第二网格,5栋,2单元,{second},钱多多,qq:20005,,\n"
    "幸福社区,第一网格,1栋,1单元,19,王建国,qq:20001,李秀英,qq:30011\n"
)


async def test_a_roster_upload_is_previewed_then_applied_or_refused(street: Runtime):
    async with console_client() as web:
        await console_login(street, web, STAFF)
        csrf = re.search(r'name="csrf" value="([^"]+)"',
                         (await web.get("/console/roster")).text).group(1)
        before = dump_db(street, skip=CONSOLE_TABLES)
        bad = NEW_ROWS.format(second="很多").encode()
        page = await web.post("/console/roster/preview", data={"csrf": csrf},
                              files={"file": ("units.csv", bad, "text/csv")})
        assert page.status_code == 400
        assert re.findall(r'data-testid="row-error">([^<]*)<', page.text) == [
            "第3行：户数“很多”无效"]
        assert dump_db(street, skip=CONSOLE_TABLES) == before

        good = NEW_ROWS.format(second="22").encode()
        page = await web.post("/console/roster/preview", data={"csrf": csrf},
                              files={"file": ("units.csv", good, "text/csv")})
        assert page.status_code == 200
        added = re.findall(r'data-testid="preview-added">([^<]*)<', page.text)
        changed = re.findall(r'data-testid="preview-changed">([^<]*)<', page.text)
        assert added == ["幸福社区/5栋1单元（20户）", "幸福社区/5栋2单元（22户）"]
        assert changed == ["幸福社区/1栋1单元：第一网格、18户 → 第一网格、19户"]
        assert "新账号：1个" in page.text
        assert dump_db(street, skip=CONSOLE_TABLES) == before  # a preview writes nothing
        stage = re.search(r'name="stage" value="([^"]+)"', page.text).group(1)

        applied = await web.post("/console/roster/apply", data={"csrf": csrf, "stage": stage})
        assert 'data-testid="applied"' in applied.text
        again = await web.post("/console/roster/apply", data={"csrf": csrf, "stage": stage})
        assert again.status_code == 400 and "已过期或已处理" in again.text
    async with street.db.read() as s:
        households = (await s.exec(select(Unit.households).order_by(Unit.id))).all()
    assert len(households) == 9 and households[0] == 19 and households[-2:] == [20, 22]


async def test_a_staff_roster_upload_is_for_admins_only(street: Runtime):
    staff_file = "姓名,账号,工作组,管理员\n李干事,qq:10002,数据统计排查组,是\n".encode()
    async with console_client() as web:
        await console_login(street, web, STAFF)
        csrf = re.search(r'name="csrf" value="([^"]+)"',
                         (await web.get("/console/roster")).text).group(1)
        before = dump_db(street, skip=CONSOLE_TABLES)
        page = await web.post("/console/roster/preview", data={"csrf": csrf},
                              files={"file": ("staff.csv", staff_file, "text/csv")})
        assert page.status_code == 400 and "只有管理员能上传" in page.text
        assert dump_db(street, skip=CONSOLE_TABLES) == before


async def test_the_roster_downloads_in_the_import_format(street: Runtime):
    from storage.importer import read_upload, validate

    async with console_client() as web:
        await console_login(street, web, STAFF)
        got = await web.get("/console/roster/download")
    kind, rows = validate(read_upload(got.content, "roster.xlsx"))
    assert kind == "units" and len(rows) == 7
    assert (rows[0].community, rows[0].building, rows[0].unit, rows[0].unit_leader_account) == (
        "幸福社区", 1, 1, "qq:30011")


# --- 广播 ------------------------------------------------------------------------------


async def test_a_broadcast_composed_in_the_console_reaches_the_resident_groups(
    outbox, peer: OneBotPeer, street: Runtime,
):
    await add_groups(street, [("resident", 701, "all", 0), ("resident", 702, "all", 0)])
    async with console_client() as web:
        await console_login(street, web, STAFF)
        compose = (await web.get("/console/broadcast")).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', compose).group(1)
        assert re.findall(r'<option value="([^"]+)">', compose) == [
            "全街道", "幸福社区", "幸福社区/第一网格", "幸福社区/第二网格"]  # the scope picker
        bad = await web.post("/console/broadcast/preview",
                             data={"csrf": csrf, "text": "通知", "scope": "@@@"})
        assert "看不懂范围" in bad.text
        preview = await web.post("/console/broadcast/preview",
                                 data={"csrf": csrf, "text": "今晚八点核酸检测", "scope": "全街道"})
        assert len(re.findall(r'data-testid="target"', preview.text)) == 2
        assert 'data-testid="estimate"' in preview.text
        async with street.db.read() as s:
            assert (await s.exec(select(OutboxItem))).all() == []  # nothing before 确认
        number = re.search(r"/console/broadcast/(\d+)/confirm", preview.text).group(1)
        done = await web.post(f"/console/broadcast/{number}/confirm", data={"csrf": csrf})
        assert done.status_code == 303
        sends = [await peer.expect_send() for _ in range(3)]  # and the report to its author
        groups = [x for x in sends if x.target.startswith("group:")]
        assert sorted(x.target for x in groups) == ["group:701", "group:702"]
        assert {x.text for x in groups} == {"今晚八点核酸检测"}
        await outbox_settled(street)
        report = await web.get(done.headers["location"])
        states = re.findall(r'data-testid="delivery-row" data-state="(\w+)"', report.text)
        assert states == ["sent", "sent"] and "已全部处理" in report.text
        assert "hx-trigger" not in report.text  # settled: it stops polling


async def test_sessions_are_stored_as_digests_only(street: Runtime):
    async with console_client() as web:
        await console_login(street, web, STAFF)
        raw = web.cookies.get("gridbot_console")
    async with street.db.read() as s:
        row = (await s.exec(select(ConsoleSession))).one()
    assert raw and row.token_hash not in raw and len(row.token_hash) == 64


async def test_the_supervision_team_reads_the_audit_log_and_no_places(
    peer: OneBotPeer, street: Runtime
):
    from storage.models import TeamMember
    from storage.repo import ensure_person

    async with street.db.write() as s:
        person = await ensure_person(s, "qq:60001", "纪检员")
        s.add(TeamMember(person_id=person.id, team="纪检监督组"))
    sent = await peer.ask(60001, "/后台")
    async with console_client() as web:
        assert (await web.get(link_in(sent.text, "login"))).status_code == 303
        assert (await web.get("/console/audit")).status_code == 200
        assert "console_login" in (await web.get("/console/audit?action=console_login")).text
        for path in ("/console/groups", "/console/roster", "/console/broadcast",
                     "/console/quarantine"):
            assert (await web.get(path)).status_code == 403, path
        assert "没有您范围内的排查" in (await web.get("/console/rounds")).text


async def test_the_audit_log_filters_by_actor_action_and_date(street: Runtime):
    async with console_client() as web:
        await console_login(street, web, ADMIN)
        await console_login(street, web, STAFF)  # the same browser, now as staff
        await console_login(street, web, ADMIN)
        day = street.now().strftime("%Y-%m-%d")
        rows = (await web.get(f"/console/audit?actor={STAFF}&action=console_login&date={day}"))
        assert len(re.findall(r'data-testid="audit-row"', rows.text)) == 1
        other_day = (street.now() + timedelta(days=1)).strftime("%Y-%m-%d")
        rows = await web.get(f"/console/audit?action=console_login&date={other_day}")
        assert len(re.findall(r'data-testid="audit-row"', rows.text)) == 0
        bad = await web.get("/console/audit?date=昨天")
        assert "看不懂日期" in bad.text
