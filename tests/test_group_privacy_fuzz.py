"""Generated people in every free-text field; no group ever hears of them.

Names, phones in every written form, 15- and 18-digit ID numbers and rooms are
typed into 备注 (/打卡), 说明 (/事件), 办结结果 (/办结) and /提醒 text, in work
groups, over the real OneBot v11 WebSocket. Every frame sent to a group (the
replies there, the alerts to 四人一专班 and 应急小分队) is checked: none of it may
come out. What goes privately is not checked here.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.runtime import Runtime
from tests.onebot import OneBotPeer, Sent

WORK1, WORK2, TEAM, SQUAD = 780001, 780002, 780003, 780004
STAFF, LEADER_11, LEADER_32 = 10002, 30011, 30032

SURNAMES = "张王李赵陈刘杨黄吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
GIVEN = "伟芳娜敏静丽强磊洋艳勇军杰涛明超秀英华慧霞平刚桂兰玉萍鹏辉"
FULL_WIDTH = str.maketrans("0123456789+-", "０１２３４５６７８９＋－")


@dataclass(frozen=True)
class Resident:
    name: str
    phone: str  # 11 digits
    phone_written: str  # as typed: spaces, dashes, +86, full-width
    id_number: str
    room: str  # 302室 or 3-302

    @property
    def blurb(self) -> str:
        return f"{self.name}电话{self.phone_written}，身份证{self.id_number}，住{self.room}"


def written(phone: str, form: int) -> str:
    a, b, c = phone[:3], phone[3:7], phone[7:]
    return [
        phone, f"{a} {b} {c}", f"{a}-{b}-{c}", f"+86 {phone}", f"+86-{a}-{b}-{c}",
        phone.translate(FULL_WIDTH), f"(+86){phone}", f"86{phone}",
    ][form]


residents = st.builds(
    lambda surname, given, second, rest, form, id_body, check, short_id, floor, door, dash: (
        Resident(
            name=surname + given,
            phone=f"1{second}{rest}",
            phone_written=written(f"1{second}{rest}", form),
            id_number=(f"{id_body}{check}" if not short_id else id_body[:15]),
            room=(f"3-{floor}{door:02d}" if dash else f"{floor}{door:02d}室"),
        )
    ),
    st.sampled_from(SURNAMES), st.text(alphabet=GIVEN, min_size=1, max_size=2),
    st.sampled_from("3456789"), st.text(alphabet="0123456789", min_size=9, max_size=9),
    st.integers(0, 7), st.text(alphabet="0123456789", min_size=17, max_size=17),
    st.sampled_from("0123456789X"), st.booleans(), st.integers(1, 33), st.integers(1, 12),
    st.booleans(),
)


def each_resident(test):
    """The test run for ten generated residents, no deadline, nothing kept between runs;
    its function-scoped fixtures (peer, street) live across the examples."""
    return settings(max_examples=10, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])(
        given(resident=residents)(test))


_NUMBER = re.compile(r"[0-9０-９+＋(（][0-9０-９ \-－+＋()（）]*[0-9０-９]")


def leaks(resident: Resident, text: str, *, names: bool = True) -> list[str]:
    """What of the resident the text gives away: the name (where names must not
    appear), the room, or the phone or ID digits in any written form."""
    fold = str.maketrans("０１２３４５６７８９", "0123456789")
    numbers = [re.sub(r"\D", "", m.group(0).translate(fold)) for m in _NUMBER.finditer(text)]
    found = [p for p in (resident.room,) if p in text]
    if names and resident.name in text:
        found.append(resident.name)
    for secret in (resident.phone, resident.id_number.rstrip("X")):
        if any(secret in n for n in numbers):
            found.append(secret)
    return found


async def drain(peer: OneBotPeer, at_least: int) -> list[Sent]:
    """The next sends: at least ``at_least``, then whatever follows within a moment."""
    got = [await peer.expect_send() for _ in range(at_least)]
    with contextlib.suppress(TimeoutError):
        while True:
            got.append(await peer.expect_send(timeout=0.2))
    return got


async def bind(peer: OneBotPeer, street: Runtime) -> None:
    from storage.models import TeamMember
    from storage.repo import ensure_person

    for gid, args in ((WORK1, "幸福社区/第一网格 工作群"), (WORK2, "幸福社区/第二网格 工作群"),
                      (TEAM, "全部 四人一专班"), (SQUAD, "全部 应急小分队")):
        sent = await peer.ask(STAFF, f"/绑定群 {args}", group_id=gid)
        assert "已将本群登记为" in sent.text
    async with street.db.write() as s:
        person = await ensure_person(s, "qq:40001", "赵队员")
        s.add(TeamMember(person_id=person.id, team="应急小分队"))
    opened = await peer.ask(STAFF, "/排查 发起 返区人员排查 截止 2天", group_id=WORK1)
    assert "#1" in opened.text


_state: dict[int, int] = {}  # id(street) -> incidents reported so far


@each_resident
async def test_free_text_with_personal_data_never_reaches_a_group(
    peer: OneBotPeer, street: Runtime, resident: Resident
) -> None:
    # The fixtures live across the examples: the street is bound once.
    if id(street) not in _state:
        await bind(peer, street)
        _state[id(street)] = 0
    blurb = resident.blurb
    frames: list[Sent] = []
    await peer.group_message(LEADER_11, WORK1, f"/打卡 #1 1栋1单元 已排查18户 异常1 备注 {blurb}")
    frames += await drain(peer, 1)
    await peer.group_message(LEADER_32, WORK2, f"/事件 设备离线 3栋2单元 {blurb}")
    frames += await drain(peer, 2)
    _state[id(street)] += 1
    await peer.group_message(40001, SQUAD, f"/办结 {_state[id(street)]} {blurb}")
    frames += await drain(peer, 1)
    to_groups = [f for f in frames if f.target.startswith("group:")]
    assert {f.target for f in to_groups} >= {f"group:{WORK1}", f"group:{SQUAD}"}
    for frame in to_groups:
        assert leaks(resident, frame.text) == [], (frame.target, frame.text)
    # /提醒 text is meant for the group (a name there is the author's word), but the
    # masker takes out phones, IDs and rooms.
    await peer.group_message(STAFF, WORK1, f"/提醒 30分钟 {blurb}")
    for frame in await drain(peer, 1):
        assert leaks(resident, frame.text, names=False) == [], (frame.target, frame.text)
