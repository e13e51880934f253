"""The ways leaders really say a check-in (voice input, hurried typing) are read
as the counts they mean: table-driven over the real OneBot protocol, and fuzzed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.runtime import Runtime
from tests.conftest import dump_db
from tests.helpers import TEST_EPOCH, freeze_clock
from tests.onebot import OneBotPeer
from tests.strategies import FUZZ

ADMIN = 10001
LEADER = 30011  # 单元长 of 幸福社区 1栋1单元 (18 households)
WORK = 820001
OPEN = "/排查 发起 返区人员排查 截止 2天"

FORMS = [
    # typed after /打卡, households, returned, abnormal
    ("已经排查十六户", 16, 0, 0),
    ("排查了16户", 16, 0, 0),
    ("排查完毕18户", 18, 0, 0),
    ("查了十八户", 18, 0, 0),
    ("共18户 无异常", 18, 0, 0),
    ("已排查18户，返区1人，没有异常", 18, 1, 0),
    ("已排查18人 返区2户", 18, 2, 0),
    ("排查十七户 异常一", 17, 0, 1),
]


@pytest.mark.parametrize(("typed", "households", "returned", "abnormal"), FORMS)
async def test_spoken_forms_are_recorded(
    peer: OneBotPeer, street: Runtime, typed: str, households: int, returned: int,
    abnormal: int,
) -> None:
    from sqlmodel import select

    from storage.models import CheckinReport

    sent = await peer.ask(ADMIN, "/绑定群 幸福社区 工作群", group_id=WORK)
    assert "已将本群登记为" in sent.text
    sent = await peer.ask(ADMIN, "/排查 发起 返区人员排查 截止 2天", group_id=WORK)
    assert "已发起排查 #1" in sent.text
    # With 异常 the alert to the work group comes too, before or after the confirmation.
    other: list = []
    sent = await peer.ask_until(LEADER, f"/打卡 {typed}", "已记入 #1", group_id=WORK,
                                other=other)
    assert "1栋1单元" in sent.text, sent.text
    if abnormal and not other:
        other.append(await peer.expect_send())
    assert [o.text.startswith("【异常报告】") for o in other] == ([True] if abnormal else [])
    async with street.db.read() as s:
        rows = (await s.exec(select(CheckinReport))).all()
    assert [(r.households, r.returned, r.abnormal) for r in rows] == [
        (households, returned, abnormal)
    ]


CN = {1: "一", 2: "二", 3: "三", 10: "十", 16: "十六", 18: "十八", 20: "二十", 24: "二十四"}


@FUZZ
@given(
    verb=st.sampled_from(("已经排查", "已排查", "排查完毕", "排查完", "排查了", "排查", "已查",
                          "查了", "共计", "共")),
    n=st.sampled_from(sorted(CN)),
    chinese=st.booleans(),
    suffix=st.sampled_from(("户", "人", "", " 户")),
    tail=st.sampled_from(("", " 无异常", "，没有异常", " 返区0", "、无返区")),
)
def test_every_verb_form_reads_the_count(
    verb: str, n: int, chinese: bool, suffix: str, tail: str
) -> None:
    from plugins.checkin.report import Report, parse_report

    text = f"{verb}{CN[n] if chinese else n}{suffix}{tail}"
    parsed = parse_report(text)
    assert isinstance(parsed, Report), (text, parsed)
    assert (parsed.households, parsed.returned, parsed.abnormal) == (n, 0, 0), text


async def test_an_identical_resend_changes_nothing(peer: OneBotPeer, street: Runtime) -> None:
    from tests.conftest import dump_db

    sent = await peer.ask(ADMIN, "/绑定群 幸福社区 工作群", group_id=WORK)
    sent = await peer.ask(ADMIN, "/排查 发起 返区人员排查 截止 2天", group_id=WORK)
    sent = await peer.ask(LEADER, "/打卡 已排查18户 返区1", group_id=WORK)
    assert "已记入 #1" in sent.text
    before = dump_db(street)
    sent = await peer.ask(LEADER, "/打卡 排查了十八户，返区1人", group_id=WORK)  # same figures
    assert "与上次相同，无需更正" in sent.text and "已更正" not in sent.text, sent.text
    assert dump_db(street) == before
    sent = await peer.ask(LEADER, "/打卡 已排查18户 返区2", group_id=WORK)
    assert "已更正" in sent.text


def test_under_a_minute_reads_as_such(street: Runtime) -> None:
    from types import SimpleNamespace

    from tests.helpers import TEST_EPOCH

    rnd = SimpleNamespace(id=1, title="返区人员排查", deadline=TEST_EPOCH, scope_label="幸福社区",
                          state="open")
    ctx = {"rnd": rnd, "automatic": True, "units": [], "parts": 1, "part": 1, "total": 0}
    text = street.renderer.render("checkin/remind", minutes_left=0, **ctx)
    assert "还剩不到1分钟" in text and "0分钟" not in text
    assert "还剩1小时5分钟" in street.renderer.render("checkin/remind", minutes_left=65, **ctx)


async def test_a_round_opened_twice_does_not_block_the_work_group(
    peer: OneBotPeer, street: Runtime
) -> None:
    """A flaky network sends /排查 发起 twice: staff are asked before a second round
    opens, and the work group keeps reporting without #N either way."""
    freeze_clock(street, TEST_EPOCH)
    await peer.ask(ADMIN, "/绑定群 幸福社区 工作群", group_id=WORK)
    assert "已发起排查 #1" in (await peer.ask(ADMIN, OPEN, group_id=WORK)).text
    before = dump_db(street, skip=("pendingask",))
    sent = await peer.ask(ADMIN, OPEN, group_id=WORK)  # the resend: asked, not opened
    assert sent.text.startswith("「返区人员排查」11-30 10:00刚发起过（#1），是重复发送吗？")
    assert "/确认" in sent.text and "/取消" in sent.text
    assert dump_db(street, skip=("pendingask",)) == before
    sent = await peer.ask(LEADER, "/打卡 已排查18户", group_id=WORK)
    assert "已记入 #1「返区人员排查」" in sent.text, sent.text
    assert "1栋：1/2 已报；幸福社区：1/" in sent.text  # the running tally
    # The staff member meant it after all: /确认 opens the second round, once.
    assert "已发起排查 #2" in (await peer.ask(ADMIN, "/确认", group_id=WORK)).text
    again = await peer.ask(ADMIN, "/确认", group_id=WORK)
    assert again.text == street.renderer.render("usage/confirm")
    # Two open rounds: reports, /进度 and /未报 without #N take the nearest one and
    # say which; nothing is refused as "有多轮排查在进行".
    sent = await peer.ask(LEADER, "/打卡 已排查17户", group_id=WORK)
    assert "已更正 #1「返区人员排查」" in sent.text, sent.text
    for text in ("/进度", "/未报"):
        sent = await peer.ask(ADMIN, text, group_id=WORK)
        assert "#1" in sent.text and "有多轮排查" not in sent.text, (text, sent.text)
        while "#1" not in sent.text.splitlines()[0] and text == "/未报":
            sent = await peer.expect_send()  # the @-mention batches
    await peer.no_action(0.3)
    sent = await peer.ask(LEADER, "/打卡 #2 已排查16户", group_id=WORK)
    assert "已记入 #2「返区人员排查」" in sent.text
    sent = await peer.ask(ADMIN, "/排查 发起 1栋复查 截止 1天 范围 幸福社区/1栋", group_id=WORK)
    assert "已发起排查 #3" in sent.text
    sent = await peer.ask(LEADER, "/打卡 已排查17户", group_id=WORK)
    assert "已记入 #3「1栋复查」" in sent.text, sent.text  # the building round is narrower


async def test_closing_with_units_unreported_asks_first(
    peer: OneBotPeer, street: Runtime
) -> None:
    clock = freeze_clock(street, TEST_EPOCH)
    await peer.ask(ADMIN, "/绑定群 幸福社区 工作群", group_id=WORK)
    await peer.ask(ADMIN, OPEN, group_id=WORK)
    await peer.ask(LEADER, "/打卡 已排查18户", group_id=WORK)
    before = dump_db(street, skip=("pendingask",))
    sent = await peer.ask(ADMIN, "/结束", group_id=WORK)
    assert sent.text.startswith("#1「返区人员排查」还有")
    assert "个单元未报，确定结束吗？" in sent.text and "/确认" in sent.text
    cancelled = await peer.ask(ADMIN, "/取消", group_id=WORK)
    assert cancelled.text.startswith("已取消：结束 #1「返区人员排查」")
    assert dump_db(street) == before  # nothing closed, nothing left pending
    # Asked again and again: the ask is replaced, not stacked; a second kind is listed.
    await peer.ask(ADMIN, "/结束", group_id=WORK)
    await peer.ask(ADMIN, "/结束 #1", group_id=WORK)
    await peer.ask(ADMIN, OPEN, group_id=WORK)  # the same round again: asked too
    listed = await peer.ask(ADMIN, "/确认", group_id=WORK)
    assert listed.text.startswith("您有 2 项待确认")
    assert "/确认 结束 —— 结束 #1「返区人员排查」" in listed.text
    assert "/确认 发起 —— 再发起一轮「返区人员排查」" in listed.text
    # Another chat cannot confirm what was asked here; a leader cannot at all.
    nothing = street.renderer.render("common/nothing_pending")
    assert (await peer.ask(ADMIN, "/确认 结束")).text == nothing
    assert dump_db(street, skip=("pendingask",)) == before
    closed = await peer.ask(ADMIN, "/确认 结束", group_id=WORK)
    assert "已结束" in closed.text and "#1" in closed.text, closed.text
    # The other ask expires after 10 minutes: /确认 then has nothing to act on.
    clock.at = TEST_EPOCH + timedelta(minutes=11)
    late = await peer.ask(ADMIN, "/确认 发起", group_id=WORK)
    assert late.text == nothing
    # A round with every unit reported closes without asking.
    await peer.ask(ADMIN, "/排查 发起 1-1复查 截止 1天 范围 幸福社区/1栋1单元", group_id=WORK)
    await peer.ask(LEADER, "/打卡 #2 已排查18户", group_id=WORK)
    assert "已结束" in (await peer.ask(ADMIN, "/结束 #2", group_id=WORK)).text


async def test_the_open_rounds_are_listed_with_their_coverage(
    peer: OneBotPeer, street: Runtime
) -> None:
    await peer.ask(ADMIN, "/绑定群 幸福社区 工作群", group_id=WORK)
    sent = await peer.ask(ADMIN, "/排查 列表", group_id=WORK)
    assert sent.text.startswith("没有进行中的排查")
    await peer.ask(ADMIN, "/排查 发起 返区人员排查 截止 2天", group_id=WORK)
    await peer.ask(ADMIN, "/排查 发起 1栋复查 截止 1天 范围 幸福社区/1栋", group_id=WORK)
    await peer.ask(LEADER, "/打卡 #1 已排查18户", group_id=WORK)
    before = dump_db(street)
    sent = await peer.ask(LEADER, "/排查 列表", group_id=WORK)
    assert sent.text == street.renderer.render("common/refused")  # staff only, as /排查
    sent = await peer.ask(ADMIN, "/排查 列表", group_id=WORK)
    lines = sent.text.splitlines()
    assert lines[0] == "进行中的排查："
    assert lines[1].startswith("#1「返区人员排查」") and "已报 1/" in lines[1]
    assert "18/" in lines[1]
    assert lines[2].startswith("#2「1栋复查」幸福社区/1栋") and "已报 0/2 个单元" in lines[2]
    assert dump_db(street) == before


async def _current(rt: Runtime) -> list[tuple[int, int, bool]]:
    from sqlmodel import select

    from storage.models import CheckinReport

    async with rt.db.read() as s:
        rows = (await s.exec(select(CheckinReport).order_by(CheckinReport.id))).all()
    return [(r.unit_id, r.households, r.is_current) for r in rows]


async def test_a_leader_takes_back_their_own_report(peer: OneBotPeer, street: Runtime) -> None:
    from sqlmodel import select

    from storage.models import AuditLog

    await peer.ask(ADMIN, "/绑定群 幸福社区 工作群", group_id=WORK)
    await peer.ask(ADMIN, "/排查 发起 返区人员排查 截止 2天", group_id=WORK)
    before = dump_db(street)
    sent = await peer.ask(LEADER, "/打卡 撤销", group_id=WORK)
    assert sent.text.startswith("进行中的排查里没有您的报告可以撤销")
    assert dump_db(street) == before
    await peer.ask(LEADER, "/打卡 已排查18户", group_id=WORK)
    await peer.ask(LEADER, "/打卡 已排查16户", group_id=WORK)  # an amendment
    sent = await peer.ask(LEADER, "/打卡 撤销", group_id=WORK)
    assert "已撤销 1栋1单元 在 #1「返区人员排查」的报告（已排查16户" in sent.text
    assert "恢复为上一次的报告：已排查18户" in sent.text
    assert [(h, c) for _, h, c in await _current(street)] == [(18, True), (16, False)]
    sent = await peer.ask(LEADER, "/打卡 撤回 #1 1栋1单元", group_id=WORK)
    assert "该单元现为未报" in sent.text
    assert [c for _, _, c in await _current(street)] == [False, False]  # history kept
    async with street.db.read() as s:
        actions = (await s.exec(select(AuditLog.action))).all()
    assert actions.count("checkin_withdraw") == 2


async def test_a_building_leader_names_which_report(peer: OneBotPeer, street: Runtime) -> None:
    building_leader = 20001  # 楼长 of 幸福社区 1栋: 1单元 and 2单元
    await peer.ask(ADMIN, "/绑定群 幸福社区 工作群", group_id=WORK)
    await peer.ask(ADMIN, "/排查 发起 返区人员排查 截止 2天", group_id=WORK)
    await peer.ask(building_leader, "/打卡 1栋1单元 已排查18户", group_id=WORK)
    await peer.ask(building_leader, "/打卡 1栋2单元 已排查17户", group_id=WORK)
    before = dump_db(street)
    sent = await peer.ask(building_leader, "/打卡 撤销", group_id=WORK)
    assert "请写明撤销哪一条" in sent.text and "1栋1单元" in sent.text and "1栋2单元" in sent.text
    assert dump_db(street) == before
    sent = await peer.ask(building_leader, "/打卡 撤销 1栋2单元 #1", group_id=WORK)
    assert "已撤销 1栋2单元" in sent.text
    assert [(h, c) for _, h, c in await _current(street)] == [(18, True), (17, False)]
    sent = await peer.ask(building_leader, "/打卡 撤销 已排查3户", group_id=WORK)
    # Not a withdrawal form: the part named, and where the usage is.
    assert sent.text.startswith("看不懂“已排查3户”") and "/帮助 打卡" in sent.text


async def test_my_reports_and_my_units_still_unreported(
    peer: OneBotPeer, street: Runtime
) -> None:
    building_leader = 20001  # 楼长 of 幸福社区 1栋: 1单元 and 2单元
    await peer.ask(ADMIN, "/绑定群 幸福社区 工作群", group_id=WORK)
    sent = await peer.ask(building_leader, "/我的打卡")
    assert sent.text.startswith("进行中的排查里没有您的报告")
    await peer.ask(ADMIN, "/排查 发起 返区人员排查 截止 2天", group_id=WORK)
    await peer.ask(building_leader, "/打卡 1栋2单元 已排查17户 返区1", group_id=WORK)
    before = dump_db(street)
    sent = await peer.ask(building_leader, "/我的打卡")
    lines = sent.text.splitlines()
    assert lines[0].startswith("#1「返区人员排查」")
    assert lines[1] == "1栋2单元：已排查17户，返区1，隔离0，异常0"
    assert lines[2] == "未报：1栋1单元"
    assert dump_db(street) == before
    sent = await peer.ask(building_leader, "/我的打卡 全部")
    # No arguments taken: what was not understood, the form, where the usage is.
    assert sent.text == "没有看懂“全部”。写法：/我的打卡\n发送 /帮助 我的打卡 查看例子"


WHEN = [
    # typed, at 2026-11-30 10:00 (Shanghai): expected
    ("下午6点", "2026-11-30 18:00"),
    ("下午 6点半", "2026-11-30 18:30"),
    ("晚上8点", "2026-11-30 20:00"),
    ("今晚8点", "2026-11-30 20:00"),
    ("明早9点", "2026-12-01 09:00"),
    ("明晚7点", "2026-12-01 19:00"),
    ("明天下午3点半", "2026-12-01 15:30"),
    ("后天18:00", "2026-12-02 18:00"),
    ("中午12点", "2026-11-30 12:00"),
    ("18点前", "2026-11-30 18:00"),
    ("上午9点", "2026-12-01 09:00"),  # already past today: tomorrow, as 9点 alone
]


@pytest.mark.parametrize(("typed", "expected"), WHEN)
def test_times_as_people_say_them(typed: str, expected: str) -> None:
    from ground.grammar import parse_when
    from tests.helpers import TEST_EPOCH

    assert parse_when(typed, TEST_EPOCH).strftime("%Y-%m-%d %H:%M") == expected


@FUZZ
@given(part=st.sampled_from(("下午", "傍晚", "晚上")), hour=st.integers(1, 11),
       half=st.booleans())
def test_an_afternoon_hour_is_past_noon(part: str, hour: int, half: bool) -> None:
    from ground.grammar import parse_when
    from tests.helpers import TEST_EPOCH

    at = parse_when(f"{part}{hour}点{'半' if half else ''}", TEST_EPOCH)
    assert at is not None and (at.hour, at.minute) == (hour + 12, 30 if half else 0)


async def test_a_round_with_an_afternoon_deadline(peer: OneBotPeer, street: Runtime) -> None:
    await peer.ask(ADMIN, "/绑定群 幸福社区 工作群", group_id=WORK)
    sent = await peer.ask(ADMIN, "/排查 发起 今日返区人员排查 截止 下午6点", group_id=WORK)
    assert "已发起排查 #1" in sent.text and "18:00" in sent.text, sent.text


ERRORS = [
    # typed in the work group, the whole reply (one line naming the part, and a pointer)
    ("/打卡 已排查18户 反区1", "看不懂“反区1”，是不是“返区1”？\n发送 /帮助 打卡 查看写法"),
    ("/打卡 已排查18户 返区0 👍", "看不懂“👍”，备注请写在“备注”之后。\n发送 /帮助 打卡 查看写法"),
    ("/打卡 已排查18户 隔梨1", "看不懂“隔梨1”，是不是“隔离1”？\n发送 /帮助 打卡 查看写法"),
    ("/打卡 已排查18户 返区abc",
     "“返区abc”里的数字没有看懂，请用 0、1、2… 或 一、二、三…\n发送 /帮助 打卡 查看写法"),
    ("/打卡 3栋 已排查5户", "看不懂单元“3栋”，请写成 3栋2单元 或 3-2。\n发送 /帮助 打卡 查看写法"),
    ("/打卡 18户 18户", "“18户”写了两次，每项请只写一次。\n发送 /帮助 打卡 查看写法"),
    ("/打卡 返区1", "没有看到户数，请写“已排查<数字>户”，例如 /打卡 3栋2单元 已排查24户。"),
    ("/排查 发起 返乡排查 截止 后年",
     "没有看懂“发起 返乡排查 截止 后年”。写法：/排查 发起 <标题> 截止 <时间> [范围 <范围>]\n"
     "发送 /帮助 排查 查看例子"),
    ("/排查 每天 排查 18:00-10:00",
     "没有看懂“每天 排查 18:00-10:0…”。写法：/排查 每天 <标题> <开始>-<截止> [范围 <范围>]\n"
     "发送 /帮助 排查 查看例子"),
    ("/进度 abc", "没有看懂“abc”。写法：/进度 [#N]\n发送 /帮助 进度 查看例子"),
]


@pytest.mark.parametrize(("typed", "reply"), ERRORS)
async def test_a_refusal_is_one_line_naming_the_part(
    peer: OneBotPeer, street: Runtime, typed: str, reply: str
) -> None:
    await peer.ask(ADMIN, "/绑定群 幸福社区 工作群", group_id=WORK)
    await peer.ask(ADMIN, OPEN, group_id=WORK)
    before = dump_db(street)
    sent = await peer.ask(ADMIN if typed.startswith("/排查") else LEADER, typed, group_id=WORK)
    assert sent.text == reply
    assert dump_db(street) == before
    if typed.startswith("/打卡"):  # the bare command still gets the whole usage
        bare = await peer.ask(LEADER, "/打卡", group_id=WORK)
        assert bare.text == street.renderer.render("usage/checkin_report")
