"""Wechaty adapter exceptions, mirroring NoneBot's base adapter exceptions."""

from __future__ import annotations

from nonebot.exception import ActionFailed as BaseActionFailed
from nonebot.exception import AdapterException
from nonebot.exception import ApiNotAvailable as BaseApiNotAvailable
from nonebot.exception import NetworkError as BaseNetworkError

ADAPTER_NAME = "Wechaty"


class WechatyAdapterException(AdapterException):
    def __init__(self, *args: object) -> None:
        super().__init__(ADAPTER_NAME, *args)


class NetworkError(BaseNetworkError, WechatyAdapterException):
    """The gateway could not be reached, or did not answer within `wechaty_api_timeout`.

    A timed-out send may still have been delivered.
    """

    def __init__(self, msg: str | None = None) -> None:
        super().__init__(msg)
        self.msg = msg

    def __repr__(self) -> str:
        return f"NetworkError(msg={self.msg!r})"


class ApiNotAvailable(BaseApiNotAvailable, WechatyAdapterException):
    """No live gateway connection (disconnected, reconnecting, or not logged in)."""


class ActionFailed(BaseActionFailed, WechatyAdapterException):
    """The gateway answered the call with a gRPC error status."""

    def __init__(self, api: str, status: str, message: str | None = None) -> None:
        super().__init__(api, status, message)
        self.api = api
        self.status = status
        self.message = message

    def __repr__(self) -> str:
        return f"ActionFailed(api={self.api!r}, status={self.status!r}, message={self.message!r})"
