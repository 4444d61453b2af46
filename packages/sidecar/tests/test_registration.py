"""The gate really runs: the plugin goes through the stand-in's registration (mirroring
AstrBot's decorators, `Star.__init_subclass__` and `PluginManager.load`) and an event goes
through its handler registry and pipeline.

AstrBot fails quietly in two ways a plugin test could miss: a handler with a wrong signature
is only logged and skipped, and a plugin whose metadata has no `name` has its handlers
dropped. The two control tests at the end show the stand-in reproduces both, so a gate that
was skipped could not pass the tests above them.
"""

import asyncio
import sys

from astrbot.core.star.filter.event_message_type import EventMessageType, EventMessageTypeFilter
from astrbot.core.star.star import star_map
from astrbot.core.star.star_handler import EventType, star_handlers_registry
from fake_sidecar import FakeSidecar
from helpers import config, log_text
from stub_host import (
    PLUGIN_DIR_NAME,
    PLUGIN_MODULE,
    StubHost,
    install_extra_plugin,
    install_plugin,
    make_event,
)


def run(coro):
    return asyncio.run(coro)


def test_plugin_registers_like_astrbot_expects(tmp_path):
    async def scenario():
        async with FakeSidecar() as fake:
            install_plugin(tmp_path, config=config(fake.url))
            async with StubHost(tmp_path) as host:
                assert host.load_result == (True, None)
                md = star_map[PLUGIN_MODULE]
                handlers = star_handlers_registry.get_handlers_by_module_name(PLUGIN_MODULE)
                message_handlers = star_handlers_registry.get_handlers_by_event_type(
                    EventType.AdapterMessageEvent
                )
                sent_hooks = star_handlers_registry.get_handlers_by_event_type(
                    EventType.OnAfterMessageSentEvent
                )
                return md, handlers, message_handlers, sent_hooks, host.plugin

    md, handlers, message_handlers, sent_hooks, plugin = run(scenario())
    assert md.name == "astrbot_plugin_astrdesk"  # from metadata.yaml
    assert md.root_dir_name == PLUGIN_DIR_NAME
    assert type(plugin).__name__ == "AstrDeskPlugin"
    assert md.config is not None and md.config["fail_mode"] == "open"

    by_name = {h.handler_name: h for h in handlers}
    assert set(by_name) == {"astrdesk_gate", "astrdesk_report_reply"}
    gate = by_name["astrdesk_gate"]
    assert gate.event_type is EventType.AdapterMessageEvent
    assert gate.extras_configs["priority"] > sys.maxsize
    assert len(gate.event_filters) == 1
    assert isinstance(gate.event_filters[0], EventMessageTypeFilter)
    assert gate.event_filters[0].event_message_type == EventMessageType.ALL
    # highest priority: first of every message handler, before the probe plugin
    assert message_handlers[0] is gate
    assert [h.handler_name for h in message_handlers] == ["astrdesk_gate", "probe"]
    assert by_name["astrdesk_report_reply"].event_type is EventType.OnAfterMessageSentEvent
    assert [h.handler_name for h in sent_hooks] == ["astrdesk_report_reply"]


def test_gate_really_runs_when_an_event_is_dispatched(tmp_path):
    """Dispatch through the registry: the sidecar sees the call and the block takes effect,
    which only the gate itself can cause."""

    async def scenario():
        async with FakeSidecar(blocked={("qq", "bad-user")}) as fake:
            install_plugin(tmp_path, config=config(fake.url))
            async with StubHost(tmp_path) as host:
                blocked = await host.dispatch(make_event(user_id="bad-user", message_id="b1"))
                clean = await host.dispatch(make_event(user_id="good-user", message_id="g1"))
                return fake, host, blocked, clean

    fake, host, blocked, clean = run(scenario())
    assert [i["message_id"] for i in fake.intercepts] == ["b1", "g1"]
    assert blocked.is_stopped()
    assert not clean.is_stopped()
    assert host.probe_seen == [("good-user", "hello")]


def test_gate_runs_for_group_private_and_other_messages(tmp_path):
    from astrbot.core.platform import MessageType

    async def scenario():
        async with FakeSidecar() as fake:
            install_plugin(tmp_path, config=config(fake.url), probe=False)
            async with StubHost(tmp_path) as host:
                await host.dispatch(make_event(message_id="p"))
                await host.dispatch(make_event(group_id="g", message_id="g"))
                other = make_event(message_id="o")
                other.message_obj.type = MessageType.OTHER_MESSAGE
                await host.dispatch(other)
                return fake

    fake = run(scenario())
    assert sorted(i["message_id"] for i in fake.intercepts) == ["g", "o", "p"]


SESSION_CONTROL_MAIN = '''
import sys

from astrbot.api.event import AstrMessageEvent, filter
from astrbot.api.star import Context, Star

SEEN = []


class SessionControlPlugin(Star):
    """Like AstrBot's built-in handle_session_control_agent: priority sys.maxsize, and it
    stops the event when a plugin waits for the user's next message."""

    def __init__(self, context: Context):
        super().__init__(context)

    @filter.event_message_type(filter.EventMessageType.ALL, priority=sys.maxsize)
    async def handle_session_control_agent(self, event: AstrMessageEvent):
        SEEN.append(event.get_sender_id())
        event.stop_event()
'''


def test_gate_runs_before_a_builtin_with_priority_maxsize_registered_first(tmp_path):
    """AstrBot's built-in session-control handler has priority sys.maxsize; when the plugin is
    installed or reloaded after the built-ins, a tie would let that handler run first."""

    async def scenario():
        async with FakeSidecar(blocked={("qq", "bad-user")}) as fake:
            # "aaa" loads (and registers) before astrbot_plugin_astrdesk
            install_extra_plugin(
                tmp_path,
                "aaa_session_control",
                SESSION_CONTROL_MAIN,
                "name: aaa_session_control\nauthor: t\ndesc: t\nversion: 0.0.1\n",
            )
            install_plugin(tmp_path, config=config(fake.url), probe=False)
            async with StubHost(tmp_path) as host:
                order = [
                    h.handler_name
                    for h in star_handlers_registry.get_handlers_by_event_type(
                        EventType.AdapterMessageEvent
                    )
                ]
                event = await host.dispatch(make_event(user_id="bad-user"))
                seen = star_map["data.plugins.aaa_session_control.main"].module.SEEN
                return fake, order, event, seen

    fake, order, event, seen = run(scenario())
    assert order[0] == "astrdesk_gate", order
    assert event.is_stopped()
    assert len(fake.intercepts) == 1
    assert seen == [], "a blocked user's message reached a waiting session"


REPLY_THEN_STOP_MAIN = '''
from astrbot.api.event import AstrMessageEvent, filter
from astrbot.api.star import Context, Star


class ReplyThenStopPlugin(Star):
    """The common plugin pattern: reply, then stop the event."""

    def __init__(self, context: Context):
        super().__init__(context)

    @filter.event_message_type(filter.EventMessageType.ALL)
    async def answer(self, event: AstrMessageEvent):
        yield event.plain_result("handled by a plugin")
        event.stop_event()
'''


def test_reply_of_a_plugin_that_replies_then_stops_is_reported(tmp_path):
    async def scenario():
        async with FakeSidecar() as fake:
            install_extra_plugin(
                tmp_path,
                "aaa_reply_then_stop",
                REPLY_THEN_STOP_MAIN,
                "name: aaa_reply_then_stop\nauthor: t\ndesc: t\nversion: 0.0.1\n",
            )
            install_plugin(tmp_path, config=config(fake.url), probe=False)
            async with StubHost(tmp_path) as host:
                event = await host.dispatch(make_event(user_id="10001", text="/cmd"))
                return fake, host, event

    fake, host, event = run(scenario())
    assert event.is_stopped()
    assert [c.get_plain_text() for c in event.sent] == ["handled by a plugin"]
    assert host.scheduler.llm_calls == []
    assert [o["text"] for o in fake.outbound] == ["handled by a plugin"]
    assert fake.invalid == []


STOP_THEN_REPLY_MAIN = '''
from astrbot.api.event import AstrMessageEvent, filter
from astrbot.api.star import Context, Star

HOOKED = []


class BuiltinLikePlugin(Star):
    """Stops the event, then replies; has an after_message_sent hook of its own (priority 0)
    like AstrBot's built-in plugin, registered after the AstrDesk plugin as at a normal start
    (data/plugins load before the built-ins)."""

    def __init__(self, context: Context):
        super().__init__(context)

    @filter.event_message_type(filter.EventMessageType.ALL)
    async def answer(self, event: AstrMessageEvent):
        event.stop_event()
        yield event.plain_result("stopped, then replied")

    @filter.after_message_sent()
    async def after_message_sent(self, event: AstrMessageEvent):
        HOOKED.append(event.get_result().get_plain_text())
'''


def test_report_hook_never_starves_other_after_message_sent_hooks(tmp_path):
    """For an event already stopped when its reply goes out, AstrBot calls only the first
    after_message_sent hook. The report hook runs last, so it never takes that place (the
    price: that reply is not reported)."""

    async def scenario():
        async with FakeSidecar() as fake:
            install_plugin(tmp_path, config=config(fake.url), probe=False)
            install_extra_plugin(
                tmp_path,
                "zzz_builtin_like",
                STOP_THEN_REPLY_MAIN,
                "name: zzz_builtin_like\nauthor: t\ndesc: t\nversion: 0.0.1\n",
            )
            async with StubHost(tmp_path) as host:
                hooks = [
                    h.handler_module_path.split(".")[2]
                    for h in star_handlers_registry.get_handlers_by_event_type(
                        EventType.OnAfterMessageSentEvent
                    )
                ]
                event = await host.dispatch(make_event(user_id="10001", text="hi"))
                hooked = star_map["data.plugins.zzz_builtin_like.main"].module.HOOKED
                return fake, event, hooks, hooked

    fake, event, hooks, hooked = run(scenario())
    assert hooks == ["zzz_builtin_like", PLUGIN_DIR_NAME]
    assert [c.get_plain_text() for c in event.sent] == ["stopped, then replied"]
    assert hooked == ["stopped, then replied"], "the other plugin's hook was starved"
    assert fake.outbound == []


# --- controls: the ways AstrBot silently skips a handler -------------------------------------

WRONG_SIGNATURE_MAIN = '''
from astrbot.api.event import AstrMessageEvent, filter
from astrbot.api.star import Context, Star

RAN = []


class WrongSignaturePlugin(Star):
    def __init__(self, context: Context):
        super().__init__(context)

    @filter.event_message_type(filter.EventMessageType.ALL, priority=10)
    async def gate_without_event(self):
        RAN.append(True)
        raise AssertionError("never reached")
'''


def test_control_wrong_signature_is_only_logged_and_skipped(tmp_path, astrbot_logs):
    async def scenario():
        install_extra_plugin(
            tmp_path,
            "astrbot_plugin_wrong_sig",
            WRONG_SIGNATURE_MAIN,
            "name: astrbot_plugin_wrong_sig\nauthor: t\ndesc: t\nversion: 0.0.1\n",
        )
        async with StubHost(tmp_path) as host:
            event = await host.dispatch(make_event())
            ran = star_map["data.plugins.astrbot_plugin_wrong_sig.main"].module.RAN
            return event, ran

    event, ran = run(scenario())
    assert ran == []
    assert not event.is_stopped()
    assert "Plugin Handler arguments do not match its definition." in log_text(astrbot_logs)


def test_control_plugin_without_name_has_its_handlers_dropped(tmp_path):
    async def scenario():
        async with FakeSidecar(blocked={("qq", "bad-user")}) as fake:
            install_plugin(tmp_path, config=config(fake.url), probe=False)
            meta = tmp_path / "data" / "plugins" / PLUGIN_DIR_NAME / "metadata.yaml"
            meta.write_text(
                "\n".join(
                    line for line in meta.read_text().splitlines() if not line.startswith("name:")
                )
            )
            async with StubHost(tmp_path) as host:
                event = await host.dispatch(make_event(user_id="bad-user"))
                return fake, event, star_map[PLUGIN_MODULE].name

    fake, event, name = run(scenario())
    assert name is None
    assert fake.intercepts == [], "the gate of a nameless plugin never runs"
    assert not event.is_stopped(), "so a blocked user gets through"
