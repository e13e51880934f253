"""Resident groups never see a person's name, phone, ID number or room (DESIGN.md §4).

Every template pushed to resident groups is rendered with generated people put
into every context field it receives: the fields it must show (a slogan, a
policy title: staff-authored public text, like a broadcast's own text, which is
sent verbatim and not checked here) get fixed public text, everything else gets
the person. Nothing of the person may come out.

The list is kept honest two ways: every template in a folder whose plugin pushes
to resident groups is classified, and every plugin that selects resident groups
must own such a folder.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jinja2 import meta

from messages.mask import mask_name
from messages.render import Renderer
from storage.models_broadcast import Broadcast
from storage.models_publicity import Policy, Slogan

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Person:
    name: str
    phone: str
    id_number: str
    room: str

    @property
    def account(self) -> str:
        return f"qq:{self.phone}"

    @property
    def blurb(self) -> str:
        """Free text about the person, as staff might type it into any field."""
        return f"{self.name}（电话{self.phone}，身份证{self.id_number}）住{self.room}，居家隔离中"


SURNAMES = "张王李赵陈刘杨黄吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
GIVEN = "伟芳娜敏静丽强磊洋艳勇军杰涛明超秀英华慧建国志红霞平刚桂兰玉萍鹏辉"

names = st.builds(
    lambda s, g: s + g,
    st.sampled_from([*SURNAMES, "欧阳", "司马"]),
    st.text(alphabet=GIVEN, min_size=1, max_size=2),
)
phones = st.builds(
    lambda second, rest: f"1{second}{rest}",
    st.sampled_from("3456789"),
    st.text(alphabet="0123456789", min_size=9, max_size=9),
)
id_numbers = st.builds(
    lambda area, born, seq, check: f"{area}{born:%Y%m%d}{seq}{check}",
    st.text(alphabet="0123456789", min_size=6, max_size=6),
    st.dates(min_value=datetime(1930, 1, 1).date(), max_value=datetime(2025, 12, 31).date()),
    st.text(alphabet="0123456789", min_size=3, max_size=3),
    st.sampled_from("0123456789X"),
)
rooms = st.builds(
    lambda floor, door: f"{floor}{door:02d}室", st.integers(1, 33), st.integers(1, 12)
)
people = st.builds(Person, names, phones, id_numbers, rooms)


# Resident-facing template -> its context, built from one person. Every field the
# template can read is filled; the builders mirror what the code passes.
ContextFor = Callable[[Person], dict]

RESIDENT_FACING: dict[str, ContextFor] = {
    # plugins/slogans/jobs.py: the rotation push.
    "slogans/push": lambda p: {
        "slogan": Slogan(
            id=7, text="戴好口罩，健康你我", created_by=p.account, created_at=NOW,
            deleted_by=p.blurb,
        )
    },
    # plugins/policy/notify.py: the short notice; the body stays in work groups.
    "policy/notice": lambda p: {
        "p": Policy(
            id=3, title="关于返乡人员报备的通知", version=2, body=p.blurb,
            published_by=p.account, published_at=NOW,
        )
    },
    # plugins/policy/flows.py: /政策 typed in a resident group.
    "policy/public_list": lambda p: {
        "policies": [Policy(
            id=3, title="关于返乡人员报备的通知", version=2, body=p.blurb,
            published_by=p.account, published_at=NOW,
        )]
    },
    # plugins/broadcast/ack.py: the chase; leaders are @-mentions, never text.
    "broadcast/ack_chase": lambda p: {
        "bc": Broadcast(
            id=5, created_by=p.account, created_at=NOW, scope_label=f"幸福社区/{p.room}",
            targets="[1, 2]", text=p.blurb, ack_required=True, confirmed_at=NOW,
        ),
        "sent_at": NOW,
    },
}

# Folders of plugins that push to resident groups, and their templates that only
# ever go to staff (replies to commands, work/team groups, private chats).
RESIDENT_FOLDERS = ("slogans", "policy", "broadcast")
STAFF_ONLY = {
    "slogans/added", "slogans/deleted", "slogans/error", "slogans/list", "slogans/times",
    "policy/error", "policy/full", "policy/list", "policy/published", "policy/remind",
    "policy/show", "policy/status", "policy/studied",
    "broadcast/ack_chased", "broadcast/cancelled", "broadcast/error", "broadcast/preview",
    "broadcast/report", "broadcast/started", "broadcast/pending_list",
}
# Plugins that mention resident groups without pushing anything to them.
BINDS_ONLY = {"roster"}  # /绑定群 creates them

PHONE_RE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
ID_RE = re.compile(r"(?<![0-9])\d{17}[0-9X](?![0-9X])")
ROOM_RE = re.compile(r"\d+室")


def test_every_template_of_a_resident_folder_is_classified() -> None:
    names = [n for n in Renderer().names() if n.split("/", 1)[0] in RESIDENT_FOLDERS]
    unclassified = sorted(set(names) - set(RESIDENT_FACING) - STAFF_ONLY)
    assert not unclassified, f"classify as RESIDENT_FACING or STAFF_ONLY: {unclassified}"
    assert not set(RESIDENT_FACING) & STAFF_ONLY
    assert set(RESIDENT_FACING) | STAFF_ONLY <= set(Renderer().names())  # no stale entries


def test_every_plugin_that_selects_resident_groups_is_covered() -> None:
    """Found by the kind of group they send to: code naming "resident" groups."""
    senders = set()
    for path in (ROOT / "plugins").rglob("*.py"):
        if '"resident"' in path.read_text(encoding="utf-8"):
            senders.add(path.relative_to(ROOT / "plugins").parts[0])
    assert senders - BINDS_ONLY <= set(RESIDENT_FOLDERS), senders
    assert {"slogans", "policy", "broadcast"} <= senders


@pytest.mark.parametrize("name", sorted(RESIDENT_FACING))
def test_context_covers_every_variable(name: str) -> None:
    renderer = Renderer()
    source = renderer.env.loader.get_source(renderer.env, f"{name}.j2")[0]
    used = meta.find_undeclared_variables(renderer.env.parse(source))
    person = Person("张三", "13812345678", "110101199001011234", "301室")
    assert used <= set(RESIDENT_FACING[name](person)), used


@pytest.mark.parametrize("name", sorted(RESIDENT_FACING))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(person=people)
def test_resident_facing_templates_show_no_personal_data(name: str, person: Person) -> None:
    renderer = Renderer()
    blank = Person("", "", "", "")
    baseline = renderer.render(name, **RESIDENT_FACING[name](blank))
    # A name that is also ordinary words of the template (say 高明) is not a leak.
    assume(person.name not in baseline)
    out = renderer.render(name, **RESIDENT_FACING[name](person))
    for value in (person.name, mask_name(person.name), person.phone, person.id_number,
                  person.room, person.account):
        assert value not in out, (name, value, out)
    assert not PHONE_RE.search(out) and not ID_RE.search(out) and not ROOM_RE.search(out), out


async def test_commands_revealing_names_are_refused_in_resident_groups(peer, street) -> None:
    from tests.conftest import dump_db

    resident_group = 730001
    bound = await peer.ask(10002, "/绑定群 幸福社区/1栋 居民群", group_id=resident_group)
    assert "居民群" in bound.text
    before = dump_db(street)
    for text in ("/我的信息", "/学习情况 1", "/广播 大家好", "/任命 qq:40001 志愿者"):
        sent = await peer.ask(10001, text, group_id=resident_group)
        assert sent.text == street.renderer.render("common/resident_group"), text
        assert "张主任" not in sent.text and "qq:" not in sent.text
    assert dump_db(street) == before
    # /帮助 still works there, and the same command works in a private chat.
    assert "/我的信息" in (await peer.ask(10001, "/帮助", group_id=resident_group)).text
    assert "张主任" in (await peer.ask(10001, "/我的信息")).text


async def test_residents_read_the_public_notices_in_their_group(peer, street) -> None:
    """A resident's /政策 after a 【政策通知】: the notices as the group got them, never
    the body or who published it; publishing from there is refused."""
    from tests.conftest import dump_db

    resident_group, resident = 730002, 55555
    await peer.ask(10002, "/绑定群 幸福社区/1栋 居民群", group_id=resident_group)
    sent = await peer.ask(resident, "/政策", group_id=resident_group)
    assert sent.text == "街道还没有发布政策通知。"
    pushes: list = []
    await peer.ask_until(10001, "/政策 发布 关于返乡人员报备的通知\n请张三13812345678于今日报备。",
                         "已发布政策", other=pushes)
    while not any("【政策通知】" in sent.text for sent in pushes):  # the resident group's
        pushes.append(await peer.expect_send())
    await peer.ask(10002, "/绑定群 幸福社区 工作群", group_id=730003)
    before = dump_db(street)
    sent = await peer.ask(resident, "/政策", group_id=resident_group)
    assert sent.text.splitlines()[0] == "街道发布的政策通知："
    assert sent.text.splitlines()[1].startswith("《关于返乡人员报备的通知》")
    for secret in ("张三", "13812345678", "报备。", "张主任", "qq:"):
        assert secret not in sent.text
    one = await peer.ask(resident, "/政策 1", group_id=resident_group)
    assert one.text == street.renderer.render("policy/notice", p=SimpleNamespace(
        title="关于返乡人员报备的通知", version=1))
    refused = await peer.ask(10001, "/政策 发布 标题\n正文", group_id=resident_group)
    assert "这是居民群" in refused.text
    # In a work group a resident is no leader: refused, as before.
    assert (await peer.ask(resident, "/政策", group_id=730003)).text == street.renderer.render(
        "common/refused")
    assert dump_db(street) == before
