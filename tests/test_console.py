"""The same handlers run on the console adapter (base Bot/Event types only)."""

from __future__ import annotations

from datetime import datetime

import nonebot
from nonebug import App

from bot.runtime import Runtime


def console_bot_class():
    from nonebot.adapters.console import Bot as ConsoleBot
    from nonechat.model import Robot

    class TestConsoleBot(ConsoleBot):
        def __init__(self, adapter, self_id: str) -> None:
            super().__init__(adapter, Robot(self_id))

    return TestConsoleBot


async def test_my_info_on_console(app: App, street: Runtime) -> None:
    from nonebot.adapters.console import Adapter, Message, MessageSegment
    from nonebot.adapters.console.event import PrivateMessageEvent
    from nonechat.model import DIRECT, User

    from plugins.roster.service import MyInfo

    adapter = Adapter(nonebot.get_driver())
    event = PrivateMessageEvent(
        time=datetime.now(), self_id="bot", message_id="1", message=Message("/我的信息"),
        user=User("user"), channel=DIRECT, to_me=True,
    )
    expected = street.renderer.render(
        "roster/myinfo", info=MyInfo("console:user", None, [], [], []), superuser=False
    )
    async with app.test_matcher() as ctx:
        bot = ctx.create_bot(base=console_bot_class(), adapter=adapter, self_id="bot")
        ctx.receive_event(bot, event)
        ctx.should_call_send(event, Message(MessageSegment.text(expected)), result=None)
    assert "console:user" in expected
