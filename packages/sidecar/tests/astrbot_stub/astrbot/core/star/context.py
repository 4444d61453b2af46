"""STAND-IN for `astrbot/core/star/context.py` (AstrBot v4.27.4).

Same parameter names as the real `Context.__init__`; all optional here because the plugin
never calls the managers they hold.
"""

from typing import Any


class Context:
    def __init__(
        self,
        event_queue: Any = None,
        config: Any = None,
        db: Any = None,
        provider_manager: Any = None,
        platform_manager: Any = None,
        conversation_manager: Any = None,
        message_history_manager: Any = None,
        persona_manager: Any = None,
        astrbot_config_mgr: Any = None,
        knowledge_base_manager: Any = None,
        cron_manager: Any = None,
        subagent_orchestrator: Any = None,
    ) -> None:
        self._event_queue = event_queue
        self._config = config if config is not None else {}
        self._db = db
        self.provider_manager = provider_manager
        self.platform_manager = platform_manager
        self.conversation_manager = conversation_manager
        self.message_history_manager = message_history_manager
        self.persona_manager = persona_manager
        self.astrbot_config_mgr = astrbot_config_mgr
        self.kb_manager = knowledge_base_manager
        self.cron_manager = cron_manager
        self.subagent_orchestrator = subagent_orchestrator

    def get_config(self, umo: str | None = None):
        return self._config
