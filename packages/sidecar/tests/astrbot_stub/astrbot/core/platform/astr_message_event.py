"""STAND-IN for `astrbot/core/platform/astr_message_event.py` (AstrBot v4.27.4).

Same constructor, attributes and method names/return conventions as the real
`AstrMessageEvent`; `send()` only records what would go to the platform (platform adapters
override it in AstrBot too).
"""

import abc
import os
from time import time
from typing import Any

from astrbot import logger
from astrbot.core.message.components import BaseMessageComponent
from astrbot.core.message.message_event_result import MessageChain, MessageEventResult

from .astrbot_message import AstrBotMessage
from .message_session import MessageSession
from .message_type import MessageType
from .platform_metadata import PlatformMetadata


class AstrMessageEvent(abc.ABC):
    def __init__(
        self,
        message_str: str,
        message_obj: AstrBotMessage,
        platform_meta: PlatformMetadata,
        session_id: str,
    ) -> None:
        self.message_str = message_str
        self.message_obj = message_obj
        self.platform_meta = platform_meta
        self.role = "member"
        self.is_wake = False
        self.is_at_or_wake_command = False
        self._extras: dict[str, Any] = {}
        self._force_stopped: bool = False
        message_type = getattr(message_obj, "type", None)
        if not isinstance(message_type, MessageType):
            message_type = MessageType.FRIEND_MESSAGE
        self.session = MessageSession(
            platform_name=platform_meta.id,
            message_type=message_type,
            session_id=session_id,
        )
        self._result: MessageEventResult | None = None
        self.created_at = time()
        self._has_send_oper = False
        self.call_llm = False
        self._temporary_local_files: list[str] = []
        self.plugins_name: list[str] | None = None
        self.platform = platform_meta
        # stand-in only: what send() delivered
        self.sent: list[MessageChain] = []

    @property
    def unified_msg_origin(self) -> str:
        return str(self.session)

    @unified_msg_origin.setter
    def unified_msg_origin(self, value: str) -> None:
        self.session = MessageSession.from_str(value)

    @property
    def session_id(self) -> str:
        return self.session.session_id

    @session_id.setter
    def session_id(self, value: str) -> None:
        self.session.session_id = value

    def get_platform_name(self):
        return self.platform_meta.name

    def get_platform_id(self):
        return self.platform_meta.id

    def get_message_str(self) -> str:
        return self.message_str

    def get_message_outline(self) -> str:
        return " ".join(
            getattr(c, "text", f"[{c.type}]") for c in getattr(self.message_obj, "message", [])
        )

    def get_messages(self) -> list[BaseMessageComponent]:
        return getattr(self.message_obj, "message", [])

    def get_message_type(self) -> MessageType:
        message_type = getattr(self.message_obj, "type", None)
        if isinstance(message_type, MessageType):
            return message_type
        return self.session.message_type

    def get_session_id(self) -> str:
        return self.session_id

    def get_group_id(self) -> str:
        return getattr(self.message_obj, "group_id", "")

    def get_self_id(self) -> str:
        return getattr(self.message_obj, "self_id", "")

    def get_sender_id(self) -> str:
        sender = getattr(self.message_obj, "sender", None)
        if sender and isinstance(getattr(sender, "user_id", None), str):
            return sender.user_id
        return ""

    def get_sender_name(self) -> str:
        sender = getattr(self.message_obj, "sender", None)
        if not sender:
            return ""
        nickname = getattr(sender, "nickname", None)
        if nickname is None:
            return ""
        return nickname if isinstance(nickname, str) else str(nickname)

    def set_extra(self, key, value) -> None:
        self._extras[key] = value

    def get_extra(self, key: str | None = None, default=None) -> Any:
        if key is None:
            return self._extras
        return self._extras.get(key, default)

    def clear_extra(self) -> None:
        self._extras.clear()

    def track_temporary_local_file(self, path: str) -> None:
        if path and path not in self._temporary_local_files:
            self._temporary_local_files.append(path)

    def cleanup_temporary_local_files(self) -> None:
        paths = list(self._temporary_local_files)
        self._temporary_local_files.clear()
        for path in paths:
            try:
                if os.path.exists(path):
                    os.remove(path)
            except OSError as e:
                logger.warning("Failed to remove temporary local file %s: %s", path, e)

    def is_private_chat(self) -> bool:
        return self.get_message_type() == MessageType.FRIEND_MESSAGE

    def is_wake_up(self) -> bool:
        return self.is_wake

    def is_admin(self) -> bool:
        return self.role == "admin"

    def set_result(self, result: MessageEventResult | str) -> None:
        if isinstance(result, str):
            result = MessageEventResult().message(result)
        if isinstance(result, MessageEventResult) and result.chain is None:
            result.chain = []
        self._result = result

    def stop_event(self) -> None:
        self._force_stopped = True
        if self._result is None:
            self.set_result(MessageEventResult().stop_event())
        else:
            self._result.stop_event()

    def continue_event(self) -> None:
        self._force_stopped = False
        if self._result is None:
            self.set_result(MessageEventResult().continue_event())
        else:
            self._result.continue_event()

    def is_stopped(self) -> bool:
        if self._force_stopped:
            return True
        if self._result is None:
            return False
        return self._result.is_stopped()

    def should_call_llm(self, call_llm: bool) -> None:
        self.call_llm = call_llm

    def get_result(self) -> MessageEventResult | None:
        return self._result

    def clear_result(self) -> None:
        self._result = None

    def make_result(self) -> MessageEventResult:
        return MessageEventResult()

    def plain_result(self, text: str) -> MessageEventResult:
        return MessageEventResult().message(text)

    def chain_result(self, chain: list[BaseMessageComponent]) -> MessageEventResult:
        mer = MessageEventResult()
        mer.chain = chain
        return mer

    async def send(self, message: MessageChain) -> None:
        self.sent.append(message)
        self._has_send_oper = True
