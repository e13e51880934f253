"""The deadline flows (/提醒, /预警 /收到, /协查, /任务 /完成) driven without a bot:
a flow takes the runtime, a ``Sender`` and the text after the command and returns
an ``Outcome``; a push to another chat is queued in the outbox with the decision
(the outbox is attached, not started: rows stay as the transaction left them)."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from bot.kit import Sender
from bot.runtime import Runtime
from storage.models_deadlines import AssistTask, Reminder
from storage.models_outbox import OutboxItem
from tests.conftest import SUPERUSER

STAFF, TRACER, LEADER = "qq:10002", "qq:10003", "qq:30011"


def sender(account: str, *, holds: bool = False, group_id: str | None = None) -> Sender:
    """A sender as the router builds it; ``holds``: the answer to every inline check."""

    async def check(permission) -> bool:
        return holds

    return Sender(account=account, platform="qq", group_id=group_id, bot_id="8888",
                  superuser=account == SUPERUSER, checker=check)


async def count(rt: Runtime, table) -> int:
    async with rt.db.read() as s:
        return (await s.exec(select(func.count()).select_from(table))).one()


@pytest.fixture
async def deadlines(street: Runtime) -> Runtime:
    from bot.app import attach_outbox

    attach_outbox(street)
    return street


async def test_reminder_flow(deadlines: Runtime) -> None:
    from plugins.reminders import flows

    assert (await flows.remind_cmd(deadlines, sender(LEADER), "")).first.template == (
        "usage/reminder"
    )
    created = await flows.remind_cmd(deadlines, sender(LEADER), "30分钟 交表")
    assert created.first.template == "reminders/created"
    assert created.first.context["private"] is True and created.first.context["daily"] is False
    assert await count(deadlines, Reminder) == 1
    listed = await flows.remind_cmd(deadlines, sender(LEADER), "列表")
    assert listed.first.template == "reminders/list" and listed.first.context["total"] == 1
    assert deadlines.renderer.render(listed.first.template, **listed.first.context)


async def test_assist_flow_refuses_a_tracer_and_queues_the_letter(deadlines: Runtime) -> None:
    from plugins.assist import flows

    refused = await flows.assist_cmd(deadlines, sender(TRACER, holds=False), "川协〔2031〕1号")
    assert refused.first.template == "common/refused"
    assert await count(deadlines, AssistTask) == 0 and await count(deadlines, OutboxItem) == 0

    created = await flows.assist_cmd(deadlines, sender(STAFF, holds=True), "川协〔2031〕1号")
    assert created.first.template == "assist/created"
    assert await count(deadlines, AssistTask) == 1
    # No 流调组 group is bound: its members are told privately, in the same transaction.
    queued = created.first.context["team_accounts"]
    assert queued >= 1 and await count(deadlines, OutboxItem) == queued


async def test_alert_flow_usage_and_refusal(deadlines: Runtime) -> None:
    from plugins.alerts import flows

    su = sender(SUPERUSER)
    assert (await flows.alert_cmd(deadlines, su, "")).first.template == "usage/alert"
    refused = await flows.alert_cmd(deadlines, su, "某市")  # no work group is bound
    assert refused.first.template == "alerts/error"
    assert refused.first.context["code"] == "no_work_groups"


async def test_duty_flows(deadlines: Runtime) -> None:
    from plugins.duties import flows

    assert (await flows.duty_cmd(deadlines, sender(STAFF), "")).first.template == "usage/duty"
    assert (await flows.done_cmd(deadlines, sender(LEADER), "")).first.template == (
        "usage/duty_done"
    )
    listed = await flows.duty_cmd(deadlines, sender(STAFF), "列表")
    assert listed.first.template == "duties/list" and listed.first.context["total"] == 0
