"""STAND-IN for `astrbot/api/__init__.py` (AstrBot v4.27.4): `logger`, `AstrBotConfig`.

The real `logger` routes to the calling plugin's logger (`astrbot.plugin.<name>`), children of
the `astrbot` logger; here it is the `astrbot` logger itself.
"""

from astrbot import logger
from astrbot.core.config.astrbot_config import AstrBotConfig

__all__ = ["AstrBotConfig", "logger"]
