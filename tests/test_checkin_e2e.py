"""Check-ins end to end over the in-process OneBot v11 WebSocket (issue 3).

The street of tests/data: 7 units in 幸福社区 (第一网格: 1栋, 2栋; 第二网格: 3栋, 4栋),
138 registered households; staff qq:10002 is in 数据统计排查组 and 四人一专班.
"""

from __future__ import annotations

import asyncio
import base64
import os
import stat
from pathlib import Path

from openpyxl import load_workbook
from sqlmodel import col, func, select

from bot.runtime import Runtime
from storage.models import AuditLog, CheckinReport, CheckinRound, CheckinRoundUnit, ConsoleLink
from storage.retention import exports_dir
from tests.conftest import dump_db
from tests.helpers import collect, console_client, console_login, link_in, outbox_settled
from tests.onebot import OneBotPeer, parse_sent

WORK = 800001  # work group of 幸福社区/第一网格
ALERTS = 800002  # 四人一专班
STATS = 800003  # 数据统计排查组
STAFF = 10002


def read_export(path: Path) -> tuple[int, list[tuple], list[tuple]]:
    """Blocking file reads, run in a thread from the async test."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    wb = load_workbook(path, read_only=True)
    try:
        return mode, list(wb["报告"].iter_rows(values_only=True)), list(
            wb["未报"].iter_rows(values_only=True)
        )
    finally:
        wb.close()


async def rows(rt: Runtime, model) -> int:
    async with rt.db.read() as s:
        return (await s.exec(select(func.count()).select_from(model))).one()


async def bind_groups(peer: OneBotPeer) -> None:
    for group, args in (
        (WORK, "幸福社区/第一网格 工作群"),
        (ALERTS, "全部 四人一专班"),
        (STATS, "全部 数据统计排查组"),
    ):
        sent = await peer.ask(STAFF, f"/绑定群 {args}", group_id=group)
        assert "已将本群登记为" in sent.text


async def test_round_end_to_end(peer: OneBotPeer, street: Runtime, outbox) -> None:
    await bind_groups(peer)

    # Open a round for the whole community from the grid's work group.
    sent = await peer.ask(
        STAFF, "/排查 发起 来自A地区人员排查 截止 明天18:00 范围 幸福社区", group_id=WORK
    )
    assert sent.target == f"group:{WORK}"
    assert "已发起排查 #1「来自A地区人员排查」" in sent.text
    assert "7个单元，登记138户" in sent.text
    assert "1栋、2栋、3栋、4栋" in sent.text
    async with street.db.read() as s:
        rnd = (await s.exec(select(CheckinRound))).one()
        snap = (await s.exec(select(func.count(), func.sum(CheckinRoundUnit.households)))).one()
    assert rnd.id == 1 and rnd.scope_label == "幸福社区"
    assert tuple(snap) == (7, 138)

    # A unit leader who leads exactly one unit may omit the unit and the round.
    sent = await peer.ask(30011, "/打卡 已排查18户 返区1", group_id=WORK)
    assert sent.text.splitlines()[0] == "1栋1单元：已排查18户，返区1，隔离0，异常0"
    assert "已记入 #1" in sent.text

    # A report and its amendment (Chinese numerals, full-width digits, free order).
    sent = await peer.ask(30012, "/打卡 1栋2单元 排查10户", group_id=WORK)
    assert sent.text.splitlines()[0] == "1栋2单元：已排查10户，返区0，隔离0，异常0"
    sent = await peer.ask(30012, "/打卡 隔离1 #1 一栋二单元 已排查１８户", group_id=WORK)
    assert sent.text.splitlines()[0] == "1栋2单元：已排查18户，返区0，隔离1，异常0"
    assert "已更正" in sent.text and "原：已排查10户" in sent.text

    # A building leader reports one of his units with 异常: staff and 四人一专班 are alerted.
    # The alerts come through the outbox (queued with the report), the reply straight
    # back: in either order.
    await peer.group_message(20002, WORK, "/打卡 2-2 20户 异常1 备注 201室张三发热已送医")
    by_target = {s.target: s for s in await collect(peer, 4)}
    sent = by_target.pop(f"group:{WORK}")
    assert sent.text.splitlines()[0] == "2栋2单元：已排查20户，返区0，隔离0，异常1"
    assert "已通知四人一专班" in sent.text
    # The 备注 is free text: never echoed in the group, privately to the round's opener.
    assert "张三" not in sent.text and "备注已记录" in sent.text
    note = by_target.pop(f"private:{STAFF}")
    assert note.text.startswith("【打卡备注】#1") and "张三发热已送医" in note.text
    alerts = list(by_target.values())
    assert sorted(by_target) == [f"group:{ALERTS}", f"group:{STATS}"]
    for alert in alerts:
        assert "幸福社区/2栋2单元：已排查20户，返区0，隔离0，异常1" in alert.text
        assert "报告人：陈伟" in alert.text
        assert "张三" not in alert.text and "201" not in alert.text  # no resident data
    await peer.no_action()

    sent = await peer.ask(30032, "/打卡 3栋2单元 已排查12户，返区0，隔离1，异常0", group_id=WORK)
    assert sent.text.splitlines()[0] == "3栋2单元：已排查12户，返区0，隔离1，异常0"

    # Refusals write nothing: over-count (with the registered figure), a leader of
    # another unit, a stranger, garbled arguments.
    await outbox_settled(street)  # the alerts' rows are final before the snapshot
    before = dump_db(street)
    sent = await peer.ask(30031, "/打卡 3栋1单元 已排查24户", group_id=WORK)
    assert "登记户数为12户" in sent.text and "未记录" in sent.text
    sent = await peer.ask(30031, "/打卡 3栋2单元 已排查5户", group_id=WORK)
    assert "不是3栋2单元的单元长或楼长" in sent.text
    sent = await peer.ask(55555, "/打卡 3栋1单元 已排查10户", group_id=WORK)
    assert "没有使用这个命令的权限" in sent.text
    sent = await peer.ask(30031, "/打卡 已排查十十户", group_id=WORK)
    assert sent.text.startswith("“已排查十十户”里的数字没有看懂")
    sent = await peer.ask(30031, "/打卡 9栋1单元 已排查5户", group_id=WORK)
    assert "没有找到单元“9栋1单元”" in sent.text
    assert dump_db(street) == before
    await peer.no_action()

    # History is kept: 5 rows, 4 of them current.
    assert await rows(street, CheckinReport) == 5
    async with street.db.read() as s:
        current = (
            await s.exec(select(func.count()).where(col(CheckinReport.is_current)))
        ).one()
    assert current == 4

    # Progress: exact figures and the slowest buildings.
    sent = await peer.ask(30011, "/进度", group_id=WORK)
    lines = sent.text.splitlines()
    assert lines[0] == "#1「来自A地区人员排查」进度"
    assert "单元：已报 4/7（57%）" in lines
    assert "户数：已覆盖 68/138（49%）" in lines
    assert "合计：返区 1，隔离 2，异常 1" in lines
    slow = lines[lines.index("进度最慢的楼栋：") + 1 :]
    assert slow == ["4栋：已报 0/1 个单元", "2栋：已报 1/2 个单元", "3栋：已报 1/2 个单元"]

    # /未报 @-mentions exactly the leaders of the missing units (周敏 has no account,
    # 4栋1单元 has no leaders at all).
    sent = await peer.ask(STAFF, "/未报", group_id=WORK)
    assert sent.ats == ["30021", "20002", "30031", "20003"]
    assert "未打卡单元共3个" in sent.text
    assert "2栋1单元：孙丽（单元长）、陈伟（楼长）" in sent.text
    assert "3栋1单元：吴静（单元长）、刘洋（楼长）" in sent.text
    assert "4栋1单元：未登记负责人" in sent.text
    await peer.no_action()

    # /导出: the workbook's rows are the database's current reports and missing units.
    # The file goes out privately (through the outbox); the group only hears that it did.
    await peer.group_message(STAFF, WORK, "/导出 #1")
    # The link privately (through the outbox), the group's answer, and the workbook as a
    # file where the OneBot implementation can upload one (NapCat, Lagrange), in any order.
    frames = [await peer.next_action() for _ in range(3)]
    uploads = [f for f in frames if f["action"] == "upload_private_file"]
    by_target = {s.target: s for s in (parse_sent(f["action"], f["params"])
                                       for f in frames if f not in uploads)}
    private = by_target[f"private:{STAFF}"]
    sent = by_target[f"group:{WORK}"]
    assert "已私聊发给您" in sent.text
    assert "exports" not in sent.text
    # A link, never a server path: opened through the staff member's own console login.
    assert "exports" not in private.text and "/console/download/" in private.text
    async with console_client() as web:
        await console_login(street, web, f"qq:{STAFF}")
        got = await web.get(link_in(private.text, "download"))
        assert got.status_code == 200
        assert (await web.get(link_in(private.text, "download"))).status_code == 403  # once
    async with street.db.read() as s:
        name = (await s.exec(
            select(ConsoleLink.path).where(ConsoleLink.purpose == "download"))).one()
    path = exports_dir(street.settings.data_path()) / name
    assert path.read_bytes() == got.content
    [upload] = uploads
    assert upload["params"]["user_id"] == STAFF and upload["params"]["name"] == path.name
    assert base64.b64decode(upload["params"]["file"].removeprefix("base64://")) == got.content
    mode, report_rows, missing_rows = await asyncio.to_thread(read_export, path)
    assert mode == 0o600
    async with street.db.read() as s:
        db_rows = (
            await s.exec(
                select(CheckinReport)
                .where(col(CheckinReport.is_current))
                .order_by(CheckinReport.unit_id)
            )
        ).all()
    exported = {(r[4], r[5]): r for r in report_rows[1:]}
    at = {name: i for i, name in enumerate(report_rows[0])}
    assert len(exported) == len(db_rows) == 4
    by_unit = {1: ("1栋", "1单元"), 2: ("1栋", "2单元"), 4: ("2栋", "2单元"), 6: ("3栋", "2单元")}
    for r in db_rows:
        row = exported[by_unit[r.unit_id]]
        figures = ("已排查户数", "空置", "外出", "拒访", "返区", "隔离", "异常")
        assert [row[at[k]] for k in figures] == [
            r.households, r.vacant, r.away, r.refused, r.returned, r.isolated, r.abnormal]
        assert (row[at["备注"]] or "") == r.note and row[at["报告账号"]] == r.reporter
    assert exported[("1栋", "2单元")][at["提交次数"]] == 2  # two submissions, the amendment counts
    assert [(r[4], r[5]) for r in missing_rows[1:]] == [
        ("2栋", "1单元"), ("3栋", "1单元"), ("4栋", "1单元"),
    ]
    async with street.db.read() as s:
        audit = (await s.exec(select(AuditLog).where(AuditLog.action == "export_round"))).one()
    assert audit.actor == f"qq:{STAFF}" and path.name in audit.detail

    # /结束, asked first (3 units unreported), after which the round takes no more reports.
    sent = await peer.ask(STAFF, "/结束", group_id=WORK)
    assert "还有3个单元未报，确定结束吗？" in sent.text
    sent = await peer.ask(STAFF, "/确认", group_id=WORK)
    assert "已结束排查 #1" in sent.text and "单元 4/7" in sent.text
    sent = await peer.ask(30031, "/打卡 3栋1单元 已排查12户", group_id=WORK)
    assert "没有进行中的排查" in sent.text
    sent = await peer.ask(30031, "/打卡 #1 3栋1单元 已排查12户", group_id=WORK)
    assert "排查 #1 已经结束" in sent.text
    await peer.no_action()
