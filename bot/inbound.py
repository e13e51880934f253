"""What the log may say about an incoming message, and how much text we accept.

NoneBot logs every message event whole (``[SUCCESS] … Message … '<text>'``):
names, phones, ID numbers and webhook keys end up in log files. Here:

* NoneBot's default log handler is replaced by one that drops that line and
  redacts every other one (phones and IDs masked, webhook keys and tokens cut,
  length capped), whatever logger wrote it;
* our own line says who sent what kind of message where, and how long it was:
  the account, the group, the command name, the text length. Never the text;
* a command longer than ``MAX_COMMAND_CHARS`` is answered with a short template
  and not parsed: no grammar ever runs on 50,000 characters.

WebSocket frames themselves are capped by the server (``gridbot run`` passes
``ws_max_size``), before the adapter parses or logs them.
"""

from __future__ import annotations

import re
import sys
import traceback
from typing import Any, TextIO

from nonebot.adapters import Bot, Event
from nonebot.exception import IgnoredException
from nonebot.log import logger

from bot.platforms import account_of, group_of
from messages.mask import scrub

MAX_COMMAND_CHARS = 4000  # a 接龙 of 100 lines fits; a pasted novel does not
MAX_LOG_CHARS = 600
MAX_FRAME_BYTES = 2 * 1024 * 1024  # WebSocket frames, refused by the server above this

# key=…, "token": "…", Authorization: Bearer …, in URLs, headers and dict reprs.
_SECRETS = re.compile(
    r"(?i)(key|token|secret|password|authorization)(['\"]?\s*[=:]\s*['\"]?|\s+)"
    r"(bearer\s+|wechaty\s+)?[A-Za-z0-9._~+/-]{6,}"
)
_COMMAND = re.compile(r"^\s*[/／]\s*(\S{1,12})")
# The web console's one-time links (login, download): a token in a path.
_LINK_TOKEN = re.compile(r"(/console/(?:login|download)/)[A-Za-z0-9_\-]+")


def redact(text: str) -> str:
    """A log line without secrets or personal numbers, of bounded length."""
    if len(text) > MAX_LOG_CHARS:
        text = f"{text[:MAX_LOG_CHARS]}… [{len(text) - MAX_LOG_CHARS} more chars not logged]"
    text = _SECRETS.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) or ''}***", text)
    text = _LINK_TOKEN.sub(r"\1***", text)
    return scrub(text)


INFO_LEVEL = 20  # loguru's and logging's


def _is_message_line(record: dict[str, Any]) -> bool:
    """NoneBot's per-event line (``nonebot.message.handle_event``), which carries the text."""
    return (record["name"] or "").startswith("nonebot") and record["function"] == "handle_event"


# NoneBot's modules that log several lines below WARNING for every event.
_PER_EVENT_MODULES = ("nonebot.message", "nonebot.internal.matcher.matcher")
_QUIET = frozenset({"trace", "debug", "info", "success"})


class _WarningsOnly:
    """NoneBot's logger as its per-event modules see it when the log is not chatty.

    A call below WARNING returns at once: loguru would walk the stack, take the time and
    parse the markup for each (four lines an event) before our filter drops them. Warnings
    and errors reach loguru as before, recorded from the caller's frame."""

    __slots__ = ("_logger", "_options")

    def __init__(self, real: Any, options: dict[str, Any] | None = None) -> None:
        self._logger, self._options = real, options or {}

    def opt(self, **options: Any) -> _WarningsOnly:
        return _WarningsOnly(self._logger, options)

    def __getattr__(self, name: str) -> Any:
        if name in _QUIET:
            return _drop
        # The bound method NoneBot then calls itself: the record names its frame.
        return getattr(self._logger.opt(**self._options), name)


def _drop(*_args: Any, **_kwargs: Any) -> None:
    return None


def _quiet_per_event_lines(real: Any, chatty: bool) -> None:
    for name in _PER_EVENT_MODULES:
        module = sys.modules.get(name)
        if module is not None:
            module.logger = real if chatty else _WarningsOnly(real)  # type: ignore[attr-defined]


def install_log_redaction(stream: TextIO | None = None, level: str | int = 0) -> int:
    """Replace NoneBot's default loguru handler with a redacting one; returns its id.

    ``level``: the configured log level. Below it loguru drops a call before it
    builds a record (NoneBot logs several DEBUG lines per event)."""
    from nonebot.log import default_filter, logger, logger_id

    out = stream or sys.stdout

    def sink(message: Any) -> None:
        record = message.record
        line = (
            f"{record['time']:%m-%d %H:%M:%S} [{record['level'].name}] "
            f"{record['name']} | {redact(record['message'])}\n"
        )
        exc = record["exception"]
        if exc is not None and exc.type is not None:
            # The stack without values (diagnose off); the exception's own text redacted.
            stack = "".join(traceback.format_tb(exc.traceback))
            line += f"{stack}{exc.type.__name__}: {redact(str(exc.value))}\n"
        out.write(line)
        out.flush()

    chatty = (isinstance(level, int) and level < INFO_LEVEL) or level in ("TRACE", "DEBUG")

    def keep(record: dict[str, Any]) -> bool:
        return (
            default_filter(record) and not _is_message_line(record)
        )

    _quiet_per_event_lines(logger, chatty)
    try:
        logger.remove(logger_id)
    except ValueError:  # already replaced (a second setup in one process)
        pass
    return logger.add(sink, level=level, filter=keep, diagnose=False, backtrace=False)


def command_name(text: str) -> str | None:
    m = _COMMAND.match(text)
    return m.group(1) if m else None


async def log_and_bound(bot: Bot, event: Event) -> None:
    """Our line for each message; an over-long command is refused before any parsing."""
    if event.get_type() != "message":
        return
    try:
        text = event.get_plaintext()
    except Exception:
        return
    command = command_name(text[:64])
    group = group_of(bot, event)
    # Straight to loguru: stdlib logging's bridge walks the stack for every line,
    # and this one is written for every message.
    logger.info(
        "message from {}{}: {}, {} chars", account_of(bot, event) or "?",
        f" in group {group}" if group else " (private)",
        f"/{command}" if command else "no command", len(text),
    )
    if command is not None and len(text) > MAX_COMMAND_CHARS:
        from bot.reply import reply_template

        await reply_template(bot, event, "common/too_long", limit=MAX_COMMAND_CHARS)
        raise IgnoredException("command too long")

