"""Wechaty adapter settings, read from NoneBot's driver config (env / .env, NoneBot style).

- `WECHATY_ENDPOINT`: gateway `host:port`; without it the adapter stays offline (never looked up)
- `WECHATY_TOKEN`: the gateway's token
- `WECHATY_TLS`: connect with TLS (default false: plaintext h2c)
- `WECHATY_TLS_CA_FILE`: PEM CA bundle that signed the gateway's certificate (default: system CAs)
- `WECHATY_TLS_SERVER_NAME`: name to check the certificate against (default: the endpoint host)
- `WECHATY_RECONNECT_MIN_SECONDS` / `WECHATY_RECONNECT_MAX_SECONDS`: back-off bounds (1 / 60)
- `WECHATY_API_TIMEOUT`: seconds before a gateway call is abandoned (30)
- `WECHATY_HEARTBEAT_SECONDS`: liveness probe interval, 0 disables (60)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """`host:port` (or `[v6]:port`) -> (host, port). Raises ValueError on anything else.

    A scheme or path is rejected rather than guessed: the upstream client treats a missing
    endpoint as "look it up on the internet", so the adapter insists on an explicit address.
    """
    host, sep, port_text = endpoint.strip().rpartition(":")
    if not sep or not host or "/" in endpoint:
        raise ValueError(f"expected host:port, got {endpoint!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"bad port in {endpoint!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in {endpoint!r}")
    return host, port


class Config(BaseModel):
    """Settings of the Wechaty adapter (unknown keys of the global config are ignored)."""

    model_config = ConfigDict(extra="ignore")

    wechaty_endpoint: str | None = None
    wechaty_token: SecretStr | None = None
    wechaty_tls: bool = False
    wechaty_tls_ca_file: Path | None = None
    wechaty_tls_server_name: str | None = None
    wechaty_reconnect_min_seconds: float = Field(default=1.0, gt=0)
    wechaty_reconnect_max_seconds: float = Field(default=60.0, gt=0)
    wechaty_api_timeout: float = Field(default=30.0, gt=0)
    wechaty_heartbeat_seconds: float = Field(default=60.0, ge=0)

    @field_validator("wechaty_token", "wechaty_endpoint", "wechaty_tls_server_name", mode="before")
    @classmethod
    def _numbers_are_text(cls, value: Any) -> Any:
        # NoneBot JSON-decodes env values, so WECHATY_TOKEN=123456 arrives as an int.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("wechaty_endpoint")
    @classmethod
    def _endpoint_shape(cls, value: str | None) -> str | None:
        if value is not None:
            split_endpoint(value)
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> Config:
        if self.wechaty_reconnect_max_seconds < self.wechaty_reconnect_min_seconds:
            raise ValueError("wechaty_reconnect_max_seconds is below wechaty_reconnect_min_seconds")
        return self
