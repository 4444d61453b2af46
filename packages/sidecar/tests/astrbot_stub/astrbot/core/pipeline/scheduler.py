"""STAND-IN for AstrBot's message pipeline (AstrBot v4.27.4, astrbot/core/pipeline/).

`PipelineScheduler.execute(event)` runs, in order, what matters to a plugin:

1. waking check (waking_check/stage.py): a private chat wakes the bot; every
   AdapterMessageEvent handler whose filters all pass is activated (and wakes the event);
   handlers of a plugin whose metadata name is None are dropped
   (SessionPluginManager.filter_handlers_by_session); not woken → event stopped.
2. plugin handlers (process_stage/method/star_request.py), highest priority first: stop as
   soon as the event is stopped; results cleared between handlers; an exception is logged,
   stops the event and, in a woken chat, replies ":(\\n\\n在调用插件 … 时出现异常：…".
   context_utils.call_handler: calling a handler with a wrong signature raises TypeError,
   which is only logged — the handler is skipped.
3. default LLM reply (process_stage/stage.py → agent sub-stage) when nothing was sent, the
   chat woke the bot and the event is not stopped: stood in by an echo, recorded in
   `llm_calls`.
4. respond (respond/stage.py): after every step a handler yields while the event is not
   stopped, and once more when the process stage ends — also when a handler stopped the
   event: scheduler.py then only leaves the process stage's generator (the rest of that
   handler never runs) and the later stages still run with the current result (the stop
   result's chain is empty). No result → nothing; a non-empty chain is sent; then the
   OnAfterMessageSentEvent hooks, in priority order, stopping at the first one after which
   the event is stopped (context_utils.call_event_hook; errors only logged).
5. finally the event's temporary files are deleted (scheduler.py).
"""

import inspect
import traceback

from astrbot import logger
from astrbot.core.message.message_event_result import MessageEventResult, ResultContentType
from astrbot.core.platform.astr_message_event import AstrMessageEvent
from astrbot.core.star.star import star_map
from astrbot.core.star.star_handler import EventType, star_handlers_registry


async def call_handler(event, handler, *args, **kwargs):
    """Mirror of context_utils.call_handler (async generator of pipeline steps)."""
    ready_to_call = None
    try:
        ready_to_call = handler(event, *args, **kwargs)
    except TypeError:
        logger.error("Plugin Handler arguments do not match its definition.", exc_info=True)
    if not ready_to_call:
        return
    if inspect.isasyncgen(ready_to_call):
        _has_yielded = False
        async for ret in ready_to_call:
            _has_yielded = True
            if isinstance(ret, MessageEventResult):
                event.set_result(ret)
                yield
            else:
                yield ret
        if not _has_yielded:
            yield
    elif inspect.iscoroutine(ready_to_call):
        ret = await ready_to_call
        if isinstance(ret, MessageEventResult):
            event.set_result(ret)
        yield ret


async def call_event_hook(event, hook_type: EventType, *args, **kwargs) -> bool:
    """Mirror of context_utils.call_event_hook."""
    for handler in star_handlers_registry.get_handlers_by_event_type(
        hook_type, plugins_name=event.plugins_name
    ):
        try:
            assert inspect.iscoroutinefunction(handler.handler)
            await handler.handler(event, *args, **kwargs)
        except BaseException:
            logger.error(traceback.format_exc())
        if event.is_stopped():
            logger.info(
                f"{star_map[handler.handler_module_path].name} - "
                f"{handler.handler_name} stopped event propagation."
            )
            return True
    return event.is_stopped()


class PipelineScheduler:
    def __init__(self, context=None) -> None:
        self.ctx = context
        self.llm_calls: list[str] = []
        self.llm_enabled = True

    async def initialize(self) -> None:
        pass

    async def execute(self, event: AstrMessageEvent) -> None:
        try:
            await self._process(event)
        finally:
            event.cleanup_temporary_local_files()

    async def _process(self, event: AstrMessageEvent) -> None:
        # 1. waking check
        is_wake = False
        if event.is_private_chat():
            is_wake = True
            event.is_wake = True
            event.is_at_or_wake_command = True
        activated = []
        for handler in star_handlers_registry.get_handlers_by_event_type(
            EventType.AdapterMessageEvent, plugins_name=event.plugins_name
        ):
            if not handler.event_filters:
                continue
            if all(f.filter(event, {}) for f in handler.event_filters):
                is_wake = True
                event.is_wake = True
                activated.append(handler)
        activated = [
            h
            for h in activated
            if (md := star_map.get(h.handler_module_path)) is None
            or md.reserved
            or md.name is not None
        ]
        event.set_extra("activated_handlers", activated)
        if not is_wake:
            event.stop_event()
        if event.is_stopped():
            return

        # 2. plugin handlers
        await self._handlers(event, activated)
        # 4. ResultDecorate + Respond once more after the process stage, stopped or not
        await self._respond(event)

    async def _handlers(self, event: AstrMessageEvent, activated: list) -> None:
        for handler in activated:
            if event.is_stopped():
                break
            md = star_map.get(handler.handler_module_path)
            try:
                async for _ in call_handler(event, handler.handler):
                    # scheduler.py: a stopped event leaves the process stage right here (the
                    # rest of the handler never runs); otherwise the later stages run now.
                    if event.is_stopped():
                        break
                    await self._respond(event)
                    if event.is_stopped():
                        break
                if event.is_stopped():
                    break
                event.clear_result()
            except Exception as e:
                logger.error(traceback.format_exc())
                logger.error(f"Star {handler.handler_full_name} handle error: {e}")
                if not event.is_stopped() and event.is_at_or_wake_command:
                    ret = f":(\n\n在调用插件 {md.name if md else '?'} 的处理函数 {handler.handler_name} 时出现异常：{e}"
                    event.set_result(MessageEventResult().message(ret))
                    await self._respond(event)
                    event.clear_result()
                event.stop_event()
        if event.is_stopped():
            return

        # 3. default LLM reply (stand-in: echo)
        if (
            self.llm_enabled
            and not event._has_send_oper
            and event.is_at_or_wake_command
            and not event.call_llm
        ):
            self.llm_calls.append(event.get_message_str())
            event.set_result(
                MessageEventResult()
                .message(f"echo: {event.get_message_str()}")
                .set_result_content_type(ResultContentType.LLM_RESULT)
            )
            await self._respond(event)

    async def _respond(self, event: AstrMessageEvent) -> None:
        """Mirror of respond/stage.py: send the result, then the after-message-sent hooks."""
        result = event.get_result()
        if result is None:
            return
        if result.chain:
            if all(getattr(c, "text", None) is not None and not c.text.strip() for c in result.chain):
                return  # "The message is empty; skipping the respond stage."
            await event.send(result)
        if await call_event_hook(event, EventType.OnAfterMessageSentEvent):
            return
        event.clear_result()
