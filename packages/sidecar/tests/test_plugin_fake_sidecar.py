"""The plugin in the AstrBot stand-in against the Python FakeSidecar (always runs).

test_real_sidecar.py repeats the main cases against the real Node sidecar and server.
"""

import asyncio
import re
import time

import pytest

from astrbot.core.message.components import File, Image, Plain, Record
from fake_sidecar import FakeSidecar
from helpers import TOKEN, config, dead_url, log_text
from stub_host import StubHost, install_plugin, make_event


def run(coro):
    return asyncio.run(coro)


ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


# --- block and pass --------------------------------------------------------------------------


def test_blocked_user_event_is_stopped(tmp_path, astrbot_logs):
    async def scenario():
        async with FakeSidecar(blocked={("qq", "bad-user")}) as fake:
            install_plugin(tmp_path, config=config(fake.url))
            async with StubHost(tmp_path) as host:
                event = await host.dispatch(make_event(user_id="bad-user", text="spam spam"))
                return fake, host, event

    fake, host, event = run(scenario())
    assert event.is_stopped()
    assert host.probe_seen == [], "a later plugin saw a blocked message"
    assert host.scheduler.llm_calls == [], "the LLM saw a blocked message"
    assert event.sent == [], "the blocked user got a reply"
    assert [i["user_id"] for i in fake.intercepts] == ["bad-user"]
    assert fake.of_type("message.blocked")[0]["platform_user_id"] == "bad-user"
    assert fake.outbound == []
    assert fake.invalid == []
    assert "blocked qq:bad-user" in log_text(astrbot_logs)


def test_clean_user_passes_and_is_reported(tmp_path, astrbot_logs):
    async def scenario():
        async with FakeSidecar(blocked={("qq", "bad-user")}) as fake:
            install_plugin(tmp_path, config=config(fake.url))
            async with StubHost(tmp_path) as host:
                event = await host.dispatch(
                    make_event(user_id="10001", nickname="小王", text="我想申请退款", message_id="m-42",
                               timestamp=1767261600)
                )
                return fake, host, event

    fake, host, event = run(scenario())
    assert not event.is_stopped()
    assert host.probe_seen == [("10001", "我想申请退款")]
    assert host.scheduler.llm_calls == ["我想申请退款"]
    assert [c.get_plain_text() for c in event.sent] == ["echo: 我想申请退款"]
    assert fake.invalid == []

    # exactly the InterceptRequest the sidecar expects
    assert fake.intercepts == [
        {
            "platform": "qq",
            "platform_instance_id": "napcat-main",
            "user_id": "10001",
            "nickname": "小王",
            "session": "napcat-main:FriendMessage:10001",
            "message_id": "m-42",
            "kind": "text",
            "text": "我想申请退款",
            "sent_at": "2026-01-01T10:00:00.000Z",
        }
    ]
    inbound = fake.of_type("message.inbound")
    assert len(inbound) == 1 and inbound[0]["platform_user_id"] == "10001"

    # the bot's own reply, reported by the after_message_sent hook
    assert len(fake.outbound) == 1
    out = fake.outbound[0]
    assert set(out) == {"platform", "platform_instance_id", "user_id", "session", "kind", "text", "sent_at"}
    assert out["platform"] == "qq"
    assert out["platform_instance_id"] == "napcat-main"
    assert out["user_id"] == "10001"
    assert out["session"] == "napcat-main:FriendMessage:10001"
    assert out["kind"] == "text"
    assert out["text"] == "echo: 我想申请退款"
    assert ISO_Z.match(out["sent_at"])
    sent = fake.of_type("message.outbound_sent")
    assert sent[0]["platform_user_id"] == "10001" and sent[0]["session_id"] == out["session"]


def test_group_message_carries_group_and_session(tmp_path):
    async def scenario():
        async with FakeSidecar() as fake:
            install_plugin(tmp_path, config=config(fake.url))
            async with StubHost(tmp_path) as host:
                event = await host.dispatch(make_event(user_id="20002", group_id="g-9", text="在吗"))
                return fake, host, event

    fake, host, event = run(scenario())
    assert not event.is_stopped()
    req = fake.intercepts[0]
    assert req["group_id"] == "g-9"
    assert req["session"] == "napcat-main:GroupMessage:g-9"
    assert host.probe_seen == [("20002", "在吗")]
    # a group message that did not @ the bot does not call the LLM
    assert host.scheduler.llm_calls == []
    assert fake.invalid == []


@pytest.mark.parametrize(
    "adapter,platform",
    [
        ("aiocqhttp", "qq"),
        ("qq_official", "qq_official"),
        ("qq_official_webhook", "qq_official"),
        ("wecom", "wecom"),
        ("wecom_ai_bot", "wecom"),
        ("weixin_oc", "wechat"),
        ("weixin_official_account", "wechat_official"),
        ("telegram", "telegram"),
        ("discord", "discord"),
        ("lark", "lark"),
        ("dingtalk", "dingtalk"),
        ("slack", "slack"),
        ("kook", "kook"),
        ("line", "line"),
        ("mattermost", "mattermost"),
        ("misskey", "misskey"),
        ("webchat", "webchat"),
    ],
)
def test_adapter_names_map_to_platforms(tmp_path, adapter, platform):
    async def scenario():
        async with FakeSidecar(blocked={(platform, "u1")}) as fake:
            install_plugin(tmp_path, config=config(fake.url), probe=False)
            async with StubHost(tmp_path) as host:
                event = await host.dispatch(make_event(adapter=adapter, user_id="u1"))
                return fake, event

    fake, event = run(scenario())
    assert fake.intercepts[0]["platform"] == platform
    assert "adapter" not in fake.intercepts[0]
    assert event.is_stopped(), "the blacklist entry is per AstrDesk platform"
    assert fake.invalid == []


@pytest.mark.parametrize("adapter", ["satori", "vocechat", "matrix", "some_future_adapter"])
def test_unknown_adapter_is_other_with_adapter_name(tmp_path, adapter):
    async def scenario():
        async with FakeSidecar() as fake:
            install_plugin(tmp_path, config=config(fake.url), probe=False)
            async with StubHost(tmp_path) as host:
                await host.dispatch(make_event(adapter=adapter))
                return fake

    fake = run(scenario())
    assert fake.intercepts[0]["platform"] == "other"
    assert fake.intercepts[0]["adapter"] == adapter
    assert fake.outbound[0]["platform"] == "other"
    assert fake.outbound[0]["adapter"] == adapter
    assert fake.invalid == []


def test_mapping_table_is_one_table():
    import importlib

    from stub_host import PLUGIN_SRC

    import sys

    from astrbot.core.star.star import star_map, star_registry

    name = "astrdesk_main_for_table"
    spec = importlib.util.spec_from_file_location(name, PLUGIN_SRC / "main.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.modules.pop(name, None)
        md = star_map.pop(name, None)
        if md in star_registry:
            star_registry.remove(md)
        from astrbot.core.star.star_handler import star_handlers_registry

        for h in star_handlers_registry.get_handlers_by_module_name(name):
            star_handlers_registry.remove(h)
    assert mod.map_platform("aiocqhttp") == ("qq", None)
    assert mod.map_platform("qq_official_webhook") == ("qq_official", None)
    assert mod.map_platform("wecom_ai_bot") == ("wecom", None)
    assert mod.map_platform("weixin_oc") == ("wechat", None)
    assert mod.map_platform("weixin_official_account") == ("wechat_official", None)
    assert mod.map_platform("satori") == ("other", "satori")
    assert mod.map_platform("") == ("other", "unknown")
    platforms = set(mod.ADAPTER_PLATFORMS.values())
    from fake_sidecar import PLATFORMS

    assert platforms <= PLATFORMS


# --- kinds and voice -------------------------------------------------------------------------


def test_image_and_file_kinds(tmp_path):
    img = tmp_path / "a.jpg"
    img.write_bytes(b"\xff\xd8\xff")

    async def scenario():
        async with FakeSidecar() as fake:
            install_plugin(tmp_path, config=config(fake.url), probe=False)
            async with StubHost(tmp_path) as host:
                await host.dispatch(make_event(text="", components=[Image.fromFileSystem(str(img))], message_id="i1"))
                await host.dispatch(make_event(text="", components=[File(name="a.pdf", file="/tmp/a.pdf")], message_id="f1"))
                await host.dispatch(
                    make_event(text="look", components=[Plain("look"), Image.fromFileSystem(str(img))], message_id="t1")
                )
                return fake

    fake = run(scenario())
    kinds = {i["message_id"]: (i["kind"], i.get("text")) for i in fake.intercepts}
    assert kinds == {"i1": ("image", None), "f1": ("file", None), "t1": ("text", "look")}
    assert fake.invalid == []


def test_voice_is_read_inside_the_handler(tmp_path):
    """AstrBot deletes its temporary files when the pipeline ends: the audio must be read by
    the gate itself. The stand-in pipeline deletes the event's temporary files at the end, so
    the bytes the hook got prove they were read inside the handler."""
    audio = tmp_path / "voice.wav"
    audio.write_bytes(b"RIFF" + bytes(range(256)) * 4)
    got = []

    async def scenario():
        async with FakeSidecar() as fake:
            install_plugin(tmp_path, config=config(fake.url), probe=False)
            async with StubHost(tmp_path) as host:

                async def on_voice(event, request, clips):
                    got.append((request["kind"], request["message_id"], [(c.path, c.data) for c in clips]))

                host.plugin.on_voice = on_voice
                event = make_event(text="", components=[Record.fromFileSystem(str(audio))], message_id="v1")
                event.track_temporary_local_file(str(audio))
                await host.dispatch(event)
                return fake, event

    fake, event = run(scenario())
    assert not audio.exists(), "the pipeline deletes its temporary file"
    assert fake.intercepts[0]["kind"] == "voice"
    assert "text" not in fake.intercepts[0]
    assert got == [("voice", "v1", [(str(audio), b"RIFF" + bytes(range(256)) * 4)])]
    assert not event.is_stopped()


def test_voice_of_blocked_user_is_not_read(tmp_path):
    audio = tmp_path / "voice.wav"
    audio.write_bytes(b"RIFF")
    got = []

    async def scenario():
        async with FakeSidecar(blocked={("qq", "bad-user")}) as fake:
            install_plugin(tmp_path, config=config(fake.url), probe=False)
            async with StubHost(tmp_path) as host:

                async def on_voice(event, request, clips):
                    got.append(clips)

                host.plugin.on_voice = on_voice
                event = make_event(user_id="bad-user", text="", components=[Record.fromFileSystem(str(audio))])
                await host.dispatch(event)
                return event

    event = run(scenario())
    assert event.is_stopped()
    assert got == []


def test_unreadable_voice_only_logs(tmp_path, astrbot_logs):
    async def scenario():
        async with FakeSidecar() as fake:
            install_plugin(tmp_path, config=config(fake.url))
            async with StubHost(tmp_path) as host:
                event = make_event(text="", components=[Record(file="/nonexistent/voice.amr")])
                await host.dispatch(event)
                return host, event

    host, event = run(scenario())
    assert not event.is_stopped()
    assert len(host.probe_seen) == 1
    assert "could not read a voice message" in log_text(astrbot_logs)


# --- fail modes ------------------------------------------------------------------------------


@pytest.mark.parametrize("fail_mode,stopped", [("open", False), ("closed", True)])
def test_dead_sidecar_follows_fail_mode(tmp_path, astrbot_logs, fail_mode, stopped):
    async def scenario():
        install_plugin(tmp_path, config=config(dead_url(), fail_mode=fail_mode))
        async with StubHost(tmp_path) as host:
            event = await host.dispatch(make_event(user_id="10001", text="hi"))
            return host, event

    host, event = run(scenario())  # never raises
    logs = log_text(astrbot_logs)
    assert event.is_stopped() is stopped
    if stopped:
        assert host.probe_seen == [] and host.scheduler.llm_calls == []
        assert "fail_mode=closed: message stopped" in logs
    else:
        assert host.probe_seen == [("10001", "hi")]
        assert host.scheduler.llm_calls == ["hi"]
        assert "fail_mode=open: message passed" in logs
    assert "cannot connect" in logs
    # nothing escaped the handler: AstrBot would have logged it and replied the exception text
    assert "handle error" not in logs
    assert not any("出现异常" in c.get_plain_text() for c in event.sent)


@pytest.mark.parametrize("fail_mode,stopped", [("open", False), ("closed", True)])
def test_slow_sidecar_times_out_and_follows_fail_mode(tmp_path, astrbot_logs, fail_mode, stopped):
    async def scenario():
        async with FakeSidecar(delay_s=3.0) as fake:
            install_plugin(tmp_path, config=config(fake.url, fail_mode=fail_mode, timeout_ms=150), probe=False)
            async with StubHost(tmp_path) as host:
                t0 = time.monotonic()
                event = make_event(text="hi")
                await host.scheduler.execute(event)  # outbound is slow too; time only the gate below
                gate_event = make_event(text="again", message_id="m-2")
                t1 = time.monotonic()
                await host.plugin.astrdesk_gate(gate_event)
                return event, gate_event, time.monotonic() - t1, t0

    event, gate_event, elapsed, _ = run(scenario())
    assert elapsed < 1.0, f"gate took {elapsed:.2f}s with timeout_ms=150"
    assert event.is_stopped() is stopped
    assert gate_event.is_stopped() is stopped
    logs = log_text(astrbot_logs)
    assert "timed out" in logs
    assert f"fail_mode={fail_mode}" in logs


@pytest.mark.parametrize("status", [500, 503, 400])
def test_sidecar_error_status_follows_fail_mode(tmp_path, astrbot_logs, status):
    async def scenario():
        async with FakeSidecar(status=status) as fake:
            install_plugin(tmp_path, config=config(fake.url, fail_mode="closed"), probe=False)
            async with StubHost(tmp_path) as host:
                return await host.dispatch(make_event())

    event = run(scenario())
    assert event.is_stopped()
    assert f"HTTP {status}" in log_text(astrbot_logs)


def test_wrong_token_follows_fail_mode(tmp_path, astrbot_logs):
    async def scenario():
        async with FakeSidecar() as fake:
            install_plugin(tmp_path, config=config(fake.url, token="not-the-token-xxxxxxxx"))
            async with StubHost(tmp_path) as host:
                event = await host.dispatch(make_event())
                return fake, host, event

    fake, host, event = run(scenario())
    assert fake.unauthorized >= 1
    assert not event.is_stopped()
    assert len(host.probe_seen) == 1
    assert "HTTP 401" in log_text(astrbot_logs)


def test_garbage_answer_follows_fail_mode(tmp_path, astrbot_logs):
    from aiohttp import web

    async def maybe(_request):
        return web.json_response({"action": "maybe"})

    async def scenario():
        app = web.Application()
        app.router.add_post("/astrbot-api/v1/messages/intercept", maybe)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        try:
            install_plugin(tmp_path, config=config(url, fail_mode="closed"), probe=False)
            async with StubHost(tmp_path) as host:
                return await host.dispatch(make_event())
        finally:
            await runner.cleanup()

    event = run(scenario())
    assert event.is_stopped()
    assert "unexpected intercept answer" in log_text(astrbot_logs)


def test_outbound_failure_is_only_logged(tmp_path, astrbot_logs):
    async def scenario():
        async with FakeSidecar() as fake:
            install_plugin(tmp_path, config=config(fake.url), probe=False)
            async with StubHost(tmp_path) as host:
                # the gate works, then the sidecar breaks before the reply is reported
                event = make_event(text="hi")
                orig_send = event.send

                async def send(message):
                    await orig_send(message)
                    fake.status = 500

                event.send = send
                await host.dispatch(event)
                return fake, event

    fake, event = run(scenario())
    assert not event.is_stopped()
    assert [c.get_plain_text() for c in event.sent] == ["echo: hi"]
    assert fake.outbound == []
    assert "could not report the bot's reply" in log_text(astrbot_logs)


def test_event_without_sender_passes_unchecked(tmp_path):
    async def scenario():
        async with FakeSidecar() as fake:
            install_plugin(tmp_path, config=config(fake.url, fail_mode="closed"))
            async with StubHost(tmp_path) as host:
                event = await host.dispatch(make_event(user_id=""))
                return fake, event

    fake, event = run(scenario())
    assert fake.intercepts == []
    assert not event.is_stopped()


def test_missing_message_id_gets_one(tmp_path):
    async def scenario():
        async with FakeSidecar() as fake:
            install_plugin(tmp_path, config=config(fake.url), probe=False)
            async with StubHost(tmp_path) as host:
                await host.dispatch(make_event(message_id=None))
                await host.dispatch(make_event(message_id=""))
                return fake

    fake = run(scenario())
    ids = [i["message_id"] for i in fake.intercepts]
    assert len(ids) == 2 and all(i.startswith("astrbot-") for i in ids) and ids[0] != ids[1]
    assert fake.invalid == []


def test_long_fields_are_clipped_to_the_schema(tmp_path):
    async def scenario():
        async with FakeSidecar() as fake:
            install_plugin(tmp_path, config=config(fake.url), probe=False)
            async with StubHost(tmp_path) as host:
                await host.dispatch(make_event(nickname="n" * 500, group_id="g" * 300))
                return fake

    fake = run(scenario())
    assert fake.invalid == []
    assert len(fake.intercepts[0]["nickname"]) == 200


# --- config and lifecycle --------------------------------------------------------------------


def test_defaults_from_conf_schema(tmp_path, astrbot_logs):
    """No saved config: AstrBot builds it from _conf_schema.json."""

    async def scenario():
        install_plugin(tmp_path, probe=False)
        async with StubHost(tmp_path) as host:
            return host.plugin.settings, dict(host.plugin.config)

    settings, conf = run(scenario())
    assert conf == {
        "sidecar_url": "http://127.0.0.1:6190",
        "sidecar_token": "",
        "fail_mode": "open",
        "timeout_ms": 300,
    }
    assert settings.fail_mode == "open"
    assert settings.timeout_ms == 300
    assert settings.sidecar_url == "http://127.0.0.1:6190"
    assert "sidecar_token is empty" in log_text(astrbot_logs)


def test_bad_config_values_fall_back(tmp_path, astrbot_logs):
    async def scenario():
        install_plugin(
            tmp_path,
            config={"sidecar_url": "localhost:1", "sidecar_token": TOKEN, "fail_mode": "maybe", "timeout_ms": -5},
            probe=False,
        )
        async with StubHost(tmp_path) as host:
            return host.plugin.settings

    s = run(scenario())
    assert (s.sidecar_url, s.fail_mode, s.timeout_ms) == ("http://127.0.0.1:6190", "open", 300)
    assert TOKEN not in repr(s), "the token must not end up in logs"


def test_one_http_session_opened_in_initialize_closed_in_terminate(tmp_path):
    async def scenario():
        async with FakeSidecar() as fake:
            install_plugin(tmp_path, config=config(fake.url), probe=False)
            async with StubHost(tmp_path) as host:
                plugin = host.plugin
                session = plugin._session
                assert session is not None and not session.closed
                for n in range(3):
                    await host.dispatch(make_event(message_id=f"m{n}"))
                assert plugin._session is session
            return session, fake

    session, fake = run(scenario())
    assert session.closed
    assert len(fake.intercepts) == 3
