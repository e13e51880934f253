"""The real plugins over the real Wechaty gateway: onboarding by code, commands, the outbox.

Every plugin is written on NoneBot's base types; here the same handlers answer
WeChat people through the TypeScript PuppetServer + mock puppet.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from bot.adapters.wechaty import Adapter
from bot.runtime import Runtime
from storage.models import Building, ChatGroup, Unit
from storage.models_outbox import OutboxItem

from .support import (
    BOT_ID,
    GATEWAY_TOKEN,
    LEADER_ID,
    LEADER_NAME,
    ROOM_ID,
    Gateway,
    wait_until,
)


def work_room() -> ChatGroup:
    """The test room, to bind as a work group over the whole street."""
    return ChatGroup(platform="wx", group_id=ROOM_ID, bot_id=BOT_ID, kind="work",
                     scope_kind="all", scope_id=0, bound_by="test")


async def invite_unit_leader(rt: Runtime, building: int, unit: int) -> str:
    from plugins.roster import service

    async with rt.db.write() as s:
        b = (await s.exec(select(Building).where(Building.number == building))).one()
        u = (
            await s.exec(select(Unit).where(Unit.building_id == b.id, Unit.number == unit))
        ).one()
        invite = await service.create_invite(
            s, inviter=service.Inviter("qq:10002", admin=True), role="单元长", unit=(b, u),
            name=None, ttl=timedelta(hours=1),
            now=rt.now(),
        )
    return invite.code


async def test_help_in_a_private_wechat_chat(wechat) -> None:
    gateway, _ = wechat
    control = gateway.control()
    await control.say_privately(LEADER_ID, "/帮助")
    reply = await control.wait_sent(lambda m: m["conversationId"] == LEADER_ID)
    assert reply["roomId"] is None
    assert "/我的信息" in reply["text"] and "/绑定" in reply["text"]
    assert "/任命" not in reply["text"]


async def test_wechat_onboarding_by_code_then_rebinding_a_changed_id(wechat) -> None:
    gateway, rt = wechat
    control = gateway.control()
    code = await invite_unit_leader(rt, 2, 2)  # 周敏 has no account in the roster
    await control.say_privately(LEADER_ID, f"/绑定 {code}")
    reply = await control.wait_sent(lambda m: m["conversationId"] == LEADER_ID)
    assert "绑定成功：周敏" in reply["text"]
    info = await control.ask_privately(LEADER_ID, "/我的信息")
    assert f"wx:{LEADER_ID}" in info["text"] and "单元长（幸福社区/2栋2单元）" in info["text"]


async def test_room_command_with_mention_and_pushes_wait_out_a_gateway_outage(
    wechat, wechaty_adapter: Adapter, tmp_path: Path
) -> None:
    gateway, rt = wechat
    control = gateway.control()
    async with rt.db.write() as s:
        room = work_room()
        s.add(room)
    await control.leader_mentions_bot("/我的信息")
    reply = await control.wait_sent(lambda m: m["conversationId"] == ROOM_ID)
    assert f"wx:{LEADER_ID}" in reply["text"]

    # The gateway dies; a push made meanwhile waits in the outbox, then goes out once.
    await gateway.kill()
    await wait_until(lambda: BOT_ID not in wechaty_adapter.bots, 15, "the bot to drop")
    async with rt.db.read() as s:
        room = (await s.exec(select(ChatGroup).where(ChatGroup.group_id == ROOM_ID))).one()
    await rt.delivery.to_group(room, "停电期间的通知", source="test:outage")
    await wait_until(lambda: True, 0.5, "")
    async with rt.db.read() as s:
        item = (await s.exec(select(OutboxItem).where(OutboxItem.source == "test:outage"))).one()
    assert item.state == "pending"
    revived = Gateway(token=GATEWAY_TOKEN, log_path=tmp_path / "revived.log", port=gateway.port)
    await revived.start()
    try:
        await wait_until(lambda: BOT_ID in wechaty_adapter.bots, 20, "the bot to come back")
        await _expect_one_push(revived, rt, item.id)
    finally:
        await revived.kill()


async def _expect_one_push(gateway: Gateway, rt: Runtime, item_id: int) -> None:
    control = gateway.control()
    pushed = await control.wait_sent(lambda m: m["text"] == "停电期间的通知", timeout=10)
    assert pushed["conversationId"] == ROOM_ID
    # The outcome is recorded just after the gateway took it: wait for the row.
    states: list[str] = []

    async def recorded() -> bool:
        async with rt.db.read() as s:
            states.append((await s.get(OutboxItem, item_id)).state)
        return states[-1] != "sending"

    for _ in range(200):
        if await recorded():
            break
        await asyncio.sleep(0.025)
    assert states[-1] == "sent"
    sent = [m for m in await control.sent() if m["text"] == "停电期间的通知"]
    assert len(sent) == 1


async def test_a_leaders_mention_reaches_the_room(wechat) -> None:
    """Mentions pushed through the outbox carry WeChat mention ids and the @name text."""
    gateway, rt = wechat
    control = gateway.control()
    async with rt.db.write() as s:
        room = work_room()
        s.add(room)
    from bot.platforms import Mention

    await rt.delivery.to_group(room, "请尽快打卡", [Mention(f"wx:{LEADER_ID}", LEADER_NAME)],
                               source="test:mention")
    pushed = await control.wait_sent(lambda m: "请尽快打卡" in m["text"], timeout=10)
    assert pushed["text"].startswith(f"@{LEADER_NAME}")
    assert LEADER_ID in pushed["mentionIds"]
