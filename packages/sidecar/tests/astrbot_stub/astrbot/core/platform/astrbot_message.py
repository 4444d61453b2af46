"""STAND-IN for `astrbot/core/platform/astrbot_message.py` (AstrBot v4.27.4)."""

import time
from dataclasses import dataclass

from .message_type import MessageType


@dataclass
class MessageMember:
    user_id: str
    nickname: str | None = None


@dataclass
class Group:
    group_id: str
    group_name: str | None = None
    group_avatar: str | None = None
    group_owner: str | None = None
    group_admins: list[str] | None = None
    members: list[MessageMember] | None = None


class AstrBotMessage:
    type: MessageType
    self_id: str
    session_id: str
    message_id: str
    group: Group | None
    sender: MessageMember
    message: list
    message_str: str
    raw_message: object
    timestamp: int

    def __init__(self) -> None:
        self.timestamp = int(time.time())
        self.group = None

    @property
    def group_id(self) -> str:
        if self.group:
            return self.group.group_id
        return ""

    @group_id.setter
    def group_id(self, value: str | None) -> None:
        if value:
            if self.group:
                self.group.group_id = value
            else:
                self.group = Group(group_id=value)
        else:
            self.group = None
