"""Play a OneBot v11 implementation (NapCat/Lagrange) against the real adapter.

Events go in as JSON frames; every action the bot calls is answered by `echo`,
the way an implementation does, and recorded for the test to inspect.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

_ids = itertools.count(1000)


@dataclass
class Sent:
    action: str
    params: dict[str, Any]
    target: str  # "group:<id>" or "private:<id>"
    text: str
    ats: list[str] = field(default_factory=list)
    segments: list[dict] = field(default_factory=list)


def parse_sent(action: str, params: dict[str, Any]) -> Sent:
    msg = params.get("message", [])
    if isinstance(msg, str):  # never expected: we only send segment arrays
        segments = [{"type": "raw_string", "data": {"text": msg}}]
    else:
        segments = msg
    text = "".join(s["data"].get("text", "") for s in segments if s["type"] == "text")
    ats = [str(s["data"]["qq"]) for s in segments if s["type"] == "at"]
    if action == "send_group_msg" or params.get("message_type") == "group":
        target = f"group:{params['group_id']}"
    else:
        target = f"private:{params['user_id']}"
    return Sent(action, params, target, text.strip(), ats, segments)


class OneBotPeer:
    def __init__(self, ws: Any, self_id: int) -> None:
        self.ws = ws
        self.self_id = self_id
        self.actions: list[dict] = []

    def _base(self) -> dict[str, Any]:
        return {"time": int(time.time()), "self_id": self.self_id, "post_type": "message",
                "message_id": next(_ids), "font": 0}

    async def group_message(
        self, user_id: int, group_id: int, text: str, card: str = "", nickname: str = "居民"
    ) -> None:
        event = self._base() | {
            "message_type": "group", "sub_type": "normal", "group_id": group_id,
            "user_id": user_id, "anonymous": None,
            "message": [{"type": "text", "data": {"text": text}}], "raw_message": text,
            "sender": {"user_id": user_id, "nickname": nickname, "card": card, "role": "member"},
        }
        await self.ws.send_json(event)

    async def private_message(self, user_id: int, text: str, nickname: str = "居民") -> None:
        event = self._base() | {
            "message_type": "private", "sub_type": "friend", "user_id": user_id,
            "message": [{"type": "text", "data": {"text": text}}], "raw_message": text,
            "sender": {"user_id": user_id, "nickname": nickname},
        }
        await self.ws.send_json(event)

    async def next_action(self, timeout: float = 5.0, answer: dict | None = None) -> dict:
        frame = await asyncio.wait_for(self.ws.receive_json(), timeout)
        self.actions.append(frame)
        reply = answer or {"status": "ok", "retcode": 0, "data": {"message_id": next(_ids)}}
        await self.ws.send_json(reply | {"echo": frame.get("echo")})
        return frame

    async def expect_send(self, timeout: float = 5.0) -> Sent:
        frame = await self.next_action(timeout)
        assert frame["action"] in ("send_group_msg", "send_private_msg", "send_msg"), frame
        return parse_sent(frame["action"], frame["params"])

    async def no_action(self, within: float = 0.3) -> None:
        try:
            frame = await asyncio.wait_for(self.ws.receive_json(), within)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected action: {frame}")

    async def ask(self, user_id: int, text: str, group_id: int | None = None, **kw) -> Sent:
        """Send a command and return the bot's (single) answer."""
        if group_id is None:
            await self.private_message(user_id, text, **kw)
        else:
            await self.group_message(user_id, group_id, text, **kw)
        return await self.expect_send()

    async def ask_until(
        self, user_id: int, text: str, contains: str, group_id: int | None = None,
        other: list[Sent] | None = None,
    ) -> Sent:
        """Send a command; return the answer containing `contains`, keeping any
        pushes that arrive in between (reports, reminders) in `other`."""
        if group_id is None:
            await self.private_message(user_id, text)
        else:
            await self.group_message(user_id, group_id, text)
        while True:
            sent = await self.expect_send()
            if contains in sent.text:
                return sent
            if other is not None:
                other.append(sent)
