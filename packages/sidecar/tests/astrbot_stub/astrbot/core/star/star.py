"""STAND-IN for `astrbot/core/star/star.py` (AstrBot v4.27.4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

star_registry: list[StarMetadata] = []
star_map: dict[str, StarMetadata] = {}
"""key: the plugin class's module path (__module__)."""


@dataclass
class StarMetadata:
    name: str | None = None
    author: str | None = None
    desc: str | None = None
    short_desc: str | None = None
    version: str | None = None
    repo: str | None = None
    star_cls_type: type | None = None
    module_path: str | None = None
    star_cls: Any = None
    module: ModuleType | None = None
    root_dir_name: str | None = None
    reserved: bool = False
    activated: bool = True
    config: Any = None
    star_handler_full_names: list[str] = field(default_factory=list)
    display_name: str | None = None
    astrbot_version: str | None = None

    @property
    def plugin_id(self) -> str:
        p_name = (self.name or "unknown").lower().replace("/", "_")
        p_author = (self.author or "unknown").lower().replace("/", "_")
        return f"{p_author}/{p_name}"
