"""STAND-IN for `astrbot.core.pipeline` (AstrBot v4.27.4)."""
