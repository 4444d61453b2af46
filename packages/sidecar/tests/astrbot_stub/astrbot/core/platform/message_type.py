"""STAND-IN for `astrbot/core/platform/message_type.py` (AstrBot v4.27.4)."""

from enum import Enum


class MessageType(Enum):
    GROUP_MESSAGE = "GroupMessage"
    FRIEND_MESSAGE = "FriendMessage"
    OTHER_MESSAGE = "OtherMessage"
