"""STAND-IN for `astrbot/core/message/message_event_result.py` (AstrBot v4.27.4)."""

import enum
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from .components import BaseMessageComponent, Image, Plain


@dataclass
class MessageChain:
    chain: list[BaseMessageComponent] = field(default_factory=list)
    use_t2i_: bool | None = None
    use_markdown_: bool | None = None
    type: str | None = None

    def message(self, message: str):
        self.chain.append(Plain(message))
        return self

    def file_image(self, path: str):
        self.chain.append(Image.fromFileSystem(path))
        return self

    def url_image(self, url: str):
        self.chain.append(Image.fromURL(url))
        return self

    def get_plain_text(self, with_other_comps_mark: bool = False) -> str:
        if not with_other_comps_mark:
            return " ".join([comp.text for comp in self.chain if isinstance(comp, Plain)])
        return " ".join(
            comp.text if isinstance(comp, Plain) else f"[{comp.__class__.__name__}]"
            for comp in self.chain
        )


class EventResultType(enum.Enum):
    CONTINUE = enum.auto()
    STOP = enum.auto()


class ResultContentType(enum.Enum):
    LLM_RESULT = enum.auto()
    AGENT_RUNNER_ERROR = enum.auto()
    GENERAL_RESULT = enum.auto()
    STREAMING_RESULT = enum.auto()
    STREAMING_FINISH = enum.auto()


@dataclass
class MessageEventResult(MessageChain):
    result_type: EventResultType | None = field(
        default_factory=lambda: EventResultType.CONTINUE,
    )
    result_content_type: ResultContentType | None = field(
        default_factory=lambda: ResultContentType.GENERAL_RESULT,
    )
    async_stream: AsyncGenerator | None = None

    def stop_event(self) -> "MessageEventResult":
        self.result_type = EventResultType.STOP
        return self

    def continue_event(self) -> "MessageEventResult":
        self.result_type = EventResultType.CONTINUE
        return self

    def is_stopped(self) -> bool:
        return self.result_type == EventResultType.STOP

    def set_result_content_type(self, typ: ResultContentType) -> "MessageEventResult":
        self.result_content_type = typ
        return self

    def is_llm_result(self) -> bool:
        return self.result_content_type == ResultContentType.LLM_RESULT


CommandResult = MessageEventResult
