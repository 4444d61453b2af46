"""STAND-IN for `astrbot.core.message` (mirrors AstrBot v4.27.4)."""
