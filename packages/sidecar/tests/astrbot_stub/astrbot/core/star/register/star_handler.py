"""STAND-IN for `astrbot/core/star/register/star_handler.py` (AstrBot v4.27.4).

Decorators register the *unbound* function at class-definition time, keyed by
f"{__module__}_{__name__}"; keyword arguments (e.g. priority) land in extras_configs.
"""

from ..filter.event_message_type import EventMessageType, EventMessageTypeFilter
from ..star_handler import EventType, StarHandlerMetadata, star_handlers_registry


def get_handler_full_name(awaitable) -> str:
    return f"{awaitable.__module__}_{awaitable.__name__}"


def get_handler_or_create(handler, event_type: EventType, dont_add=False, **kwargs):
    handler_full_name = get_handler_full_name(handler)
    md = star_handlers_registry.get_handler_by_full_name(handler_full_name)
    if md:
        return md
    md = StarHandlerMetadata(
        event_type=event_type,
        handler_full_name=handler_full_name,
        handler_name=handler.__name__,
        handler_module_path=handler.__module__,
        handler=handler,
        event_filters=[],
    )
    if handler.__doc__:
        md.desc = handler.__doc__.strip()
    if "desc" in kwargs:
        md.desc = kwargs["desc"]
        del kwargs["desc"]
    md.extras_configs = kwargs
    if not dont_add:
        star_handlers_registry.append(md)
    return md


def register_event_message_type(event_message_type: EventMessageType, **kwargs):
    def decorator(awaitable):
        handler_md = get_handler_or_create(awaitable, EventType.AdapterMessageEvent, **kwargs)
        handler_md.event_filters.append(EventMessageTypeFilter(event_message_type))
        return awaitable

    return decorator


def register_after_message_sent(**kwargs):
    def decorator(awaitable):
        _ = get_handler_or_create(awaitable, EventType.OnAfterMessageSentEvent, **kwargs)
        return awaitable

    return decorator
