"""The staff web console in a real headless Chromium (issue 13, "must show").

Against a real `gridbot run --no-console` on a loopback port, with a OneBot v11
peer playing QQ over a real WebSocket; once at a 390×844 phone viewport and once
at 1280×800. PyPI `playwright` drives Debian's `chromium` (`make chromium`).

1. `/后台` in private chat gives a link; opening it logs in (概览), a second use is refused.
2. 概览 shows the open round's coverage; after a `/打卡` over OneBot the 排查 page's
   figure changes without a reload.
3. A roster upload with one bad row names the row and changes nothing (database dump
   equal); the fixed file previews the two new units and applies them.
4. A broadcast composed in the console reaches the bound resident groups over the
   socket, and its delivery report says so.
5. `/导出` in chat gives a link; the downloaded XLSX holds the round's reports.

`GRIDBOT_SCREENSHOTS=docs/console .venv/bin/pytest tests/test_console_browser.py`
refreshes docs/console/overview.png and round.png (概览 and 排查 at phone width).
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.async_api import Page, expect

from tests.browser import DESKTOP, PHONE, UI_S, Street, chromium, dump_db, street
from tests.conftest import DATA
from tests.onebot import parse_sent
from tests.procs import FRAME_S, db_rows, wait_rows

ADMIN = 10001  # 张主任: 工作人员 and 管理员 (tests/data/staff.csv)
STAFF = 10002  # 李干事: 工作人员, 数据统计排查组
LEADER = 30011  # 李秀英: 单元长 of 幸福社区/1栋1单元 (18 households)
WORK = 910100
RESIDENT = {1: 910101, 2: 910102, 3: 910103}  # building -> resident group
HOUSEHOLDS = 138  # tests/data/units.csv: 7 units
NOTICE = "今晚8点在小区东门做核酸检测，请带好身份证。"
COOKIE = "gridbot_console"
# Every expectation waits up to UI_S: long enough for a page's own refresh (it polls
# every few seconds) and for a loaded 2-core machine.
expect.set_options(timeout=UI_S * 1000)


def coverage(done: int, total: int = HOUSEHOLDS) -> re.Pattern[str]:
    return re.compile(rf"(?<!\d){done}/{total}户")


async def shot(page: Page, name: str, tmp_path: Path, phone: bool) -> None:
    """A full-page screenshot in tmp_path; at phone width also in $GRIDBOT_SCREENSHOTS
    (the charts draw without animation: what is shown is the final figure)."""
    stem = name if phone else f"{name}-desktop"
    path = tmp_path / f"{stem}.png"
    await page.screenshot(path=path, full_page=True)
    assert path.stat().st_size > 0
    target = os.environ.get("GRIDBOT_SCREENSHOTS")
    if target and phone:
        out = Path(target) / f"{name}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(path.read_bytes())


async def fits(page: Page) -> None:
    """Nothing wider than the screen: no sideways scrolling of the page (mobile first)."""
    width = await page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], f"{page.url} is {width[0]} px wide on a {width[1]} px screen"


async def forms_carry_csrf(page: Page) -> None:
    forms = page.locator("form")
    for i in range(await forms.count()):
        form = forms.nth(i)
        if (await form.get_attribute("method") or "get").lower() == "post":
            await expect(form.locator("input[type=hidden][name=csrf]")).to_have_count(1)


async def bind_groups(st: Street) -> None:
    await st.qq.ask(STAFF, "/绑定群 幸福社区 工作群", "工作群", group_id=WORK)
    for building, gid in RESIDENT.items():
        await st.qq.ask(STAFF, f"/绑定群 幸福社区/{building}栋 居民群", "居民群", group_id=gid)


async def outbox_settled(st: Street) -> None:
    """Nothing pending or in flight in the outbox (the peer answers everything)."""
    await wait_rows(st.db, "SELECT count(*) FROM outboxitem WHERE state IN ('pending', 'sending')",
                    lambda rows: rows == [(0,)])


async def step_login(st: Street, browser: Any, viewport: dict) -> tuple[Any, Page]:
    """1. `/后台` → a one-time link → 概览; the same link again → 403, no session."""
    answer = await st.qq.ask(ADMIN, "/后台", "/console/login/")
    link = st.link(answer.text, "login")
    context = await browser.new_context(viewport=viewport, accept_downloads=True,
                                        locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(FRAME_S * 1000)
    page = await context.new_page()
    response = await page.goto(link)
    assert response is not None and response.ok, response and response.status
    first = response.request.redirected_from  # the link answered 303 to /console/
    redirect = await first.response() if first is not None else None
    assert redirect is not None and redirect.status == 303
    assert page.url == f"{st.base}/console/", page.url
    await expect(page.locator("body")).to_contain_text("概览")
    cookie = next(c for c in await context.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    other = await browser.new_context(viewport=viewport)
    try:
        again = await other.new_page()
        refused = await again.goto(link)
        assert refused is not None and refused.status == 403
        await expect(again.get_by_test_id("denied")).to_contain_text("失效")
        assert [c for c in await other.cookies() if c["name"] == COOKIE] == []
        overview = await again.goto(f"{st.base}/console/")
        assert overview is not None and overview.status == 401
        await expect(again.get_by_test_id("denied")).to_be_visible()
        await expect(again.locator("[data-testid^=round-]")).to_have_count(0)
    finally:
        await other.close()
    return context, page


async def step_round(st: Street, page: Page, round_id: int, tmp_path: Path,
                     phone: bool) -> None:
    """2. 概览 shows the round's coverage; a `/打卡` changes the 排查 figure in place."""
    await page.goto(f"{st.base}/console/")
    card = page.get_by_test_id(f"round-{round_id}")
    await expect(card.get_by_test_id("coverage")).to_have_text(coverage(0))
    await card.click()  # the card links to the round's page
    await page.wait_for_url(f"{st.base}/console/rounds/{round_id}")
    figure = page.get_by_test_id("round-coverage")
    await expect(figure).to_contain_text(coverage(0))
    await expect(page.locator("#chart-grid canvas, #chart-grid svg").first).to_be_visible()
    await expect(page.locator("#chart-building canvas, #chart-building svg").first
                 ).to_be_visible()
    await expect(page.get_by_test_id("export")).to_have_count(1)
    await fits(page)
    await page.evaluate("() => { window.__sameDocument = true; }")

    reply = await st.qq.ask(LEADER, "/打卡 1栋1单元 已排查18户", "已排查18户", group_id=WORK)
    assert reply.text.startswith("1栋1单元"), reply.text
    await expect(figure).to_contain_text(coverage(18))  # polled by the page: UI_S at most
    assert await page.evaluate("() => window.__sameDocument === true"), "the page reloaded"
    await shot(page, "round", tmp_path, phone)

    await page.goto(f"{st.base}/console/")
    await expect(page.get_by_test_id(f"round-{round_id}").get_by_test_id("coverage")
                 ).to_have_text(coverage(18))
    await fits(page)
    await shot(page, "overview", tmp_path, phone)


async def step_roster(st: Street, page: Page) -> None:
    """3. One bad row: its number shown, nothing changed; the fixed file applied."""
    await outbox_settled(st)
    before = dump_db(st.db)
    await page.goto(f"{st.base}/console/roster")
    await forms_carry_csrf(page)
    await fits(page)
    form = page.get_by_test_id("roster-upload")
    await form.locator("input[type=file][name=file]").set_input_files(
        DATA / "console_units_bad.csv")
    await form.locator("[type=submit]").click()
    errors = page.get_by_test_id("row-error")
    await expect(errors).to_have_count(1)
    await expect(errors).to_contain_text("第10行")
    await expect(errors).to_contain_text("户数")
    await expect(page.get_by_test_id("apply")).to_have_count(0)
    assert dump_db(st.db) == before

    await page.goto(f"{st.base}/console/roster")
    form = page.get_by_test_id("roster-upload")
    await form.locator("input[type=file][name=file]").set_input_files(DATA / "console_units.csv")
    await form.locator("[type=submit]").click()
    await expect(page.get_by_test_id("row-error")).to_have_count(0)
    await expect(page.get_by_test_id("preview-added")).to_have_text(
        ["幸福社区/5栋1单元（20户）", "幸福社区/5栋2单元（16户）"])
    await expect(page.get_by_test_id("preview-changed")).to_have_count(0)
    await expect(page.get_by_test_id("preview-absent")).to_have_count(0)
    await expect(page.get_by_test_id("preview-people")).to_contain_text("2个")  # qq:20005, qq:30051
    await forms_carry_csrf(page)
    assert dump_db(st.db) == before  # a preview writes nothing
    await page.get_by_test_id("apply").click()
    await expect(page.get_by_test_id("applied")).to_be_visible()
    units = db_rows(st.db, "SELECT u.number, u.households FROM unit u JOIN building b"
                           " ON u.building_id = b.id WHERE b.number = 5 ORDER BY u.number")
    assert units == [(1, 20), (2, 16)]
    assert db_rows(st.db, "SELECT count(*) FROM unit") == [(9,)]


async def step_broadcast(st: Street, page: Page) -> None:
    """4. Compose, preview (targets, estimate), confirm → the groups get it, report says so."""
    await page.goto(f"{st.base}/console/broadcast")
    await forms_carry_csrf(page)
    await fits(page)
    form = page.get_by_test_id("broadcast-compose")
    await form.locator("textarea[name=text]").fill(NOTICE)
    await form.locator("input[name=scope]").fill("幸福社区")
    await form.locator("[type=submit]").click()
    targets = page.get_by_test_id("target")
    await expect(targets).to_have_count(len(RESIDENT))
    for building in RESIDENT:
        await expect(targets.filter(has_text=f"{building}栋")).to_have_count(1)
    await expect(page.get_by_test_id("estimate")).to_be_visible()
    since, frames = len(st.qq.sent), len(st.qq.actions)
    assert db_rows(st.db, "SELECT count(*) FROM outboxitem WHERE text = ?", (NOTICE,)) == [(0,)]
    await forms_carry_csrf(page)

    def notice(a: dict) -> bool:
        return a["action"].startswith("send_") and parse_sent(a["action"], a["params"]).text \
            == NOTICE

    async with st.qq.holding(notice):  # QQ is slow to answer the first send
        await page.get_by_test_id("confirm").click()
        await page.wait_for_url(re.compile(rf"{re.escape(st.base)}/console/broadcast/\d+$"))
        await st.qq.wait_action(notice, frames)
        rows = page.get_by_test_id("delivery-row")
        await expect(rows).to_have_count(len(RESIDENT))
        await expect(rows.filter(has_text=re.compile("发送中|待发送"))).to_have_count(
            len(RESIDENT))
        await page.evaluate("() => { window.__sameDocument = true; }")

    for gid in RESIDENT.values():
        sent = await st.qq.wait_for(
            lambda s, gid=gid: s.target == f"group:{gid}" and s.text == NOTICE, since)
        assert sent.action == "send_group_msg", sent.action
    got = [s.target for s in st.qq.sent[since:] if s.text == NOTICE]
    assert sorted(got) == sorted(f"group:{gid}" for gid in RESIDENT.values())  # once each
    await expect(rows.filter(has_text="已发送")).to_have_count(len(RESIDENT))
    await expect(page.get_by_test_id("delivery-summary")).to_contain_text(
        f"已发送 {len(RESIDENT)}")
    assert await page.evaluate("() => window.__sameDocument === true"), "the page reloaded"
    await fits(page)


async def step_export(st: Street, page: Page, round_id: int, tmp_path: Path) -> None:
    """5. `/导出` → a private link → the logged-in browser downloads the round's XLSX."""
    since = len(st.qq.actions)
    answer = await st.qq.ask(ADMIN, f"/导出 #{round_id}", "/console/download/")
    assert "exports" not in answer.text  # never the server's path
    link = st.link(answer.text, "download")
    async with page.expect_download() as info:
        await page.evaluate("url => { window.location.href = url; }", link)
    download = await info.value
    assert download.suggested_filename.endswith(".xlsx"), download.suggested_filename
    path = tmp_path / "export.xlsx"
    await download.save_as(path)
    wb = load_workbook(path, read_only=True)
    try:
        header, *rows = [list(r) for r in wb["报告"].iter_rows(values_only=True)]
    finally:
        wb.close()
    reports = [dict(zip(header, r, strict=False)) for r in rows]
    assert [(r["轮次"], r["楼栋"], r["单元"], r["已排查户数"], r["报告账号"]) for r in reports] \
        == [(round_id, "1栋", "1单元", 18, f"qq:{LEADER}")]
    again = await page.context.request.get(link, max_redirects=0)
    assert again.status == 403  # single use
    # Where QQ can take a file, the workbook came privately too (beside the link).
    upload = (await st.qq.wait_action(
        lambda a: a["action"] == "upload_private_file", since))["params"]
    assert (upload["user_id"], upload["name"]) == (ADMIN, download.suggested_filename)
    assert base64.b64decode(upload["file"].removeprefix("base64://")) == path.read_bytes()
    assert [a["action"] for a in st.qq.actions[since:]].count("upload_private_file") == 1


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_console_in_a_real_browser(tmp_path: Path, viewport: dict) -> None:
    phone = viewport == PHONE
    async with street(tmp_path, (DATA / "units.csv", DATA / "staff.csv")) as st, \
            chromium() as browser:
        await bind_groups(st)
        opened = await st.qq.ask(STAFF, "/排查 发起 返乡排查 截止 2天 范围 幸福社区",
                                 "已发起排查", group_id=WORK)
        number = re.search(r"#(\d+)", opened.text)
        assert number, opened.text
        round_id = int(number.group(1))
        assert db_rows(st.db, "SELECT id FROM checkinround") == [(round_id,)]

        context, page = await step_login(st, browser, viewport)
        outside: list[str] = []
        context.on("request", lambda r: None if r.url.startswith(
            (st.base, "data:", "blob:")) else outside.append(r.url))
        try:
            await step_round(st, page, round_id, tmp_path, phone)
            await step_roster(st, page)
            await step_broadcast(st, page)
            await step_export(st, page, round_id, tmp_path)
        finally:
            await context.close()
        assert outside == []  # every asset served by the bot itself (no CDN)
