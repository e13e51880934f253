"""NoneBot2 adapter "Wechaty": WeChat through a Wechaty Puppet Service gateway.

Transport: `wechaty-puppet-service` (gRPC, plaintext or TLS). See `config.py` for settings and
`adapter.py` for the connection lifecycle.
"""

from .adapter import Adapter as Adapter
from .bot import Bot as Bot
from .config import Config as Config
from .event import Event as Event
from .event import GroupMessageEvent as GroupMessageEvent
from .event import MessageEvent as MessageEvent
from .event import PrivateMessageEvent as PrivateMessageEvent
from .exception import ActionFailed as ActionFailed
from .exception import ApiNotAvailable as ApiNotAvailable
from .exception import NetworkError as NetworkError
from .message import Message as Message
from .message import MessageSegment as MessageSegment
