"""STAND-IN for `astrbot/api/platform/__init__.py` (AstrBot v4.27.4)."""

from astrbot.core.message.components import *  # noqa: F403
from astrbot.core.platform import (
    AstrBotMessage,
    AstrMessageEvent,
    Group,
    MessageMember,
    MessageType,
    PlatformMetadata,
)

__all__ = [
    "AstrBotMessage",
    "AstrMessageEvent",
    "Group",
    "MessageMember",
    "MessageType",
    "PlatformMetadata",
]
