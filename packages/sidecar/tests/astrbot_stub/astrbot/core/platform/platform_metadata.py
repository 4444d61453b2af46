"""STAND-IN for `astrbot/core/platform/platform_metadata.py` (AstrBot v4.27.4)."""

from dataclasses import dataclass


@dataclass
class PlatformMetadata:
    name: str
    """The adapter type, e.g. aiocqhttp, discord, slack (event.get_platform_name())."""
    description: str
    id: str
    """The configured adapter instance id (event.get_platform_id())."""
    default_config_tmpl: dict | None = None
    adapter_display_name: str | None = None
    logo_path: str | None = None
    support_streaming_message: bool = True
    support_proactive_message: bool = True
    module_path: str | None = None
