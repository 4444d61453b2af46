"""STAND-IN for `astrbot.core.star` (AstrBot v4.27.4)."""

from .base import Star
from .context import Context
from .star import StarMetadata, star_map, star_registry
from .star_manager import PluginManager

__all__ = ["Context", "PluginManager", "Star", "StarMetadata", "star_map", "star_registry"]
