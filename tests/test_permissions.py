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

# command, who may, success marker, audit action (None = not privileged)
MATRIX = [
    ("/帮助", EVERYONE, "您可以使用的命令", None),
    ("/我的信息", EVERYONE, "账号：qq:", None),
    ("/绑定群 幸福社区/第一网格 工作群", STAFF, "已将本群登记为", "bind_group"),
    ("/解绑群", STAFF, "已取消本群的登记", "unbind_group"),
    ("/任命 qq:40001 志愿者 幸福社区/1栋", ADMINS, "已任命 qq:40001", "appoint"),
    ("/撤销 qq:10003 工作人员", ADMINS, "已撤销 qq:10003", "revoke"),
    ("/邀请 2栋2单元 单元长", STAFF, "邀请码：", "invite"),
]


async def _prepare(peer: OneBotPeer, command: str) -> None:
    if command == "/解绑群":
        sent = await peer.ask(10001, "/绑定群 幸福社区 工作群", group_id=GROUP)
        assert "已将本群登记为" in sent.text


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
    await _prepare(peer, command)
    user_id, card = IDENTITIES[identity]
    before = dump_db(street)
    sent = await peer.ask(user_id, command, group_id=GROUP, card=card)
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
    sent = await peer.ask(55556, f"/绑定 {code}", group_id=GROUP, card="书记")
    assert "绑定成功：孙新" in sent.text
