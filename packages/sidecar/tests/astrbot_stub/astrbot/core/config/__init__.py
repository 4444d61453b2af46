"""STAND-IN for `astrbot.core.config` (mirrors AstrBot v4.27.4)."""

from .astrbot_config import AstrBotConfig

__all__ = ["AstrBotConfig"]
