"""STAND-IN for `astrbot/api/message_components.py` (AstrBot v4.27.4)."""

from astrbot.core.message.components import *  # noqa: F403
from astrbot.core.message.components import __all__  # noqa: F401
