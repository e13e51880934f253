"""/后台: a one-time login link to the web console, or the end of every session."""

from __future__ import annotations

from bot.kit import Out, Outcome, Sender, usage
from bot.runtime import Runtime
from storage import console as links
from storage.repo import audit

LOGOUT_WORDS = ("退出", "注销", "登出")


async def console_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    """``/后台``: a link valid 10 minutes, good once; ``/后台 退出``: every session ends."""
    word = text.strip()
    now = rt.now()
    if word in LOGOUT_WORDS:
        async with rt.db.write() as s:
            ended = await links.revoke_sessions(s, sender.account, now)
            await audit(s, sender.account, "console_revoke", f"sessions={ended}", at=now)
        return Outcome([Out("console/logged_out", {"ended": ended})])
    if word:
        return usage("console")
    async with rt.db.write() as s:
        token = await links.issue_link(s, sender.account, links.LINK_LOGIN, now)
        await audit(s, sender.account, "console_link", at=now)
    url = rt.settings.console_url(f"/console/login/{token}")
    minutes = int(links.LOGIN_TTL.total_seconds() // 60)
    return Outcome([Out("console/link", {"url": url, "minutes": minutes})])
