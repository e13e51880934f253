"""Fixtures for the Wechaty gateway protocol tests.

NoneBot itself is initialised by tests/conftest.py (nonebug, session loop, lifespan started);
the adapter is registered late on that running driver.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import nonebot
import pytest
import trustme

from bot.adapters.wechaty import Adapter
from bot.runtime import Runtime

from .support import (
    FAST,
    GATEWAY_TOKEN,
    Gateway,
    TlsFiles,
    connect_config,
    ensure_node_modules,
    logged_in,
)


@pytest.fixture(scope="session")
def node_modules() -> None:
    try:
        ensure_node_modules()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A throw-away CA and a server certificate for 127.0.0.1 and localhost."""
    directory = tmp_path_factory.mktemp("wechaty-tls")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(
        ca_cert=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
    )
    ca.cert_pem.write_to_path(str(files.ca_cert))
    for i, blob in enumerate(server.cert_chain_pems):
        blob.write_to_path(str(files.server_cert), append=i > 0)
    server.private_key_pem.write_to_path(str(files.server_key))
    return files


@pytest.fixture(scope="session")
def gateway_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wechaty-gateway-logs")


@pytest.fixture(scope="module")
async def gateway_plain(node_modules: None, gateway_logs: Path) -> AsyncIterator[Gateway]:
    async with Gateway(token=GATEWAY_TOKEN, log_path=gateway_logs / "plain.log") as gateway:
        yield gateway


@pytest.fixture(scope="module")
async def gateway_tls(
    node_modules: None, gateway_logs: Path, tls_files: TlsFiles
) -> AsyncIterator[Gateway]:
    async with Gateway(
        token=GATEWAY_TOKEN, log_path=gateway_logs / "tls.log", tls=tls_files
    ) as gateway:
        yield gateway


@pytest.fixture(scope="session")
async def wechaty_adapter(nonebug_init: None) -> AsyncIterator[Adapter]:
    """The adapter registered on the already-running driver.

    nonebug has already run the startup hooks, so the adapter's own hook never fires: tests
    call `adapter.start(config)` / `adapter.stop()` themselves.
    """
    driver = nonebot.get_driver()
    driver.register_adapter(Adapter)
    adapter = nonebot.get_adapter(Adapter)
    try:
        yield adapter
    finally:
        await adapter.stop()


@pytest.fixture
async def wechat(
    request: pytest.FixtureRequest,
    node_modules: None,
    tmp_path: Path,
    tls_files: TlsFiles,
    wechaty_adapter: Adapter,
    street: Runtime,
    outbox,
) -> AsyncIterator[tuple[Gateway, Runtime]]:
    """A gateway of its own with the adapter logged in, and the street behind the bot
    (WeChat sends paced at full speed): over plaintext, or over TLS where a test
    parametrizes it (indirectly) with "tls"."""
    outbox.pacing["wx"] = FAST
    tls = tls_files if getattr(request, "param", "plain") == "tls" else None
    gateway = Gateway(token=GATEWAY_TOKEN, log_path=tmp_path / "gateway.log", tls=tls)
    async with logged_in(wechaty_adapter, gateway, connect_config(gateway, tls_files)):
        yield gateway, street
