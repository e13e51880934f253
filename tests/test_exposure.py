"""Small doors: webhook URLs that parsers disagree on, a socket open to the network
without a token, a command of 50,000 characters, a key pasted into a group."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.runtime import Runtime
from bot.webhook import valid_webhook
from tests.conftest import dump_db
from tests.onebot import OneBotPeer

ROOT = Path(__file__).resolve().parent.parent
HOSTS = {"qyapi.weixin.qq.com"}
GOOD = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc-123"


@pytest.mark.parametrize(
    "url",
    [
        "https://qyapi.weixin.qq.com:44905/cgi-bin/webhook/send?key=abc",  # another port
        "https://evil.example@qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc",  # userinfo
        "https://qyapi.weixin.qq.com\\@evil.example/cgi-bin/webhook/send?key=abc",
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc&key=def",
        "https://qyapi.weixin.qq.com/cgi-bin/other?key=abc",
        "http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc",  # clear text
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=",
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc#frag",
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=a\tb",
        "https://evil.example/cgi-bin/webhook/send?key=abc",
    ],
)
def test_loose_webhook_urls_are_refused(url: str) -> None:
    assert not valid_webhook(url, HOSTS)


def test_the_robot_url_itself_is_accepted() -> None:
    assert valid_webhook(GOOD, HOSTS)
    assert valid_webhook(GOOD.replace(".com/", ".com:443/"), HOSTS)


async def test_a_webhook_pasted_in_a_group_is_refused_with_a_rotation_hint(
    peer: OneBotPeer, street: Runtime
) -> None:
    await peer.ask(10001, "/绑定群 幸福社区 工作群", group_id=700900)
    before = dump_db(street)
    sent = await peer.ask(10002, f"/绑定推送 幸福社区/1栋 {GOOD}", group_id=700900)
    assert "不能在群里发送" in sent.text and "重新生成" in sent.text
    assert "abc-123" not in sent.text
    assert dump_db(street) == before


async def test_a_huge_command_is_refused_before_parsing_and_others_are_served(
    peer: OneBotPeer, street: Runtime
) -> None:
    before = dump_db(street)
    await peer.private_message(30011, "/打卡 " + "已排查24户 " * 8000)  # ~50,000 characters
    await peer.private_message(30012, "/我的信息")
    got = {s.target: s.text for s in [await peer.expect_send() for _ in range(2)]}
    assert got["private:30011"].startswith("这条命令太长")
    assert "赵志强" in got["private:30012"]
    assert dump_db(street) == before


def run_cli(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    full = os.environ | {"GRIDBOT_DB_URL": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
                         "PYTHONPATH": str(ROOT), **env}
    full.pop("ONEBOT_ACCESS_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "bot.cli", "run", "--no-console"], env=full,
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)


def test_run_refuses_a_network_socket_without_a_token(tmp_path: Path) -> None:
    done = run_cli(tmp_path, HOST="0.0.0.0", PORT="1")
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0 without ONEBOT_ACCESS_TOKEN" in done.stderr
    assert not (tmp_path / "g.db").exists()  # refused before touching anything


def test_the_exposure_is_judged_by_host_and_token() -> None:
    from bot.settings import Settings

    assert not Settings(host="127.0.0.1").exposed_without_token()
    assert Settings(host="0.0.0.0").exposed_without_token()
    assert not Settings(host="0.0.0.0", onebot_access_token="t0ken").exposed_without_token()
    accepted = Settings(host="0.0.0.0", gridbot_allow_no_token="true")
    assert accepted.allow_no_token and accepted.exposed_without_token()  # run warns at start


async def test_a_group_just_unbound_runs_nothing_but_help_and_binding(
    peer: OneBotPeer, street: Runtime
) -> None:
    """The reported case: /未报 in an unbound group @-listed the leaders there."""
    gid = 700901
    await peer.ask(10001, "/绑定群 幸福社区/第一网格 工作群", group_id=gid)
    opened = await peer.ask(10002, "/排查 发起 返区排查 截止 2天", group_id=gid)
    assert "#1" in opened.text
    await peer.ask(10001, "/解绑群", group_id=gid)
    hint = street.renderer.render("common/unbound_group")
    for text in ("/未报", "/进度", "/催报", "/我的信息", "/打卡 已排查18户"):
        sent = await peer.ask(10001, text, group_id=gid)
        assert sent.text == hint and sent.ats == [], text
    assert "您可以使用的命令" in (await peer.ask(10001, "/帮助", group_id=gid)).text
    await peer.no_action()
