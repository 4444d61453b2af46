"""STAND-IN for `astrbot/core/star/base.py` (AstrBot v4.27.4)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .star import StarMetadata, star_map, star_registry

if TYPE_CHECKING:
    from .context import Context

logger = logging.getLogger("astrbot")


class Star:
    """Base class of every plugin. Subclassing registers the class in star_map."""

    author: str
    name: str
    context: Context

    def __init__(self, context: Context, config: dict | None = None) -> None:
        self.context = context
        metadata = star_map.get(self.__class__.__module__)
        plugin_name = (metadata.name if metadata else None) or getattr(self, "name", None)
        self.logger = logging.getLogger(f"astrbot.plugin.{plugin_name}" if plugin_name else "astrbot")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not star_map.get(cls.__module__):
            metadata = StarMetadata(star_cls_type=cls, module_path=cls.__module__)
            star_map[cls.__module__] = metadata
            star_registry.append(metadata)
        else:
            star_map[cls.__module__].star_cls_type = cls
            star_map[cls.__module__].module_path = cls.__module__

    async def initialize(self) -> None:
        """Called when the plugin is activated."""

    async def terminate(self) -> None:
        """Called when the plugin is disabled or reloaded."""
