"""Roster commands over the real OneBot v11 WebSocket protocol."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import func, select

from bot.runtime import Runtime
from storage.models import Account, AuditLog, ChatGroup, Invite, RoleGrant, TeamMember
from storage.repo import roles_of_account
from tests.conftest import dump_db
from tests.helpers import as_answered
from tests.onebot import OneBotPeer

GROUP = 700001


async def count(rt: Runtime, model) -> int:
    async with rt.db.read() as s:
        return (await s.exec(select(func.count()).select_from(model))).one()


async def audit_actions(rt: Runtime) -> list[tuple[str, str]]:
    async with rt.db.read() as s:
        rows = (await s.exec(select(AuditLog).order_by(AuditLog.id))).all()
    return [(r.actor, r.action) for r in rows]


async def test_help_is_role_aware(peer: OneBotPeer) -> None:
    admin = await peer.ask(10001, "/帮助")
    resident = await peer.ask(55555, "/帮助")
    for cmd in ("/任命", "/撤销", "/邀请", "/绑定群"):
        assert cmd in admin.text
        assert cmd not in resident.text
    assert "/我的信息" in resident.text and "/绑定" in resident.text
    staff = await peer.ask(10002, "/帮助")
    assert "/邀请" in staff.text and "/任命" not in staff.text


async def test_my_info_shows_roles_and_teams(peer: OneBotPeer) -> None:
    sent = await peer.ask(10002, "/我的信息")
    assert "李干事" in sent.text
    assert "工作人员（全部）" in sent.text
    assert "数据统计排查组" in sent.text and "四人一专班" in sent.text
    leader = await peer.ask(30011, "/我的信息")
    assert "单元长（幸福社区/1栋1单元）" in leader.text
    stranger = await peer.ask(55555, "/我的信息")
    assert "/绑定" in stranger.text


async def test_bind_and_unbind_group(peer: OneBotPeer, street: Runtime) -> None:
    sent = await peer.ask(10002, "/绑定群 幸福社区/第一网格 工作群", group_id=GROUP)
    assert sent.target == f"group:{GROUP}"
    assert "幸福社区/第一网格" in sent.text and "工作群" in sent.text and "4 个单元" in sent.text
    async with street.db.read() as s:
        g = (await s.exec(select(ChatGroup))).one()
    assert (g.platform, g.group_id, g.kind, g.scope_kind) == ("qq", str(GROUP), "work", "grid")
    assert g.bot_id == "8888"
    # Re-binding the same group updates it instead of adding a second row.
    await peer.ask(10002, "/绑定群 幸福社区/3栋 居民群", group_id=GROUP)
    assert await count(street, ChatGroup) == 1
    # A relative scope typed inside a bound group resolves within it.
    await peer.ask(10002, "/绑定群 全部 四人一专班", group_id=GROUP + 1)
    async with street.db.read() as s:
        team = (await s.exec(select(ChatGroup).where(ChatGroup.team == "四人一专班"))).one()
    assert team.kind == "team"
    sent = await peer.ask(10002, "/解绑群", group_id=GROUP)
    assert "取消" in sent.text
    assert await count(street, ChatGroup) == 1
    assert ("qq:10002", "unbind_group") in await audit_actions(street)


async def test_bind_group_needs_a_group(peer: OneBotPeer, street: Runtime) -> None:
    sent = await peer.ask(10002, "/绑定群 幸福社区 工作群")
    assert "群里使用" in sent.text
    assert await count(street, ChatGroup) == 0


async def test_appoint_with_expiry_and_revoke(peer: OneBotPeer, street: Runtime) -> None:
    sent = await peer.ask(10001, "/任命 qq:40001 志愿者 幸福社区/1栋 至 2小时")
    assert "已任命 qq:40001" in sent.text and "志愿者" in sent.text and "有效至" in sent.text
    now = street.now()
    async with street.db.read() as s:
        assert "志愿者" in await roles_of_account(s, "qq:40001", now)
        assert "志愿者" not in await roles_of_account(s, "qq:40001", now + timedelta(hours=3))
    # The grant expires by itself: with the clock 3 h on, the role is gone.
    street.clock = lambda: now + timedelta(hours=3)
    info = await peer.ask(40001, "/我的信息")
    assert "志愿者" not in info.text
    street.clock = lambda: now
    sent = await peer.ask(10001, "/任命 qq:40001 四人一专班")
    assert "加入四人一专班" in sent.text
    sent = await peer.ask(10001, "/撤销 qq:40001 志愿者")
    assert "已撤销" in sent.text
    async with street.db.read() as s:
        assert "志愿者" not in await roles_of_account(s, "qq:40001", now)
    actions = await audit_actions(street)
    assert actions.count(("qq:10001", "appoint")) == 2
    assert ("qq:10001", "revoke") in actions


async def test_appoint_unit_leader_needs_unit(peer: OneBotPeer, street: Runtime) -> None:
    before = dump_db(street)
    sent = await peer.ask(10001, "/任命 qq:40002 单元长")
    assert "需要指定单元" in sent.text
    assert dump_db(street) == before
    sent = await peer.ask(10001, "/任命 qq:40002 单元长 幸福社区/2栋2单元")
    assert "幸福社区/2栋2单元" in sent.text
    # Inside a group bound to 第二网格, a relative unit resolves there; outside it is refused.
    await peer.ask(10002, "/绑定群 幸福社区/第二网格 工作群", group_id=GROUP)
    sent = await peer.ask(10001, "/任命 qq:40003 楼长 3栋", group_id=GROUP)
    assert "幸福社区/3栋" in sent.text
    before = dump_db(street)
    sent = await peer.ask(10001, "/任命 qq:40003 楼长 1栋", group_id=GROUP)
    assert "不在本群负责的范围内" in sent.text
    assert dump_db(street) == before


async def test_invite_and_redeem(peer: OneBotPeer, street: Runtime) -> None:
    sent = await peer.ask(10002, "/邀请 2栋2单元 单元长")
    code = sent.text.split("邀请码：", 1)[1].split()[0]
    assert len(code) == 6
    async with street.db.read() as s:
        invite = await s.get(Invite, code)
        assert invite is not None and invite.used_at is None
    # The roster's 周敏 (no account yet) is the person who gets bound.
    sent = await peer.ask(30022, f"/绑定 {code.lower()}")
    assert "绑定成功：周敏" in sent.text and "幸福社区/2栋2单元" in sent.text
    async with street.db.read() as s:
        assert "单元长" in await roles_of_account(s, "qq:30022", street.now())
        grants = (await s.exec(select(RoleGrant).where(RoleGrant.role == "单元长"))).all()
    assert len(grants) == 6  # the roster's six named unit leaders, no duplicate
    again = await peer.ask(30023, f"/绑定 {code}")
    assert "无效" in again.text
    async with street.db.read() as s:
        assert await s.get(Account, "qq:30023") is None


async def test_wechat_rebind_keeps_person(peer: OneBotPeer, street: Runtime) -> None:
    """A changed WeChat id is re-bound by a new code; roles stay with the person."""
    from plugins.roster import service

    async with street.db.write() as s:
        inv = await service.create_invite(
            s, inviter=service.Inviter("qq:10001", admin=True), role="工作人员", unit=None,
            name="赵新人",
            ttl=timedelta(hours=1), now=street.now(),
        )
        await service.redeem(s, account="wx:wxid_old", code=inv.code, now=street.now())
        inv2 = await service.create_invite(
            s, inviter=service.Inviter("qq:10001", admin=True), role="工作人员", unit=None,
            name="赵新人",
            ttl=timedelta(hours=1), now=street.now(),
        )
        result = await service.redeem(
            s, account="wx:wxid_new", code=inv2.code, now=street.now()
        )
        assert result.rebound_from == ["wx:wxid_old"]
    async with street.db.read() as s:
        assert await s.get(Account, "wx:wxid_old") is None
        new = await s.get(Account, "wx:wxid_new")
        assert new is not None
        assert "工作人员" in await roles_of_account(s, "wx:wxid_new", street.now())


async def test_cq_codes_in_input_stay_text(peer: OneBotPeer, street: Runtime) -> None:
    sent = await peer.ask(10001, "/任命 qq:40001 [CQ:at,qq=all]")
    assert sent.ats == []
    assert all(seg["type"] == "text" for seg in sent.segments)
    assert "[CQ:at,qq=all]" in sent.text
    sent = await peer.ask(10002, "/绑定群 {{''.__class__}} 工作群", group_id=GROUP)
    assert "<class" not in sent.text
    assert await count(street, ChatGroup) == 0


async def test_group_card_grants_nothing(peer: OneBotPeer, street: Runtime) -> None:
    await peer.ask(10001, "/绑定群 幸福社区 工作群", group_id=GROUP)
    before = dump_db(street)
    sent = await peer.ask(55556, "/任命 qq:40001 管理员", group_id=GROUP, card="书记")
    assert "没有使用这个命令的权限" in sent.text
    sent = await peer.ask(55556, "/绑定群 全部 工作群", group_id=GROUP, card="管理员")
    assert "没有使用这个命令的权限" in sent.text
    assert dump_db(street) == before


async def test_self_and_system_messages_are_ignored(peer: OneBotPeer) -> None:
    await peer.private_message(8888, "/帮助")
    await peer.no_action()
    await peer.group_message(10000, GROUP, "/帮助")
    await peer.no_action()


@pytest.mark.parametrize(
    "text",
    [
        "/任命",
        "/任命 qq:40001",
        "/任命 qq:40001 志愿者 幸福社区/1栋 至",
        "/任命 qq:40001 志愿者 至 下辈子",
        "/任命 qq:40001 志愿者 ???",
        "/撤销",
        "/撤销 qq:40001",
        "/邀请",
        "/邀请 2栋2单元",
        "/绑定",
        "/绑定 !!",
        "/绑定 a b",
        "/解绑群 多余",
        "/绑定群",
        "/绑定群 幸福社区/第一网格",
        "/绑定群 ??? 工作群",
    ],
)
async def test_malformed_answers_usage_and_changes_nothing(
    peer: OneBotPeer, street: Runtime, text: str
) -> None:
    command = text.split()[0][1:]
    usage_name = {
        "任命": "appoint", "撤销": "revoke", "邀请": "invite", "绑定": "redeem",
        "解绑群": "unbind_group", "绑定群": "bind_group",
    }[command]
    if command == "解绑群":  # in a bound group: an unbound one only runs /帮助 and /绑定群
        await peer.ask(10001, "/绑定群 幸福社区 工作群", group_id=GROUP)
    before = dump_db(street)
    sent = await peer.ask(10001, text, group_id=in_group(text))
    assert sent.text == as_answered(
        street.renderer, street.renderer.render(f"usage/{usage_name}"), text)
    assert dump_db(street) == before


def in_group(text: str) -> int | None:
    """Group binding is typed in the group; the rest privately (an unbound group
    runs only /帮助 and /绑定群, and invite codes never go to a group)."""
    return GROUP if text.startswith(("/绑定群", "/解绑群")) else None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/任命 qq:abc 志愿者", "格式不对"),
        ("/任命 qq:40001 国王", "无法识别"),
        ("/任命 qq:40001 志愿者 火星社区/1栋", "没有找到社区"),
        ("/任命 qq:40001 志愿者 幸福社区/99栋", "没有找到楼栋"),
        ("/撤销 qq:40001 志愿者", "还没有登记"),
        ("/撤销 qq:10003 管理员", "没有管理员角色"),
        ("/邀请 9栋9单元 单元长", "没有找到楼栋"),
        ("/邀请 李明 单元长", "请写单元"),
        ("/绑定 ZZZZZZ", "无效"),
        ("/绑定群 幸福社区/1-2栋 工作群", "包含多栋楼"),
        ("/绑定群 幸福社区 国王群", "群类型"),
        ("/解绑群", "还没有登记"),
    ],
)
async def test_rejected_input_explains_and_changes_nothing(
    peer: OneBotPeer, street: Runtime, text: str, expected: str
) -> None:
    before = dump_db(street)
    sent = await peer.ask(10001, text, group_id=in_group(text))
    assert expected in sent.text
    # A failed /绑定 is audited (guessing is throttled on it); nothing else changes.
    after = [row for row in dump_db(street) if "redeem_failed" not in row]
    assert after == before


async def test_team_membership_via_import(street: Runtime) -> None:
    async with street.db.read() as s:
        teams = (await s.exec(select(TeamMember.team))).all()
    expected = ["综合协调组", "数据统计排查组", "四人一专班", "宣传教育组", "流调组"]
    assert sorted(teams) == sorted(expected)
