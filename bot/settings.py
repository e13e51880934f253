"""Settings, read NoneBot-style from the environment and `.env`.

One object is built at start and passed down (runtime, delivery, services);
nothing reads the environment later.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import BaseModel, Field, field_validator

from storage.db import db_path

DEFAULT_DB_URL = "sqlite+aiosqlite:///data/gridbot.db"
_QUIET = re.compile(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d")


class Settings(BaseModel):
    db_url: str = Field(DEFAULT_DB_URL, alias="gridbot_db_url")
    # Exports and the console key: beside the SQLite file, else data/ (a server database).
    data_dir: str = Field("", alias="gridbot_data_dir")
    # PostgreSQL: connections each process keeps open (SQLite ignores it).
    db_pool_size: int = Field(10, alias="gridbot_db_pool_size", ge=1)
    superusers: set[str] = Field(default_factory=set)
    host: str = "127.0.0.1"
    port: int = 8080
    onebot_access_token: str | None = None
    # Listening beyond loopback without a token lets anyone on the network be "the bot".
    allow_no_token: bool = Field(False, alias="gridbot_allow_no_token")
    # Console adapter: None = on when stdin is a terminal.
    console: bool | None = Field(None, alias="gridbot_console")
    demo: bool = Field(True, alias="gridbot_demo")
    invite_ttl_hours: int = Field(72, alias="gridbot_invite_ttl_hours")
    log_level: str = "INFO"
    # Outbox pacing overrides per platform, JSON: {"qq": {"interval": 2, "per_minute": 15}}
    pacing: dict[str, dict[str, float]] = Field(default_factory=dict, alias="gridbot_pacing")
    quiet_hours: str = Field("22:00-07:00", alias="gridbot_quiet_hours")
    # Run the bot's clock from this instant (ISO, Asia/Shanghai unless an offset is
    # given) instead of the host's: drills, demos, process tests. Empty = the host clock.
    clock_start: str = Field("", alias="gridbot_clock_start")
    duplicate_window_s: int = Field(60, alias="gridbot_duplicate_window")
    ack_chase_minutes: int = Field(60, alias="gridbot_ack_chase_minutes")
    policy_remind_hours: int = Field(24, alias="gridbot_policy_remind_hours")
    # Scheduler: an item missed by less than the grace is sent late after a downtime,
    # older ones are reported to staff. The lease keeps a second process from scheduling.
    scheduler_late_grace_minutes: int = Field(30, alias="gridbot_scheduler_late_grace_minutes")
    scheduler_lease_ttl_s: float = Field(60.0, alias="gridbot_scheduler_lease_ttl")
    scheduler_lease_renew_s: float = Field(20.0, alias="gridbot_scheduler_lease_renew")
    # Events: quarantine health checks, fever, incident escalation, duty chasing.
    quarantine_check_time: str = Field(
        "09:00", alias="gridbot_quarantine_check_time", pattern=r"^([01]\d|2[0-3]):[0-5]\d$"
    )
    fever_threshold: float = Field(37.3, alias="gridbot_fever_threshold", gt=35, lt=42)
    incident_escalate_minutes: int = Field(15, alias="gridbot_incident_escalate_minutes", gt=0)
    duty_chase_hours: float = Field(4.0, alias="gridbot_duty_chase_hours", gt=0)
    # Retention (DESIGN §4): personal details of closed records, and exported workbooks.
    # 需核实 signals (plugins/checkin/signals.py): thresholds of each named rule.
    signal_burst_units: int = Field(5, alias="gridbot_signal_burst_units", gt=1)
    signal_burst_seconds: int = Field(30, alias="gridbot_signal_burst_seconds", gt=0)
    signal_same_days: int = Field(5, alias="gridbot_signal_same_days", gt=1)
    signal_instant_seconds: int = Field(60, alias="gridbot_signal_instant_seconds", gt=0)
    signal_same_temp_days: int = Field(5, alias="gridbot_signal_same_temp_days", gt=1)
    retention_days: int = Field(180, alias="gridbot_retention_days")
    export_retention_days: int = Field(7, alias="gridbot_export_retention_days")
    # Bounded intake (bot.intake): commands handled at once, commands waiting for a
    # turn, and the longest wait (seconds) before a new command is answered "busy".
    intake_max_inflight: int = Field(8, alias="gridbot_intake_max_inflight", ge=1)
    intake_max_waiting: int = Field(32, alias="gridbot_intake_max_waiting", ge=0)
    intake_max_wait_s: float = Field(5.0, alias="gridbot_intake_max_wait", gt=0)
    # Web console (plugins/console): the base of the links the bot sends (default
    # http://HOST:PORT; behind a TLS proxy, its https address), and the key that signs
    # session cookies (empty: one is generated and kept next to the database).
    public_url: str = Field("", alias="gridbot_public_url")
    console_secret: str = Field("", alias="gridbot_console_secret")
    console_logins_per_minute: int = Field(10, alias="gridbot_console_logins_per_minute", ge=1)
    # Supervision (plugins/supervision): the weekly report to the 纪检监督组 group.
    # Weekday (0 = Monday) and local time (empty = no weekly report); it covers the
    # seven days before the day it is sent.
    supervision_weekly_day: int = Field(0, alias="gridbot_supervision_weekly_day", ge=0, le=6)
    supervision_weekly_time: str = Field(
        "09:00", alias="gridbot_supervision_weekly_time", pattern=r"^(([01]\d|2[0-3]):[0-5]\d)?$"
    )
    # Set to start the Wechaty adapter (its other settings are read by the adapter).
    wechaty_endpoint: str | None = None
    # Hosts a WeCom robot webhook may point at (tests add 127.0.0.1).
    webhook_hosts: set[str] = Field(
        default_factory=lambda: {"qyapi.weixin.qq.com"}, alias="gridbot_webhook_hosts"
    )

    model_config = {"populate_by_name": True, "extra": "ignore"}

    @field_validator("superusers", "webhook_hosts", mode="before")
    @classmethod
    def _split_superusers(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip()
            if v.startswith("["):
                return set(json.loads(v))
            return {s.strip() for s in v.split(",") if s.strip()}
        return v

    @field_validator("pacing", mode="before")
    @classmethod
    def _parse_pacing(cls, v: Any) -> Any:
        return json.loads(v) if isinstance(v, str) else v

    @field_validator("quiet_hours")
    @classmethod
    def _check_quiet_hours(cls, v: str) -> str:
        if v and not _QUIET.fullmatch(v):
            raise ValueError("quiet hours look like 22:00-07:00 (empty = none)")
        return v

    @field_validator("clock_start")
    @classmethod
    def _check_clock_start(cls, v: str) -> str:
        if v:
            datetime.fromisoformat(v)  # ValueError names the bad value
        return v

    def exposed_without_token(self) -> bool:
        """True when the OneBot WebSocket listens beyond loopback and takes anyone."""
        return not self.onebot_access_token and self.host not in ("127.0.0.1", "localhost", "::1")

    def data_path(self) -> Path:
        """Where the bot keeps its files (exports, the console key)."""
        if self.data_dir:
            return Path(self.data_dir)
        path = db_path(self.db_url)
        return path.parent if path is not None else Path("data")

    def console_url(self, path: str = "/console/") -> str:
        """An absolute link into the web console."""
        base = (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
        return base + path

    def pacing_table(self) -> dict[str, Any]:
        from bot.outbox import DEFAULT_PACING, Pacing

        table = dict(DEFAULT_PACING)
        for platform, values in self.pacing.items():
            base = table.get(platform, DEFAULT_PACING["qq"])
            table[platform] = Pacing(**{**base.__dict__, **values})
        return table

    def nonebot_kwargs(self) -> dict[str, Any]:
        """What `nonebot.init` needs from us (NoneBot reads the rest itself)."""
        kwargs: dict[str, Any] = {
            "driver": "~fastapi+~websockets",
            "host": self.host,
            "port": self.port,
            "superusers": sorted(self.superusers),
            "command_start": {"/", "／"},  # a phone keyboard's full-width slash too
            "command_sep": {"."},
            "log_level": self.log_level,
        }
        if self.onebot_access_token:
            kwargs["onebot_access_token"] = self.onebot_access_token
        return kwargs


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env", **overrides: Any
) -> Settings:
    """Environment wins over `.env`; keys are case-insensitive like NoneBot's."""
    values: dict[str, Any] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update({k.lower(): v for k, v in dotenv_values(env_file).items() if v is not None})
    env = os.environ if environ is None else environ
    values.update({k.lower(): v for k, v in env.items()})
    fields = {f.alias or name for name, f in Settings.model_fields.items()} | set(
        Settings.model_fields
    )
    picked = {k: v for k, v in values.items() if k in fields}
    picked.update(overrides)
    return Settings.model_validate(picked)
