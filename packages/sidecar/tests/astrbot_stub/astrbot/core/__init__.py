"""STAND-IN for `astrbot.core` (see ../../README.md)."""

from astrbot import logger

__all__ = ["logger"]
