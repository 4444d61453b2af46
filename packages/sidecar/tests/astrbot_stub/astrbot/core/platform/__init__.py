"""STAND-IN for `astrbot.core.platform` (mirrors AstrBot v4.27.4)."""

from .astr_message_event import AstrMessageEvent
from .astrbot_message import AstrBotMessage, Group, MessageMember
from .message_type import MessageType
from .platform_metadata import PlatformMetadata

__all__ = [
    "AstrBotMessage",
    "AstrMessageEvent",
    "Group",
    "MessageMember",
    "MessageType",
    "PlatformMetadata",
]
