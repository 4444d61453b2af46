"""STAND-IN for `astrbot/api/star/__init__.py` (AstrBot v4.27.4)."""

from astrbot.core.star import Context, Star

__all__ = ["Context", "Star"]
