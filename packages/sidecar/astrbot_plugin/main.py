"""AstrDesk plugin for AstrBot.

Every message AstrBot receives goes through ``astrdesk_gate`` first (highest priority): the
plugin asks the AstrDesk sidecar beside this AstrBot whether the sender is blacklisted
(``POST {sidecar_url}/astrbot-api/v1/messages/intercept``). On ``block`` it stops the event,
so neither later plugins nor the LLM see the message. The sidecar records every message it is
shown (passed or blocked) and reports it to the AstrDesk server. ``astrdesk_report_reply``
reports what AstrBot itself replied (``POST .../messages/outbound``).

The plugin never lets an error escape a handler (AstrBot would stop the event and, in private
chats, send the exception text to the end user): every sidecar failure applies the configured
fail mode, ``open`` (let the message through, the default) or ``closed`` (stop it), and logs
which one happened.

Written against AstrBot's plugin API (``astrbot.api``; checked with AstrBot 4.27.4).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import aiohttp

import astrbot.api.message_components as Comp
from astrbot.api import AstrBotConfig, logger
from astrbot.api.event import AstrMessageEvent, filter
from astrbot.api.star import Context, Star

INTERCEPT_PATH = "/astrbot-api/v1/messages/intercept"
OUTBOUND_PATH = "/astrbot-api/v1/messages/outbound"

DEFAULT_SIDECAR_URL = "http://127.0.0.1:6190"
# Above every other handler. AstrBot runs message handlers by descending priority, and equal
# priorities in registration order; its built-in session-control handler (astrbot plugin,
# handle_session_control_agent) also uses sys.maxsize, so with sys.maxsize the gate would run
# after it whenever this plugin is (re)loaded after the built-ins (install or reload from the
# WebUI), and a message handed to a waiting session would skip the blacklist.
GATE_PRIORITY = sys.maxsize + 1
# Below every other after_message_sent hook. For an event that is already stopped when its
# reply goes out (a plugin stopped it, then replied), AstrBot calls only the first hook in
# priority order, then stops; equal priorities run in registration order, and at a normal
# start plugins in data/plugins register before AstrBot's built-ins. Running last means this
# hook never takes that one place from AstrBot's own hook (or another plugin's); the price is
# that such replies are not reported.
REPORT_PRIORITY = -1
DEFAULT_TIMEOUT_MS = 300
FAIL_MODES = ("open", "closed")

# AstrBot adapter name (event.get_platform_name(), the names in AstrBot's
# @register_platform_adapter) -> AstrDesk platform. Anything not listed is `other`, and the
# adapter name travels along in `adapter`.
ADAPTER_PLATFORMS: dict[str, str] = {
    "aiocqhttp": "qq",  # OneBot v11 (NapCat, Lagrange, go-cqhttp ...)
    "qq_official": "qq_official",
    "qq_official_webhook": "qq_official",
    "wecom": "wecom",  # WeCom application / customer service (WeChat KF)
    "wecom_ai_bot": "wecom",  # WeCom AI bot
    "weixin_oc": "wechat",  # personal WeChat
    "gewechat": "wechat",  # older AstrBot releases
    "wechatpadpro": "wechat",  # older AstrBot releases
    "weixin_official_account": "wechat_official",
    "telegram": "telegram",
    "discord": "discord",
    "lark": "lark",
    "dingtalk": "dingtalk",
    "slack": "slack",
    "kook": "kook",
    "line": "line",
    "mattermost": "mattermost",
    "misskey": "misskey",
    "webchat": "webchat",
}

# Limits of the sidecar's InterceptRequest schema (packages/protocol/src/control.ts).
MAX_ID = 200
MAX_SESSION = 500
MAX_ADAPTER = 64
MAX_TEXT = 1_000_000
# A voice message larger than this is not read into memory.
MAX_VOICE_BYTES = 25 * 1024 * 1024


def map_platform(adapter_name: str | None) -> tuple[str, str | None]:
    """AstrDesk platform for an AstrBot adapter name, and the adapter name when it is `other`."""
    name = (adapter_name or "").strip()
    platform = ADAPTER_PLATFORMS.get(name)
    if platform is not None:
        return platform, None
    return "other", (name[:MAX_ADAPTER] or "unknown")


def iso_now() -> str:
    return iso_from_epoch(time.time())


def iso_from_epoch(ts: float) -> str:
    return (
        datetime.fromtimestamp(ts, tz=timezone.utc)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _sent_at(message_obj: Any) -> str:
    ts = getattr(message_obj, "timestamp", None)
    try:
        value = float(ts)
    except (TypeError, ValueError):
        return iso_now()
    if value > 1e12:  # some adapters give milliseconds
        value /= 1000.0
    if value <= 0:
        return iso_now()
    try:
        return iso_from_epoch(value)
    except (OverflowError, OSError, ValueError):
        return iso_now()


def _clip(value: Any, limit: int) -> str:
    text = "" if value is None else str(value)
    return text[:limit]


def message_kind(components: list[Any] | None, text: str) -> str:
    """text | image | voice | file, from a message chain."""
    components = components or []
    if any(isinstance(c, Comp.Record) for c in components):
        return "voice"
    if text.strip():
        return "text"
    if any(isinstance(c, Comp.Image) for c in components):
        return "image"
    if any(isinstance(c, Comp.File) for c in components):
        return "file"
    return "text"


@dataclass(frozen=True)
class Settings:
    sidecar_url: str
    sidecar_token: str = field(repr=False)
    fail_mode: str = "open"
    timeout_ms: int = DEFAULT_TIMEOUT_MS

    @property
    def timeout_s(self) -> float:
        return self.timeout_ms / 1000.0

    @classmethod
    def from_config(cls, config: Any) -> Settings:
        """Reads the plugin config; bad values fall back to defaults with a warning, never raise."""
        get = config.get if hasattr(config, "get") else (lambda _k, d=None: d)

        url = str(get("sidecar_url", "") or "").strip().rstrip("/")
        if not url:
            url = DEFAULT_SIDECAR_URL
        elif not url.startswith(("http://", "https://")):
            logger.warning(
                f"[astrdesk] sidecar_url {url!r} is not an http(s) URL; using {DEFAULT_SIDECAR_URL}"
            )
            url = DEFAULT_SIDECAR_URL

        token = str(get("sidecar_token", "") or "").strip()

        fail_mode = str(get("fail_mode", "open") or "open").strip().lower()
        if fail_mode not in FAIL_MODES:
            logger.warning(f"[astrdesk] fail_mode {fail_mode!r} is not open|closed; using open")
            fail_mode = "open"

        raw_timeout = get("timeout_ms", DEFAULT_TIMEOUT_MS)
        try:
            timeout_ms = int(raw_timeout)
        except (TypeError, ValueError):
            timeout_ms = 0
        if timeout_ms <= 0:
            logger.warning(
                f"[astrdesk] timeout_ms {raw_timeout!r} is not a positive number; "
                f"using {DEFAULT_TIMEOUT_MS}"
            )
            timeout_ms = DEFAULT_TIMEOUT_MS

        return cls(url, token, fail_mode, timeout_ms)


class SidecarError(Exception):
    """The sidecar did not give a usable answer."""


@dataclass
class VoiceClip:
    """A voice message read inside the handler, while AstrBot's temporary file still exists."""

    path: str
    data: bytes


class AstrDeskPlugin(Star):
    """AstrDesk: blacklist gate and conversation reporting through the AstrDesk sidecar."""

    def __init__(self, context: Context, config: AstrBotConfig | None = None) -> None:
        super().__init__(context)
        self.config = config if config is not None else {}
        self.settings = Settings.from_config(self.config)
        self._session: aiohttp.ClientSession | None = None
        if not self.settings.sidecar_token:
            logger.warning(
                "[astrdesk] sidecar_token is empty: the sidecar will refuse every call and "
                f"fail_mode={self.settings.fail_mode} applies to every message"
            )

    # --- lifecycle ------------------------------------------------------------------------

    async def initialize(self) -> None:
        """Opens the one HTTP session every sidecar call uses."""
        self._ensure_session()
        logger.info(
            f"[astrdesk] gate active: sidecar {self.settings.sidecar_url}, "
            f"fail_mode={self.settings.fail_mode}, timeout {self.settings.timeout_ms} ms"
        )

    async def terminate(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {self.settings.sidecar_token}"},
                # The sidecar is local: never route it through an HTTP(S)_PROXY from the env.
                trust_env=False,
            )
        return self._session

    # --- handlers -------------------------------------------------------------------------

    @filter.event_message_type(filter.EventMessageType.ALL, priority=GATE_PRIORITY)
    async def astrdesk_gate(self, event: AstrMessageEvent):
        """AstrDesk: checks every message against the tenant's blacklist."""
        try:
            await self._gate(event)
        except Exception as e:  # noqa: BLE001 - nothing may escape a handler
            self._apply_fail_mode(event, f"plugin error: {e!r}")

    @filter.after_message_sent(priority=REPORT_PRIORITY)
    async def astrdesk_report_reply(self, event: AstrMessageEvent):
        """AstrDesk: reports what AstrBot replied, so the conversation shows the bot's side."""
        try:
            await self._report_reply(event)
        except Exception as e:  # noqa: BLE001
            logger.warning(f"[astrdesk] could not report the bot's reply: {e!r}")

    # --- gate -----------------------------------------------------------------------------

    async def _gate(self, event: AstrMessageEvent) -> None:
        request = self.build_intercept_request(event)
        if request is None:
            logger.debug("[astrdesk] event without a sender id: nothing to check, passed")
            return
        try:
            answer = await self._post(INTERCEPT_PATH, request)
            action = answer.get("action") if isinstance(answer, dict) else None
            if action not in ("pass", "block"):
                raise SidecarError(f"unexpected intercept answer {answer!r:.200}")
        except Exception as e:  # noqa: BLE001
            self._apply_fail_mode(event, _describe(e), request)
            return

        if action == "block":
            event.stop_event()
            logger.info(
                f"[astrdesk] blocked {request['platform']}:{request['user_id']} "
                f"(session {request['session']}, reason: {answer.get('reason') or '-'}, "
                f"entry {answer.get('entry_id') or '-'}): event stopped"
            )
            return

        logger.debug(f"[astrdesk] passed {request['platform']}:{request['user_id']}")
        if request["kind"] == "voice":
            clips = await self._read_voice(event)
            if clips:
                try:
                    await self.on_voice(event, request, clips)
                except Exception as e:  # noqa: BLE001
                    logger.warning(f"[astrdesk] voice hook failed: {e!r}")

    def _apply_fail_mode(
        self, event: AstrMessageEvent, why: str, request: dict | None = None
    ) -> None:
        who = f" for {request['platform']}:{request['user_id']}" if request else ""
        if self.settings.fail_mode == "closed":
            event.stop_event()
            logger.warning(
                f"[astrdesk] sidecar unavailable{who} ({why}); fail_mode=closed: message stopped"
            )
        else:
            logger.warning(
                f"[astrdesk] sidecar unavailable{who} ({why}); fail_mode=open: message passed"
            )

    def build_intercept_request(self, event: AstrMessageEvent) -> dict | None:
        """The InboundRequest body for an event, or None when it has no sender to check."""
        user_id = _clip(event.get_sender_id(), MAX_ID)
        if not user_id:
            return None
        platform, adapter = map_platform(event.get_platform_name())
        message_obj = event.message_obj
        text = event.get_message_str() or ""
        kind = message_kind(event.get_messages(), text)

        message_id = _clip(getattr(message_obj, "message_id", "") or "", MAX_ID)
        if not message_id:
            message_id = f"astrbot-{uuid.uuid4().hex}"

        request: dict[str, Any] = {
            "platform": platform,
            "platform_instance_id": _clip(event.get_platform_id(), MAX_ID),
            "user_id": user_id,
            "session": _clip(event.unified_msg_origin, MAX_SESSION),
            "message_id": message_id,
            "kind": kind,
            "sent_at": _sent_at(message_obj),
        }
        if adapter is not None:
            request["adapter"] = adapter
        nickname = _clip(event.get_sender_name(), MAX_ID)
        if nickname:
            request["nickname"] = nickname
        group_id = _clip(event.get_group_id(), MAX_ID)
        if group_id:
            request["group_id"] = group_id
        if text:
            request["text"] = text[:MAX_TEXT]
        return request

    # --- voice ----------------------------------------------------------------------------

    async def _read_voice(self, event: AstrMessageEvent) -> list[VoiceClip]:
        """Reads every Record of the message now: AstrBot deletes its temporary files when the
        pipeline ends, so the audio has to be taken inside the handler."""
        clips: list[VoiceClip] = []
        for comp in event.get_messages():
            if not isinstance(comp, Comp.Record):
                continue
            try:
                path = await comp.convert_to_file_path()
                size = os.path.getsize(path)
                if size > MAX_VOICE_BYTES:
                    logger.warning(
                        f"[astrdesk] voice message of {size} bytes is over "
                        f"{MAX_VOICE_BYTES}; not read"
                    )
                    continue
                data = await asyncio.to_thread(_read_file, path)
                clips.append(VoiceClip(path=path, data=data))
            except Exception as e:  # noqa: BLE001
                logger.warning(f"[astrdesk] could not read a voice message: {e!r}")
        return clips

    async def on_voice(
        self, event: AstrMessageEvent, request: dict, clips: list[VoiceClip]
    ) -> None:
        """Called with the audio of a passed voice message (hook for voice upload and ASR)."""
        logger.debug(
            f"[astrdesk] voice message {request['message_id']}: "
            f"{', '.join(str(len(c.data)) for c in clips)} bytes read"
        )

    # --- outbound -------------------------------------------------------------------------

    async def _report_reply(self, event: AstrMessageEvent) -> None:
        result = event.get_result()
        chain = list(getattr(result, "chain", None) or [])
        if not chain:
            return
        text = result.get_plain_text() if hasattr(result, "get_plain_text") else ""
        text = (text or "").strip()
        platform, adapter = map_platform(event.get_platform_name())
        # The sidecar's OutboundRequest: field names follow the intercept request; the sidecar
        # turns it into a message.outbound_sent event for the server.
        body: dict[str, Any] = {
            "platform": platform,
            "platform_instance_id": _clip(event.get_platform_id(), MAX_ID),
            "session": _clip(event.unified_msg_origin, MAX_SESSION),
            "kind": message_kind(chain, text),
            "sent_at": iso_now(),
        }
        if adapter is not None:
            body["adapter"] = adapter
        user_id = _clip(event.get_sender_id(), MAX_ID)
        if user_id:
            body["user_id"] = user_id
        if text:
            body["text"] = text[:MAX_TEXT]
        try:
            await self._post(OUTBOUND_PATH, body)
        except Exception as e:  # noqa: BLE001
            logger.warning(
                f"[astrdesk] could not report the bot's reply in {body['session']} "
                f"({_describe(e)}); not retried"
            )

    # --- HTTP -----------------------------------------------------------------------------

    async def _post(self, path: str, body: dict) -> Any:
        session = self._ensure_session()
        timeout = self.settings.timeout_s
        url = self.settings.sidecar_url + path

        async def call() -> Any:
            async with session.post(
                url, json=body, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as resp:
                raw = await resp.read()
                if resp.status < 200 or resp.status >= 300:
                    snippet = raw[:200].decode("utf-8", "replace")
                    raise SidecarError(f"HTTP {resp.status} {snippet}")
                if not raw:
                    return None
                try:
                    return json.loads(raw)
                except ValueError as e:
                    raise SidecarError(f"answer is not JSON: {raw[:100]!r}") from e

        # aiohttp's own timeout covers connect + read; wait_for also bounds anything else.
        return await asyncio.wait_for(call(), timeout + 0.05)


def _read_file(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _describe(e: BaseException) -> str:
    if isinstance(e, (asyncio.TimeoutError, TimeoutError)):
        return "timed out"
    if isinstance(e, aiohttp.ClientConnectorError):
        return f"cannot connect: {e.os_error or e}"
    if isinstance(e, SidecarError):
        return str(e)
    return f"{type(e).__name__}: {e}"
