"""STAND-IN for `astrbot.core.star.register` (AstrBot v4.27.4)."""

from .star_handler import (
    get_handler_full_name,
    get_handler_or_create,
    register_after_message_sent,
    register_event_message_type,
)

__all__ = [
    "get_handler_full_name",
    "get_handler_or_create",
    "register_after_message_sent",
    "register_event_message_type",
]
