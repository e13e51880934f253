"""No console page a leader can open shows a resident's name, phone, ID number or
room, and staff lists show them masked (DESIGN.md §4). Generated people are typed
into every free-text field over the real OneBot WebSocket (备注, 事件 说明 and 房号) and
stored as quarantined residents; then every page is rendered and searched."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import select

from bot.runtime import Runtime
from storage.models import CheckinRound, Quarantine, Unit
from tests.helpers import console_client, console_login
from tests.onebot import OneBotPeer
from tests.test_group_privacy_fuzz import Resident, drain, each_resident, leaks

WORK1, WORK2 = 781001, 781002
LEADERS = ("qq:30011", "qq:20001")  # 1栋1单元's 单元长, 1栋's 楼长
STAFF = "qq:10002"


def text_of(html: str) -> str:
    """What a person reads: the text, and the values of attributes (chart data)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)) + " ".join(
        re.findall(r'="([^"]*)"', html))


async def prepare(peer: OneBotPeer, street: Runtime) -> None:
    for gid, args in ((WORK1, "幸福社区/第一网格 工作群"), (WORK2, "幸福社区/第二网格 工作群")):
        sent = await peer.ask(10002, f"/绑定群 {args}", group_id=gid)
        assert "已将本群登记为" in sent.text
    opened = await peer.ask(10002, "/排查 发起 返区人员排查 截止 2天", group_id=WORK1)
    assert "#1" in opened.text


_ready: set[int] = set()


@each_resident
async def test_no_console_page_shows_a_resident(
    peer: OneBotPeer, street: Runtime, resident: Resident
) -> None:
    if id(street) not in _ready:  # the fixtures live across the examples
        street.settings.console_logins_per_minute = 1000  # three logins per example
        await prepare(peer, street)
        _ready.add(id(street))
    blurb = resident.blurb
    await peer.group_message(30011, WORK1, f"/打卡 #1 1栋1单元 已排查18户 异常1 备注 {blurb}")
    await drain(peer, 1)
    await peer.group_message(30011, WORK1, f"/事件 私自外出 1栋1单元 {resident.room} {blurb}")
    await drain(peer, 1)
    async with street.db.write() as s:
        unit = (await s.exec(select(Unit).order_by(Unit.id))).first()
        today = street.now().date()
        s.add(Quarantine(unit_id=unit.id, room=resident.room, name=resident.name,
                         start_date=today, days=14, end_date=today + timedelta(days=14),
                         created_by=STAFF))
        round_id = (await s.exec(select(CheckinRound.id))).one()
    leader_pages = ["/console/", "/console/rounds", f"/console/rounds/{round_id}",
                    f"/console/rounds/{round_id}/live",
                    f"/console/rounds/{round_id}/units/{unit.id}"]
    for account in LEADERS:
        async with console_client() as web:
            await console_login(street, web, account)
            for path in leader_pages:
                page = await web.get(path)
                assert page.status_code == 200, (account, path)
                assert leaks(resident, text_of(page.text)) == [], (account, path)
            for path in ("/console/quarantine", "/console/incidents", "/console/audit"):
                assert (await web.get(path)).status_code == 403
    async with console_client() as web:
        await console_login(street, web, STAFF)
        for path in ("/console/quarantine", "/console/incidents", "/console/tasks",
                     "/console/", "/console/audit"):
            page = await web.get(path)
            if path == "/console/audit":
                assert page.status_code == 403
                continue
            assert leaks(resident, text_of(page.text)) == [], path
        # A note is a leader's free text: staff read it with phones, IDs and rooms masked.
        page = await web.get(f"/console/rounds/{round_id}/units/{unit.id}")
        assert leaks(resident, text_of(page.text), names=False) == []
