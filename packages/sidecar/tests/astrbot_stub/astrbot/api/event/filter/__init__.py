"""STAND-IN for `astrbot/api/event/filter/__init__.py` (AstrBot v4.27.4).

Only the names the plugin uses: `event_message_type(event_message_type, **kwargs)`,
`EventMessageType`, `after_message_sent(**kwargs)`.
"""

from astrbot.core.star.filter.event_message_type import (
    EventMessageType,
    EventMessageTypeFilter,
)
from astrbot.core.star.register import register_after_message_sent as after_message_sent
from astrbot.core.star.register import register_event_message_type as event_message_type

__all__ = [
    "EventMessageType",
    "EventMessageTypeFilter",
    "after_message_sent",
    "event_message_type",
]
