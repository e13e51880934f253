"""A leader checks in from a WeChat room, over plaintext and over TLS.

The real check-in plugin answers through the real TypeScript gateway; the reply
@-mentions the leader with WeChat's own mention ids.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from storage.models_checkin import CheckinReport
from storage.repo import ALL

from .support import LEADER_ID, LEADER_NAME, ROOM_ID
from .test_plugins_over_wechaty import invite_unit_leader, work_room

# Each test over plaintext and over TLS.
pytestmark = pytest.mark.parametrize("wechat", ["plain", "tls"], indirect=True)


async def test_private_help(wechat) -> None:
    gateway, _ = wechat
    control = gateway.control()
    await control.say_privately(LEADER_ID, "/帮助")
    reply = await control.wait_sent(lambda m: m["conversationId"] == LEADER_ID)
    assert "/我的信息" in reply["text"] and reply["roomId"] is None


async def test_leader_checks_in_from_a_wechat_room(wechat) -> None:
    from plugins.checkin.service import open_round

    gateway, rt = wechat
    control = gateway.control()
    code = await invite_unit_leader(rt, 2, 2)
    await control.say_privately(LEADER_ID, f"/绑定 {code}")
    await control.wait_sent(lambda m: "绑定成功" in m["text"])
    async with rt.db.write() as s:
        s.add(work_room())
        opened = await open_round(s, actor="qq:10002", title="返乡人员排查", scope=ALL,
                                  deadline=rt.now() + timedelta(days=2), now=rt.now())
    await control.clear_sent()

    await control.leader_mentions_bot("/打卡 已排查20户 隔离1")
    reply = await control.wait_sent(lambda m: m["conversationId"] == ROOM_ID, timeout=10)
    assert reply["text"].startswith(f"@{LEADER_NAME}")
    assert LEADER_ID in reply["mentionIds"]
    assert "2栋2单元：已排查20户，返区0，隔离1，异常0" in reply["text"]
    async with rt.db.read() as s:
        report = (await s.exec(select(CheckinReport))).one()
    assert (report.round_id, report.households, report.isolated) == (opened.round.id, 20, 1)
    assert report.reporter == f"wx:{LEADER_ID}"
