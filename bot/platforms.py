"""Platform specifics, kept out of the plugins.

Everything here dispatches on the adapter name, so plugins only ever see
NoneBot's base `Bot`/`Event` and plain strings. Text a user could have typed is
always wrapped as a *text segment*: OneBot's `Message(str)` would parse CQ codes
(nonebot2#781), so no code path here hands a raw string to an adapter.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from nonebot.adapters import Bot, Event

PLATFORM_BY_ADAPTER = {"OneBot V11": "qq", "Console": "console", "Wechaty": "wx"}
ADAPTER_BY_PLATFORM = {v: k for k, v in PLATFORM_BY_ADAPTER.items()}
# Accounts that are never people: platform notices, the WeChat system account.
SYSTEM_ACCOUNTS = frozenset({"wx:weixin", "wx:filehelper", "qq:10000", "qq:1000000"})


@dataclass(frozen=True)
class Mention:
    account: str  # platform:id
    name: str


class _HasAccounts(Protocol):
    @property
    def name(self) -> str: ...

    def account_on(self, platform: str) -> str | None: ...


def mentions_of(people: Iterable[_HasAccounts], platform: str) -> list[Mention]:
    """An @-mention per person with an account on ``platform`` (e.g. storage.places.Leader)."""
    out = []
    for person in people:
        account = person.account_on(platform)
        if account is not None:
            out.append(Mention(account, person.name))
    return out


def platform_of(bot: Bot) -> str:
    name = bot.adapter.get_name()
    return PLATFORM_BY_ADAPTER.get(name, name.split(maxsplit=1)[0].lower())


def split_account(account: str) -> tuple[str, str]:
    platform, _, uid = account.partition(":")
    return platform, uid


def account_of(bot: Bot, event: Event) -> str | None:
    try:
        return f"{platform_of(bot)}:{event.get_user_id()}"
    except ValueError:  # notices without a user
        return None


def is_own_or_system(bot: Bot, event: Event) -> bool:
    """A message from the bot itself or a platform system account: never answered."""
    account = account_of(bot, event)
    if account is None:
        return False
    return account in SYSTEM_ACCOUNTS or account.split(":", 1)[1] == bot.self_id


def group_of(bot: Bot, event: Event) -> str | None:
    """The platform group id of a group message, None for private chats."""
    platform = platform_of(bot)
    if platform == "qq":
        gid = getattr(event, "group_id", None)
        return str(gid) if gid is not None else None
    if platform == "console":
        channel = getattr(event, "channel", None)
        cid = getattr(channel, "id", None)
        if cid is None or cid == "_direct" or str(cid).startswith("private:"):
            return None
        return str(cid)
    if platform == "wx":
        rid = getattr(event, "group_id", None)
        return str(rid) if rid else None
    return None


def sender_name(event: Event) -> str:
    sender = getattr(event, "sender", None)
    for attr in ("card", "nickname"):
        value = getattr(sender, attr, None)
        if value:
            return str(value)
    user = getattr(event, "user", None)
    return str(getattr(user, "nickname", "") or "")


def build_message(bot: Bot, text: str, mentions: tuple[Mention, ...] = ()) -> Any:
    """A platform message: @-mentions first, then the text as one plain segment."""
    platform = platform_of(bot)
    if platform == "qq":
        from nonebot.adapters.onebot.v11 import Message, MessageSegment

        msg = Message()
        for m in mentions:
            msg.append(MessageSegment.at(split_account(m.account)[1]))
            msg.append(MessageSegment.text(" "))
        if mentions:
            text = "\n" + text
        msg.append(MessageSegment.text(text))
        return msg
    if platform == "wx":
        from bot.adapters.wechaty import Message as WxMessage
        from bot.adapters.wechaty import MessageSegment as WxSegment

        wmsg = WxMessage()
        for m in mentions:
            wmsg.append(WxSegment.mention(split_account(m.account)[1]))
        if mentions:
            text = "\n" + text
        wmsg.append(WxSegment.text(text))
        return wmsg
    if platform == "console":
        from nonebot.adapters.console import Message as CMessage
        from nonebot.adapters.console import MessageSegment as CSegment

        prefix = "".join(f"@{m.name} " for m in mentions)
        return CMessage(CSegment.text((prefix + "\n" if prefix else "") + text))
    # Unknown adapter: let its own Message class take a plain string.
    prefix = "".join(f"@{m.name} " for m in mentions)
    return (prefix + "\n" if prefix else "") + text


# How each adapter sends to a group or a person: (bot, id, message) -> its call.
_SENDS: dict[tuple[str, str], Callable[[Any, str, Any], Awaitable[Any]]] = {
    ("qq", "group"): lambda bot, to, m: bot.call_api("send_group_msg", group_id=int(to),
                                                      message=m),
    ("qq", "private"): lambda bot, to, m: bot.call_api("send_private_msg", user_id=int(to),
                                                     message=m),
    ("console", "group"): lambda bot, to, m: bot.send_message(channel_id=to, message=m),
    ("console", "private"): lambda bot, to, m: bot.send_private_message(user_id=to, message=m),
    ("wx", "group"): lambda bot, to, m: bot.send_to(conversation_id=to, message=m),
    ("wx", "private"): lambda bot, to, m: bot.send_to(conversation_id=to, message=m),
}


async def _send(bot: Bot, kind: str, to: str, message: Any) -> Any:
    platform = platform_of(bot)
    send = _SENDS.get((platform, kind))
    if send is None:
        raise NotImplementedError(f"{kind} sends are not supported on {platform}")
    return await send(bot, to, message)


async def send_to_group(bot: Bot, group_id: str, message: Any) -> Any:
    return await _send(bot, "group", group_id, message)


async def upload_to_user(bot: Bot, user_id: str, data: bytes, name: str) -> bool:
    """Send a file privately where the platform can: OneBot implementations such as
    NapCat and Lagrange take ``upload_private_file`` (base64, so the file need not be
    on their host). False where there is no such call."""
    if platform_of(bot) != "qq":
        return False
    await bot.call_api("upload_private_file", user_id=int(user_id),
                       file="base64://" + base64.b64encode(data).decode(), name=name)
    return True


async def send_to_user(bot: Bot, user_id: str, message: Any) -> Any:
    return await _send(bot, "private", user_id, message)
