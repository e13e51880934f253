"""NoneBot's per-event log lines cost a record each; below DEBUG they are dropped before
loguru builds one, while its warnings and errors still reach loguru from its own frame."""

from __future__ import annotations

import io

import pytest
from exceptiongroup import BaseExceptionGroup
from nonebot.exception import IgnoredException


def _records(level: str) -> list[tuple[str, str, str]]:
    """What reaches loguru (any sink, no filter) from NoneBot's own calls."""
    import nonebot.internal.matcher.matcher as matcher
    import nonebot.message as message
    from nonebot.log import logger

    from bot.inbound import install_log_redaction

    saved = message.logger, matcher.logger
    seen: list[tuple[str, str, str]] = []
    ours = install_log_redaction(io.StringIO(), level)
    raw = logger.add(lambda m: seen.append((m.record["level"].name, m.record["function"],
                                            m.record["message"])), level=0)
    try:
        # An ignored event (INFO), a failed handler (ERROR), the per-event INFO line.
        message._handle_ignored_exception("Event 42 is ignored")(
            BaseExceptionGroup("", [IgnoredException("own message")]))
        message._handle_exception("Running matcher 7 failed.")(
            BaseExceptionGroup("", [ValueError("broken flow")]))
        message.logger.info("Event will be handled by Matcher(router)")
    finally:
        logger.remove(raw)
        logger.remove(ours)
        message.logger, matcher.logger = saved
    return seen


@pytest.mark.parametrize("level", ["INFO", "WARNING"])
def test_below_debug_only_nonebots_warnings_and_errors_reach_loguru(level: str) -> None:
    assert _records(level) == [("ERROR", "_handle", "Running matcher 7 failed.")]


def test_at_debug_every_nonebot_line_reaches_loguru() -> None:
    assert _records("DEBUG") == [
        ("INFO", "_handle", "Event 42 is ignored"),
        ("ERROR", "_handle", "Running matcher 7 failed."),
        ("INFO", "_records", "Event will be handled by Matcher(router)"),
    ]
