"""STAND-IN for `astrbot/core/config/astrbot_config.py` (AstrBot v4.27.4).

Same constructor as the real class: `AstrBotConfig(config_path, default_config, schema)`.
With a schema the defaults come from it; the file is created with them when missing, and
keys missing from an existing file are filled in.
"""

import json
import os

DEFAULT_VALUE_MAP = {
    "int": 0,
    "float": 0.0,
    "bool": False,
    "string": "",
    "text": "",
    "list": [],
    "file": [],
    "object": {},
    "template_list": [],
    "dict": {},
}


class AstrBotConfig(dict):
    config_path: str
    default_config: dict
    schema: dict | None

    def __init__(
        self,
        config_path: str = "",
        default_config: dict | None = None,
        schema: dict | None = None,
    ) -> None:
        super().__init__()
        object.__setattr__(self, "config_path", config_path)
        object.__setattr__(self, "default_config", default_config or {})
        object.__setattr__(self, "schema", schema)
        defaults = dict(default_config or {})
        if schema is not None:
            defaults = self._config_schema_to_default_config(schema)
        conf = {}
        if config_path and os.path.exists(config_path):
            with open(config_path, encoding="utf-8-sig") as f:
                conf = json.load(f)
        merged = dict(defaults)
        merged.update({k: v for k, v in conf.items() if v is not None})
        self.update(merged)
        if config_path and merged != conf:
            self.save_config()

    def _config_schema_to_default_config(self, schema: dict) -> dict:
        conf: dict = {}

        def _parse(schema: dict, conf: dict) -> None:
            for k, v in schema.items():
                if v["type"] not in DEFAULT_VALUE_MAP:
                    raise TypeError(f"unsupported config type {v['type']}")
                default = v.get("default", DEFAULT_VALUE_MAP[v["type"]])
                if v["type"] == "object":
                    conf[k] = {}
                    _parse(v["items"], conf[k])
                else:
                    conf[k] = default

        _parse(schema, conf)
        return conf

    def save_config(self, replace_config: dict | None = None, indent: int = 2) -> None:
        if replace_config:
            self.update(replace_config)
        if not self.config_path:
            return
        os.makedirs(os.path.dirname(self.config_path) or ".", exist_ok=True)
        with open(self.config_path, "w", encoding="utf-8") as f:
            json.dump(dict(self), f, indent=indent, ensure_ascii=False)

    def __getattr__(self, item):
        try:
            return self[item]
        except KeyError:
            return None

    def __setattr__(self, key, value) -> None:
        self[key] = value
