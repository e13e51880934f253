"""Every roster command x every kind of sender: only the intended identities succeed.

Refusals are polite and change nothing; each privileged success is audited.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.runtime import Runtime
from storage.models import AuditLog
from tests.conftest import dump_db
from tests.onebot import OneBotPeer

GROUP = 710001
IDENTITIES = {
    "superuser": (99999, ""),
    "admin": (10001, ""),
    "staff": (10002, ""),
    "unit_leader": (30011, ""),
    "resident": (55555, ""),
    "resident_card_书记": (55556, "书记"),
}
STAFF = {"superuser", "admin", "staff"}
ADMINS = {"superuser", "admin"}
EVERYONE = set(IDENTITIES)

# command, who may, success marker, audit action (None = not privileged);
# typed in GROUP once it is bound as a work group, except /绑定群 (in GROUP
# unbound) and /邀请 (private: codes never go to a group).
MATRIX = [
    ("/帮助", EVERYONE, "您可以使用的命令", None),
    ("/我的信息", EVERYONE, "账号：qq:", None),
    ("/绑定群 幸福社区/第一网格 工作群", STAFF, "已将本群登记为", "bind_group"),
    ("/解绑群", STAFF, "已取消本群的登记", "unbind_group"),
    ("/任命 qq:40001 志愿者 幸福社区/1栋", ADMINS, "已任命 qq:40001", "appoint"),
    ("/撤销 qq:10003 工作人员", ADMINS, "已撤销 qq:10003", "revoke"),
    ("/邀请 2栋2单元 单元长", STAFF, "邀请码：", "invite"),
]


async def _prepare(peer: OneBotPeer, command: str) -> int | None:
    """Where the command is typed: the group id, or None for private chat."""
    if command.startswith("/邀请"):
        return None
    if not command.startswith("/绑定群"):
        sent = await peer.ask(10001, "/绑定群 幸福社区 工作群", group_id=GROUP)
        assert "已将本群登记为" in sent.text
    return GROUP


@pytest.mark.parametrize("identity", list(IDENTITIES))
@pytest.mark.parametrize(("command", "allowed", "marker", "action"), MATRIX)
async def test_permission_matrix(
    peer: OneBotPeer,
    street: Runtime,
    identity: str,
    command: str,
    allowed: set[str],
    marker: str,
    action: str | None,
) -> None:
    where = await _prepare(peer, command)
    user_id, card = IDENTITIES[identity]
    before = dump_db(street)
    sent = await peer.ask(user_id, command, group_id=where, **({"card": card} if where else {}))
    if identity in allowed:
        assert marker in sent.text, sent.text
        if action is not None:
            async with street.db.read() as s:
                rows = (await s.exec(select(AuditLog).where(AuditLog.action == action))).all()
            assert any(r.actor == f"qq:{user_id}" for r in rows)
    else:
        assert sent.text == street.renderer.render("common/refused")
        assert dump_db(street) == before


async def test_redeem_is_open_to_everyone_with_a_code(peer: OneBotPeer, street: Runtime) -> None:
    sent = await peer.ask(10002, "/邀请 孙新 志愿者")
    code = sent.text.split("邀请码：", 1)[1].split()[0]
    await peer.ask(10001, "/绑定群 幸福社区 工作群", group_id=GROUP)
    sent = await peer.ask(55556, f"/绑定 {code}", group_id=GROUP, card="书记")
    assert "绑定成功：孙新" in sent.text


# --- invites cannot escalate ---------------------------------------------------------------------

INVITERS = {"superuser": 99999, "admin": 10001, "staff": 10002}
# target person: new (no record), existing (王干事, bound to qq:10003), admin (张主任, qq:10001)
TARGETS = {"new": "孙新", "existing": "王干事", "admin": "张主任"}
ROLES = ["管理员", "工作人员", "志愿者", "四人一专班"]


def invite_allowed(inviter: str, role: str, target: str) -> bool:
    if inviter in ADMINS:
        return True
    # Staff: volunteers only, and only a person nobody has bound yet.
    return role == "志愿者" and target == "new"


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("inviter", list(INVITERS))
async def test_invite_matrix(
    peer: OneBotPeer, street: Runtime, inviter: str, role: str, target: str
) -> None:
    """Inviter role x invited role x target person: an invite never grants more than
    its issuer may, and a bound person is re-bound only by a 管理员."""
    before = dump_db(street)
    sent = await peer.ask(INVITERS[inviter], f"/邀请 {TARGETS[target]} {role}")
    if invite_allowed(inviter, role, target):
        assert "邀请码：" in sent.text, sent.text
    else:
        assert "邀请码" not in sent.text and ("管理员" in sent.text), sent.text
        assert dump_db(street) == before


async def test_unit_invite_of_a_bound_leader_needs_an_admin(
    peer: OneBotPeer, street: Runtime
) -> None:
    """李秀英 (1栋1单元) already uses qq:30011: a staff code would hand her role away."""
    before = dump_db(street)
    sent = await peer.ask(10002, "/邀请 1栋1单元 单元长")
    assert sent.text == "李秀英已经绑定了账号，更换账号需由管理员邀请。"
    assert dump_db(street) == before
    sent = await peer.ask(10001, "/邀请 1栋1单元 单元长")
    assert "邀请码：" in sent.text


async def test_staff_invite_takeover_of_the_admin_is_refused(
    peer: OneBotPeer, street: Runtime
) -> None:
    """The reported takeover: staff invite the 管理员 by name as a volunteer, a
    stranger redeems it and inherits 管理员. Refused at the invite."""
    sent = await peer.ask(10002, "/邀请 张主任 志愿者")
    assert "邀请码" not in sent.text
    assert sent.text == "张主任已经绑定了账号，更换账号需由管理员邀请。"


async def test_staff_cannot_mint_admin_invites(peer: OneBotPeer, street: Runtime) -> None:
    sent = await peer.ask(10002, "/邀请 王五 管理员")
    assert sent.text == "只有管理员可以邀请管理员。"
    async with street.db.read() as s:
        from storage.models import Invite

        assert (await s.exec(select(Invite))).all() == []


async def test_invite_in_a_group_is_refused(peer: OneBotPeer, street: Runtime) -> None:
    sent = await peer.ask(10001, "/绑定群 幸福社区 工作群", group_id=GROUP)
    before = dump_db(street)
    sent = await peer.ask(10002, "/邀请 1栋1单元 单元长", group_id=GROUP)
    assert sent.text == "邀请码只能私下发送，请私聊机器人发送 /邀请。"
    assert dump_db(street) == before


async def test_rebinding_warns_the_old_account_and_the_superusers(
    peer: OneBotPeer, street: Runtime
) -> None:
    sent = await peer.ask(10001, "/邀请 王干事 工作人员")
    code = sent.text.split("邀请码：", 1)[1].split()[0]
    await peer.private_message(40404, f"/绑定 {code}")
    got = {s.target: s.text for s in [await peer.expect_send() for _ in range(3)]}
    assert got["private:40404"].startswith("绑定成功：王干事")
    for old in ("private:10003", "private:99999"):
        assert got[old].startswith("【账号变更】王干事") and "qq:40404" in got[old]


async def test_a_superuser_is_never_rebound(peer: OneBotPeer, street: Runtime) -> None:
    from plugins.roster import service
    from storage.repo import ensure_person

    async with street.db.write() as s:
        person = await ensure_person(s, "qq:99999")
        person.name = "超级管理员"
        s.add(person)
    sent = await peer.ask(10001, "/邀请 超级管理员 工作人员")
    assert sent.text == street.renderer.render("roster/error", code="invite_superuser")
    assert service.REDEEM_MAX_FAILURES == 5


async def test_redeem_guessing_is_throttled_and_audited(
    peer: OneBotPeer, street: Runtime
) -> None:
    for _ in range(5):
        sent = await peer.ask(55555, "/绑定 ABCDEFGH")
        assert "邀请码无效" in sent.text
    good = (await peer.ask(10001, "/邀请 孙新 志愿者")).text.split("邀请码：", 1)[1].split()[0]
    sent = await peer.ask(55555, f"/绑定 {good}")
    assert sent.text == "绑定失败次数过多，请 10 分钟后再试，或向工作人员确认邀请码。"
    async with street.db.read() as s:
        rows = (await s.exec(select(AuditLog).where(AuditLog.action == "redeem_failed"))).all()
    assert len(rows) == 6 and {r.actor for r in rows} == {"qq:55555"}
    street.clock.advance(minutes=11)  # the window has passed
    sent = await peer.ask(55555, f"/绑定 {good}")
    assert sent.text.startswith("绑定成功：孙新")


async def test_holds_decides_every_declared_permission_as_nonebot_does(
    app, street: Runtime
) -> None:
    """The router's in-place decision (`holds`) against NoneBot calling the same
    Permission, for every declared command and every kind of sender."""
    import nonebot
    from nonebot.adapters.onebot.v11 import Adapter, Bot, GroupMessageEvent

    from bot.kit import declared_commands
    from bot.permissions import SUPERUSER, holds

    adapter = Adapter(nonebot.get_driver())
    permissions = {c.permission for c in declared_commands()} | {SUPERUSER}
    assert len(permissions) >= 5
    seen = set()
    for identity, (user_id, card) in IDENTITIES.items():
        event = GroupMessageEvent.model_validate({
            "time": 0, "self_id": 4242, "post_type": "message", "message_type": "group",
            "sub_type": "normal", "message_id": user_id, "group_id": GROUP, "user_id": user_id,
            "message": [{"type": "text", "data": {"text": "/帮助"}}], "raw_message": "/帮助",
            "font": 0, "sender": {"user_id": user_id, "card": card, "role": "member"},
            "original_message": [],
        })
        async with app.test_api() as ctx:
            bot = ctx.create_bot(base=Bot, adapter=adapter, self_id="4242")
            for permission in permissions:
                decided = await holds(permission, bot, event)
                assert decided == await permission(bot, event), (identity, permission)
                seen.add((identity, decided))
    # Both answers occur, for the privileged and for the plain resident alike.
    assert ("resident", False) in seen and ("resident", True) in seen
    assert ("superuser", True) in seen and ("staff", False) in seen
