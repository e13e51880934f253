"""How leaders really start a command, over the real OneBot protocol: the full-width
slash of a phone keyboard, a leading @bot, and a mistyped command, which gets a
one-line answer with the likely command instead of silence (and changes nothing)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.runtime import Runtime
from ground.grammar import suggestion
from tests.conftest import BOT_ID, dump_db
from tests.onebot import OneBotPeer
from tests.strategies import FUZZ

ADMIN = 10001
LEADER = 30011  # 单元长 of 幸福社区 1栋1单元
WORK, RESIDENTS, UNBOUND = 810001, 810002, 810003


async def bound(peer: OneBotPeer) -> None:
    for gid, kind in ((WORK, "工作群"), (RESIDENTS, "居民群")):
        sent = await peer.ask(ADMIN, f"/绑定群 幸福社区 {kind}", group_id=gid)
        assert "已将本群登记为" in sent.text
    sent = await peer.ask(ADMIN, "/排查 发起 返区人员排查 截止 2天", group_id=WORK)
    assert "已发起排查 #1" in sent.text


async def test_full_width_slash_and_leading_at_start_a_command(
    peer: OneBotPeer, street: Runtime
) -> None:
    await bound(peer)
    sent = await peer.ask(LEADER, "／打卡 已排查16户", group_id=WORK)
    assert "1栋1单元" in sent.text and "16" in sent.text, sent.text
    await peer.ws.send_json(peer._base() | {
        "message_type": "group", "sub_type": "normal", "group_id": WORK, "user_id": LEADER,
        "anonymous": None, "raw_message": "@bot /打卡 已排查18户",
        "message": [{"type": "at", "data": {"qq": str(BOT_ID)}},
                    {"type": "text", "data": {"text": " /打卡 已排查18户"}}],
        "sender": {"user_id": LEADER, "nickname": "居民", "card": "", "role": "member"},
    })
    sent = await peer.expect_send()
    assert "1栋1单元" in sent.text and "18" in sent.text, sent.text
    sent = await peer.ask(LEADER, "／帮助")
    assert "/打卡" in sent.text


UNKNOWN = [
    # typed, where, expected answer (None: silence)
    ("/大卡 已排查18户", WORK, "没有“/大卡”这个命令，是不是 /打卡？发送 /帮助 查看全部"),
    ("/大卡已排查18户", WORK, "没有“/大卡已排查18户”这个命令，是不是 /打卡？发送 /帮助 查看全部"),
    ("／进渡", None, "没有“/进渡”这个命令，是不是 /进度？发送 /帮助 查看全部"),
    # The word a leader types to take a report back suggests that form, not /撤销 (roles).
    ("/撤回", WORK, "没有“/撤回”这个命令，是不是 /打卡 撤销？发送 /帮助 查看全部"),
    ("/啊哈哈", None, "没有“/啊哈哈”这个命令，发送 /帮助 查看全部"),
    ("/13812345678", WORK, "没有“/138****5678”这个命令，发送 /帮助 查看全部"),
    ("/大卡 已排查18户", RESIDENTS, None),
    ("/大卡 已排查18户", UNBOUND, None),
    ("打卡的事明天再说", WORK, None),  # no command start: chatter
]


@pytest.mark.parametrize(("typed", "where", "expected"), UNKNOWN)
async def test_an_unknown_command_gets_one_line_or_silence(
    peer: OneBotPeer, street: Runtime, typed: str, where: int | None, expected: str | None
) -> None:
    await bound(peer)
    before = dump_db(street)
    if expected is None:
        await peer.group_message(LEADER, where, typed)
        await peer.no_action()
    else:
        sent = await peer.ask(LEADER, typed, group_id=where)
        assert sent.text == expected
        assert sent.ats == ([str(LEADER)] if where else [])
    assert dump_db(street) == before


def test_suggestion_compares_the_leading_characters() -> None:
    names = ["打卡", "进度", "排查", "我的信息", "帮助"]
    assert suggestion("大卡", names) == "打卡"
    assert suggestion("大卡已排查18户", names) == "打卡"
    assert suggestion("进渡", names) == "进度"
    assert suggestion("啊哈哈", names) is None
    assert suggestion("", names) is None


HELP = [
    # asked, the reply starts with
    ("/帮助 打卡", "/打卡 [#N] [单元]"),
    ("/帮助 /打卡", "/打卡 [#N] [单元]"),
    ("/帮助 ／排查", "/排查 发起"),
    ("/帮助 大卡", "没有“/大卡”这个命令，是不是 /打卡？发送 /帮助 查看全部"),
]


@pytest.mark.parametrize(("asked", "starts"), HELP)
async def test_help_for_one_command(
    peer: OneBotPeer, street: Runtime, asked: str, starts: str
) -> None:
    sent = await peer.ask(LEADER, asked)
    assert sent.text.startswith(starts), sent.text
    if "没有" not in starts:
        assert sent.text.count("例") >= 1  # its examples come along


async def test_help_lists_commands_under_their_headings(
    peer: OneBotPeer, street: Runtime
) -> None:
    sent = await peer.ask(ADMIN, "/帮助")
    lines = sent.text.splitlines()
    assert lines[0] == "您可以使用的命令：" and lines[1] == "【基础】"
    headings = [line for line in lines if line.startswith("【")]
    assert {"【基础】", "【排查打卡】", "【宣传】", "【花名册】"} <= set(headings)
    assert len(headings) == len(set(headings))  # each heading once


BARE = [
    # typed without the slash, where, the answer starts with (None: silence)
    ("打卡 1栋1单元 已排查18户", WORK, "1栋1单元：已排查18户"),
    ("打卡 排查了十六户", WORK, "1栋1单元：已排查16户"),
    ("进度", WORK, None),  # answered: checked below by its marker
    ("帮助", None, "您可以使用的命令："),
    ("我的打卡", None, "#1「返区人员排查」"),
    ("打卡的事明天再说", WORK, None),
    ("进度怎么样了", WORK, None),
    ("帮助一下大家", WORK, None),
    ("打卡 已排查18户", RESIDENTS, None),
    ("打卡 已排查18户", UNBOUND, None),
]


@pytest.mark.parametrize(("typed", "where", "starts"), BARE)
async def test_a_command_word_without_the_slash(
    peer: OneBotPeer, street: Runtime, typed: str, where: int | None, starts: str | None
) -> None:
    await bound(peer)
    if typed == "进度":
        sent = await peer.ask(LEADER, typed, group_id=where)
        assert "#1" in sent.text and "返区人员排查" in sent.text
        return
    before = dump_db(street)
    if starts is None:
        await peer.group_message(LEADER, where, typed)
        await peer.no_action()
        assert dump_db(street) == before
    else:
        sent = await peer.ask(LEADER, typed, group_id=where)
        assert sent.text.startswith(starts), sent.text


CHAT = (
    "的了是我你他们好吗明天再说这个事情怎么样知道谢谢大家注意安全请问什么时候完成没有问题"
    "收到辛苦，。！？ "
)


@FUZZ
@given(word=st.sampled_from(("打卡", "进度", "帮助", "未报", "我的打卡")),
       rest=st.text(alphabet=CHAT, min_size=1, max_size=24).filter(str.strip))
def test_chatter_starting_with_a_command_word_is_left_alone(word: str, rest: str) -> None:
    """Ordinary sentences (no counts, no round numbers) are never taken as commands, so
    they are never answered, with an error or otherwise, and never record anything."""
    from bot.router import bare_command, bare_forms, routed_commands

    assert bare_command(word + rest, bare_forms(routed_commands())) is None
