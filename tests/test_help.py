"""/帮助 as people use it, over the real OneBot protocol: a leader's starts with
what a leader does every day, and anyone's shows their own most-used commands
before the full list; the counts survive a restart (they are in the database)."""

from __future__ import annotations

from bot.runtime import Runtime
from tests.onebot import OneBotPeer

ADMIN = 10001
STAFF = 10002
LEADER = 30011  # 单元长 of 幸福社区 1栋1单元
WORK = 830001


def _section(text: str, heading: str) -> list[str]:
    lines = text.splitlines()
    if heading not in lines:
        return []
    rest = lines[lines.index(heading) + 1:]
    return [line for line in rest[: next((i for i, x in enumerate(rest) if x.startswith("【")),
                                         len(rest))]]


async def test_a_leaders_help_starts_with_the_daily_commands(
    peer: OneBotPeer, street: Runtime
) -> None:
    sent = await peer.ask(LEADER, "/帮助")
    lines = sent.text.splitlines()
    assert lines[:2] == ["您可以使用的命令：", "【每天要做的】"]
    daily = _section(sent.text, "【每天要做的】")
    assert [line.split()[0] for line in daily[:3]] == ["/打卡", "/我的打卡", "/进度"]
    assert daily[3] == "撤回报错的打卡：/打卡 撤销"
    # Staff do many things: no daily section for them.
    staff = await peer.ask(STAFF, "/帮助")
    assert "【每天要做的】" not in staff.text and staff.text.splitlines()[1] == "【基础】"


async def test_help_shows_the_senders_most_used_commands_first(
    peer: OneBotPeer, street: Runtime
) -> None:
    await peer.ask(ADMIN, "/绑定群 幸福社区 工作群", group_id=WORK)
    for _ in range(3):
        await peer.ask(STAFF, "/我的信息")
    await peer.ask(STAFF, "/排查 列表", group_id=WORK)
    sent = await peer.ask(STAFF, "/帮助")
    frequent = _section(sent.text, "【您常用的】")
    assert [line.split()[0] for line in frequent] == ["/我的信息", "/排查"], sent.text
    assert sent.text.splitlines()[1] == "【您常用的】"
    # Someone else's habits are not theirs; /帮助 itself is never listed.
    other = await peer.ask(LEADER, "/帮助")
    assert "【您常用的】" not in other.text
    admin = await peer.ask(ADMIN, "/帮助")  # who bound the group once
    assert _section(admin.text, "【您常用的】")[0].startswith("/绑定群")
    # The counts are in the database: a fresh counter (a restart) reads the same.
    from bot.usage import UsageCounter

    street.usage = UsageCounter()
    used = await street.usage.most_used(street.db, f"qq:{STAFF}", street.now())
    assert [name for name in used if name != "帮助"][:2] == ["我的信息", "排查"]
