"""Runs the plugin inside the AstrBot stand-in (tests/astrbot_stub): installs it the way a user
does (a copy of packages/sidecar/astrbot_plugin in <root>/data/plugins/astrbot_plugin_astrdesk/),
loads it with the stand-in's PluginManager.load and drives events through its
PipelineScheduler.execute.

A probe plugin is installed beside it: an ordinary, lower-priority handler on every message,
which records what reaches it ("later plugins"), as a second plugin in AstrBot would.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parent
SIDECAR_DIR = TESTS_DIR.parent
PLUGIN_SRC = SIDECAR_DIR / "astrbot_plugin"
PLUGIN_DIR_NAME = "astrbot_plugin_astrdesk"
PLUGIN_MODULE = f"data.plugins.{PLUGIN_DIR_NAME}.main"
PROBE_DIR_NAME = "astrbot_plugin_zz_probe"
PROBE_MODULE = f"data.plugins.{PROBE_DIR_NAME}.main"

if str(TESTS_DIR / "astrbot_stub") not in sys.path:
    sys.path.insert(0, str(TESTS_DIR / "astrbot_stub"))

from astrbot.core.message.components import Plain  # noqa: E402
from astrbot.core.platform import (  # noqa: E402
    AstrBotMessage,
    AstrMessageEvent,
    MessageMember,
    MessageType,
    PlatformMetadata,
)
from astrbot.core.star import Context, PluginManager  # noqa: E402
from astrbot.core.star.star import star_map, star_registry  # noqa: E402
from astrbot.core.star.star_handler import star_handlers_registry  # noqa: E402
from astrbot.core.pipeline.scheduler import PipelineScheduler  # noqa: E402

PROBE_MAIN = textwrap.dedent(
    '''
    from astrbot.api.event import AstrMessageEvent, filter
    from astrbot.api.star import Context, Star

    SEEN = []


    class ProbePlugin(Star):
        def __init__(self, context: Context):
            super().__init__(context)

        @filter.event_message_type(filter.EventMessageType.ALL)
        async def probe(self, event: AstrMessageEvent):
            SEEN.append((event.get_sender_id(), event.get_message_str()))
    '''
)
PROBE_METADATA = "name: astrbot_plugin_zz_probe\nauthor: tests\ndesc: probe\nversion: 0.0.1\n"


class FakePlatformEvent(AstrMessageEvent):
    """What a platform adapter hands AstrBot (adapters subclass AstrMessageEvent too)."""


def make_event(
    *,
    adapter: str = "aiocqhttp",
    platform_id: str = "napcat-main",
    user_id: str = "10001",
    nickname: str | None = "小王",
    group_id: str | None = None,
    text: str = "hello",
    components: list | None = None,
    message_id: str | None = "m-1",
    timestamp: int | None = None,
) -> FakePlatformEvent:
    msg = AstrBotMessage()
    msg.type = MessageType.GROUP_MESSAGE if group_id else MessageType.FRIEND_MESSAGE
    msg.self_id = "bot-self"
    msg.session_id = group_id or user_id
    if message_id is not None:
        msg.message_id = message_id
    msg.sender = MessageMember(user_id=user_id, nickname=nickname)
    if group_id:
        msg.group_id = group_id
    msg.message = components if components is not None else [Plain(text)]
    msg.message_str = text
    if timestamp is not None:
        msg.timestamp = timestamp
    meta = PlatformMetadata(name=adapter, description=adapter, id=platform_id)
    return FakePlatformEvent(text, msg, meta, msg.session_id)


def install_plugin(root: Path, *, config: dict | None = None, probe: bool = True) -> None:
    plugins = root / "data" / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    shutil.copytree(PLUGIN_SRC, plugins / PLUGIN_DIR_NAME, dirs_exist_ok=True)
    if config is not None:
        conf_dir = root / "data" / "config"
        conf_dir.mkdir(parents=True, exist_ok=True)
        (conf_dir / f"{PLUGIN_DIR_NAME}_config.json").write_text(json.dumps(config))
    if probe:
        install_extra_plugin(root, PROBE_DIR_NAME, PROBE_MAIN, PROBE_METADATA)


def install_extra_plugin(root: Path, dir_name: str, main_py: str, metadata_yaml: str | None) -> None:
    d = root / "data" / "plugins" / dir_name
    d.mkdir(parents=True, exist_ok=True)
    (d / "main.py").write_text(main_py)
    if metadata_yaml is not None:
        (d / "metadata.yaml").write_text(metadata_yaml)


def unload_all() -> None:
    """Forget every data.plugins.* module, handler and metadata (between tests)."""
    for path in [p for p in list(star_map) if p.startswith("data.")]:
        for h in star_handlers_registry.get_handlers_by_module_name(path):
            star_handlers_registry.remove(h)
        md = star_map.pop(path)
        if md in star_registry:
            star_registry.remove(md)
    for name in [m for m in sys.modules if m == "data" or m.startswith("data.")]:
        del sys.modules[name]


class StubHost:
    """One AstrBot stand-in with the plugin installed in `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.scheduler = PipelineScheduler()
        self.manager: PluginManager | None = None
        self.load_result: tuple[bool, Any] | None = None
        self._plugin = None
        self._probe_seen: list | None = None

    async def __aenter__(self) -> StubHost:
        unload_all()
        os.environ["ASTRBOT_ROOT"] = str(self.root)
        self.manager = PluginManager(Context(), {})
        self.load_result = await self.manager.load()
        if PLUGIN_MODULE in star_map:
            self._plugin = star_map[PLUGIN_MODULE].star_cls
        if PROBE_MODULE in star_map:
            self._probe_seen = star_map[PROBE_MODULE].module.SEEN
        return self

    async def __aexit__(self, *exc) -> None:
        try:
            if self.manager is not None:
                await self.manager.terminate_all()
        finally:
            unload_all()
            os.environ.pop("ASTRBOT_ROOT", None)
            while str(self.root) in sys.path:
                sys.path.remove(str(self.root))

    @property
    def plugin(self):
        """The loaded AstrDesk plugin instance (kept after the host closes)."""
        return self._plugin

    @property
    def probe_seen(self) -> list:
        """(sender id, text) of every message that reached the later probe plugin."""
        assert self._probe_seen is not None, "the probe plugin was not installed or not loaded"
        return self._probe_seen

    async def dispatch(self, event: AstrMessageEvent) -> AstrMessageEvent:
        await self.scheduler.execute(event)
        return event
