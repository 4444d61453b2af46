"""FakeSidecar: a small aiohttp stand-in for the Node sidecar's plugin-facing API.

Used by the tests that must run whether or not the real sidecar is built. It validates every
request against the sidecar's schemas (packages/protocol/src/control.ts `InterceptRequest`,
packages/sidecar/src/intercept/index.ts `OutboundRequest`) as strictly as zod does, answers
like the real sidecar (`pass` / `block` from a blacklist set), and keeps what a real sidecar
would put in its outbox (`message.inbound`, `message.blocked`, `message.outbound_sent`).
Knobs make it slow (`delay_s`) or broken (`status`).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

PLATFORMS = {
    "qq",
    "qq_official",
    "wecom",
    "wechat",
    "wechat_official",
    "telegram",
    "discord",
    "lark",
    "dingtalk",
    "slack",
    "kook",
    "line",
    "mattermost",
    "misskey",
    "webchat",
    "other",
}
KINDS = {"text", "image", "voice", "file"}
# zod z.iso.datetime({ offset: true })
ISO_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$"
)

# field -> (required, max length, min length)
INTERCEPT_FIELDS: dict[str, tuple[bool, int, int]] = {
    "platform": (True, 64, 1),
    "adapter": (False, 64, 0),
    "platform_instance_id": (True, 200, 0),
    "user_id": (True, 200, 1),
    "nickname": (False, 200, 0),
    "group_id": (False, 200, 0),
    "session": (True, 500, 1),
    "message_id": (True, 200, 1),
    "kind": (True, 10, 1),
    "text": (False, 1_000_000, 0),
    "sent_at": (True, 64, 1),
}
# packages/sidecar/src/intercept/index.ts `OutboundRequest` (field names follow the intercept)
OUTBOUND_FIELDS: dict[str, tuple[bool, int, int]] = {
    "platform": (True, 64, 1),
    "adapter": (False, 64, 0),
    "platform_instance_id": (False, 200, 0),
    "user_id": (False, 200, 1),
    "session": (True, 500, 1),
    "message_id": (False, 200, 0),
    "kind": (True, 10, 1),
    "text": (False, 1_000_000, 0),
    "sent_at": (False, 64, 1),
}


def validate(body: Any, fields: dict[str, tuple[bool, int, int]], platforms: set[str]) -> list[str]:
    """Problems with a body, as zod's strictObject would find them ([] when valid)."""
    if not isinstance(body, dict):
        return ["body is not an object"]
    problems = [f"unknown field {k}" for k in body if k not in fields]
    for name, (required, max_len, min_len) in fields.items():
        if name not in body:
            if required:
                problems.append(f"missing {name}")
            continue
        value = body[name]
        if not isinstance(value, str):
            problems.append(f"{name} is not a string")
            continue
        if not (min_len <= len(value) <= max_len):
            problems.append(f"{name} length {len(value)} outside {min_len}..{max_len}")
    if isinstance(body.get("kind"), str) and body["kind"] not in KINDS:
        problems.append(f"kind {body['kind']!r} not in {sorted(KINDS)}")
    if isinstance(body.get("platform"), str) and body["platform"] not in platforms:
        problems.append(f"platform {body['platform']!r} is not a platform")
    if isinstance(body.get("sent_at"), str) and not ISO_RE.match(body["sent_at"]):
        problems.append(f"sent_at {body['sent_at']!r} is not ISO-8601 with offset")
    return problems


@dataclass
class FakeSidecar:
    token: str = "fake-sidecar-token-0123456789"
    blocked: set[tuple[str, str]] = field(default_factory=set)
    delay_s: float = 0.0
    status: int | None = None
    """Answer every /astrbot-api call with this HTTP status instead (e.g. 500)."""

    intercepts: list[dict] = field(default_factory=list)
    outbound: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    unauthorized: int = 0
    url: str = ""

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None

    # --- server ---------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/astrbot-api/v1/messages/intercept", self._intercept)
        app.router.add_post("/astrbot-api/v1/messages/outbound", self._outbound)
        app.router.add_get("/astrbot-api/v1/health", self._health)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSidecar:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # --- helpers for tests ----------------------------------------------------------------

    def of_type(self, event_type: str) -> list[dict]:
        return [e["data"] for e in self.events if e["type"] == event_type]

    # --- routes ---------------------------------------------------------------------------

    async def _gate(self, request: web.Request) -> web.Response | None:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            self.unauthorized += 1
            return web.json_response(
                {"error": {"type": "authentication_error", "code": "unauthorized", "message": "bad token"}},
                status=401,
            )
        if self.status is not None:
            return web.json_response(
                {"error": {"type": "api_error", "code": "internal", "message": "fake failure"}},
                status=self.status,
            )
        return None

    async def _health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _intercept(self, request: web.Request) -> web.Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        body = await request.json()
        problems = validate(body, INTERCEPT_FIELDS, PLATFORMS)
        if problems:
            self.invalid.extend(problems)
            return web.json_response(
                {"error": {"type": "invalid_request_error", "code": "validation_failed", "message": "; ".join(problems)}},
                status=400,
            )
        self.intercepts.append(body)
        data = {
            "platform": body["platform"],
            "platform_instance_id": body["platform_instance_id"],
            "platform_user_id": body["user_id"],
            "platform_message_id": body["message_id"],
            "session_id": body["session"],
            "kind": body["kind"],
            "sent_at": body["sent_at"],
        }
        for k in ("nickname", "group_id", "text"):
            if k in body:
                data[k] = body[k]
        if (body["platform"], body["user_id"]) in self.blocked:
            entry_id = f"bl_fake_{body['user_id']}"
            data.update(message_status="blocked_by_blacklist", reason="fake blacklist", entry_id=entry_id)
            self.events.append({"type": "message.blocked", "data": data})
            return web.json_response({"action": "block", "reason": "fake blacklist", "entry_id": entry_id})
        self.events.append({"type": "message.inbound", "data": data})
        return web.json_response({"action": "pass"})

    async def _outbound(self, request: web.Request) -> web.Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        body = await request.json()
        problems = validate(body, OUTBOUND_FIELDS, PLATFORMS)
        if problems:
            self.invalid.extend(problems)
            return web.json_response(
                {"error": {"type": "invalid_request_error", "code": "validation_failed", "message": "; ".join(problems)}},
                status=400,
            )
        self.outbound.append(body)
        # as the sidecar turns it into MessageOutboundSentData
        data = {"platform": body["platform"]}
        if "user_id" in body:
            data["platform_user_id"] = body["user_id"]
        if body.get("message_id"):
            data["platform_message_id"] = body["message_id"]
        data["session_id"] = body["session"]
        data["kind"] = body["kind"]
        if "text" in body:
            data["text"] = body["text"]
        data["sent_at"] = body.get("sent_at") or "1970-01-01T00:00:00.000Z"
        self.events.append({"type": "message.outbound_sent", "data": data})
        return web.json_response({"accepted": True}, status=202)
