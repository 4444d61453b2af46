"""STAND-IN for `astrbot/core/star/star_manager.py` (AstrBot v4.27.4): `PluginManager.load`.

Like the real loader: plugins live in <ASTRBOT_ROOT or cwd>/data/plugins/<dir>/ and are
imported as `data.plugins.<dir>.main`; a `_conf_schema.json` becomes an `AstrBotConfig`
stored in data/config/<dir>_config.json; `metadata.yaml` overrides the metadata (when it is
invalid, e.g. has no `name`, a warning is logged and `metadata.name` stays None, which makes
the pipeline skip the plugin's handlers); the class is instantiated with
`context=..., config=...` (again with only `context=` on TypeError); every handler of the
module is bound to the instance with functools.partial; `initialize()` is awaited.
"""

import functools
import importlib
import json
import os
import sys
import traceback

import yaml

from astrbot import logger
from astrbot.core.config.astrbot_config import AstrBotConfig

from .star import star_map, star_registry
from .star_handler import star_handlers_registry

PLUGIN_METADATA_REQUIRED_FIELDS = ("name", "desc", "version", "author")


def _root() -> str:
    return os.path.realpath(os.environ.get("ASTRBOT_ROOT") or os.getcwd())


class PluginManager:
    def __init__(self, context, config) -> None:
        self.context = context
        self.context._star_manager = self
        self.config = config
        self.plugin_store_path = os.path.join(_root(), "data", "plugins")
        self.plugin_config_path = os.path.join(_root(), "data", "config")
        self.conf_schema_fname = "_conf_schema.json"
        self.failed_plugin_dict: dict[str, str] = {}

    @staticmethod
    def _load_plugin_metadata(plugin_path: str):
        path = os.path.join(plugin_path, "metadata.yaml")
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            metadata = yaml.safe_load(f)
        if not isinstance(metadata, dict):
            raise ValueError("metadata.yaml 格式错误。")
        missing = [k for k in PLUGIN_METADATA_REQUIRED_FIELDS if k not in metadata]
        if missing:
            raise ValueError(f"metadata.yaml 中缺少必需字段: {', '.join(missing)}。")
        return metadata

    def _purge(self, path: str) -> None:
        """Forget an earlier load of the same module (the real manager does this on reload)."""
        package = path.rsplit(".", 1)[0]
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]
        for handler in star_handlers_registry.get_handlers_by_module_name(path):
            star_handlers_registry.remove(handler)
        md = star_map.pop(path, None)
        if md in star_registry:
            star_registry.remove(md)

    async def load(self, specified_module_path=None, specified_dir_name=None, ignore_version_check=False):
        root = _root()
        if root not in sys.path:
            sys.path.insert(0, root)
        for mod in ("data", "data.plugins"):
            sys.modules.pop(mod, None)
        importlib.invalidate_caches()

        has_error = False
        for root_dir_name in sorted(os.listdir(self.plugin_store_path)):
            plugin_dir_path = os.path.join(self.plugin_store_path, root_dir_name)
            if not os.path.exists(os.path.join(plugin_dir_path, "main.py")):
                continue
            path = f"data.plugins.{root_dir_name}.main"
            if specified_module_path and path != specified_module_path:
                continue
            if specified_dir_name and root_dir_name != specified_dir_name:
                continue
            try:
                self._purge(path)
                module = importlib.import_module(path)

                plugin_config = None
                schema_path = os.path.join(plugin_dir_path, self.conf_schema_fname)
                if os.path.exists(schema_path):
                    with open(schema_path, encoding="utf-8-sig") as f:
                        schema = json.load(f)
                    plugin_config = AstrBotConfig(
                        config_path=os.path.join(
                            self.plugin_config_path, f"{root_dir_name}_config.json"
                        ),
                        schema=schema,
                    )

                if path not in star_map:
                    raise Exception(f"插件 {root_dir_name} 未通过 Star 注册")
                metadata = star_map[path]
                try:
                    metadata_yaml = self._load_plugin_metadata(plugin_dir_path)
                    if metadata_yaml:
                        metadata.name = metadata_yaml["name"]
                        metadata.author = metadata_yaml["author"]
                        metadata.desc = metadata_yaml["desc"]
                        metadata.version = metadata_yaml["version"]
                        metadata.display_name = metadata_yaml.get("display_name")
                        metadata.astrbot_version = metadata_yaml.get("astrbot_version")
                except Exception as e:
                    logger.warning(
                        f"Failed to load metadata for plugin {root_dir_name}: {e!s}. "
                        "Using default metadata."
                    )

                metadata.config = plugin_config
                p_author, p_name = metadata.plugin_id.split("/")
                cls = metadata.star_cls_type
                cls.name = p_name
                cls.author = p_author
                if plugin_config is not None:
                    try:
                        metadata.star_cls = cls(context=self.context, config=plugin_config)
                    except TypeError:
                        metadata.star_cls = cls(context=self.context)
                else:
                    metadata.star_cls = cls(context=self.context)
                metadata.module = module
                metadata.root_dir_name = root_dir_name
                metadata.activated = True

                full_names = []
                for handler in star_handlers_registry.get_handlers_by_module_name(path):
                    raw = handler.handler.func if isinstance(handler.handler, functools.partial) else handler.handler
                    handler.handler = functools.partial(raw, metadata.star_cls)
                    full_names.append(handler.handler_full_name)
                metadata.star_handler_full_names = full_names

                await metadata.star_cls.initialize()
            except BaseException as e:
                has_error = True
                logger.error(f"----- Failed to load plugin {root_dir_name} -----")
                logger.error(traceback.format_exc())
                self.failed_plugin_dict[root_dir_name] = str(e)
        if has_error:
            return False, json.dumps(self.failed_plugin_dict, ensure_ascii=False)
        return True, None

    async def terminate_all(self) -> None:
        for md in list(star_registry):
            if md.star_cls is not None:
                try:
                    await md.star_cls.terminate()
                except Exception:
                    logger.error(traceback.format_exc())
