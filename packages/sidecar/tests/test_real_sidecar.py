"""The plugin in the AstrBot stand-in against the REAL sidecar, itself connected to a REAL
AstrDesk server — only the AstrBot host is a stand-in.

The module fixture starts `node packages/server/dist/cli.js` (SQLite in a temp DATA_DIR),
signs a tenant up over HTTP, approves it with an operator token from
`astrdesk-server operator create`, logs the owner in, registers an instance, then starts
`node packages/sidecar/dist/cli.js` with that instance token. The tests blacklist a user
through `POST /v1/blacklist`, wait until the sidecar has applied it, and drive messages
through the plugin. Skipped (with the reason) only when a bin is not built.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from helpers import config, log_text
from stub_host import SIDECAR_DIR, StubHost, install_plugin, make_event

REPO = SIDECAR_DIR.parent.parent
SERVER_BIN = REPO / "packages" / "server" / "dist" / "cli.js"
SIDECAR_BIN = SIDECAR_DIR / "dist" / "cli.js"
NODE = shutil.which("node")

missing = [str(p.relative_to(REPO)) for p in (SERVER_BIN, SIDECAR_BIN) if not p.exists()]
pytestmark = pytest.mark.skipif(
    bool(missing) or NODE is None,
    reason=(
        f"real sidecar tests need the built bins ({', '.join(missing)} missing: run `npm run build`)"
        if missing
        else "real sidecar tests need node on PATH"
    ),
)

BLOCKED_USER = "pytest-blocked-user"
CLEAN_USER = "pytest-clean-user"


def run(coro):
    return asyncio.run(coro)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(method: str, url: str, token: str | None = None, body=None, timeout=10.0):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode("utf-8", "replace")


def wait_for(check, what: str, timeout: float = 20.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, urllib.error.URLError) as e:
            last = e
            value = None
        else:
            value = last
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


class Proc:
    def __init__(self, name: str, args: list[str], env: dict, log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.p = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=str(REPO))

    def tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def alive(self) -> bool:
        return self.p.poll() is None

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=5)
        self._log.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    base = tmp_path_factory.mktemp("real-stack")
    server_dir = base / "server-data"
    sidecar_dir = base / "sidecar-data"
    server_dir.mkdir()
    sidecar_dir.mkdir()
    procs: list[Proc] = []

    server_port = free_port()
    server_url = f"http://127.0.0.1:{server_port}"
    server_env = {
        **os.environ,
        "DATA_DIR": str(server_dir),
        "DATABASE_URL": "",  # SQLite in DATA_DIR, whatever CI exports
        "REDIS_URL": "",
        "PORT": str(server_port),
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "warn",
        "ASTRDESK_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    try:
        m = subprocess.run([NODE, str(SERVER_BIN), "migrate"], env=server_env, capture_output=True, text=True, timeout=60)
        assert m.returncode == 0, f"migrate failed: {m.stdout}\n{m.stderr}"
        op = subprocess.run(
            [NODE, str(SERVER_BIN), "operator", "create", "--name", "pytest"],
            env=server_env, capture_output=True, text=True, timeout=60,
        )
        assert op.returncode == 0, f"operator create failed: {op.stdout}\n{op.stderr}"
        operator_token = re.search(r"ado_[A-Za-z0-9_-]{43}", op.stdout).group(0)

        server = Proc("server", [NODE, str(SERVER_BIN)], server_env, base)
        procs.append(server)
        wait_for(
            lambda: server.alive() and http("GET", f"{server_url}/readyz", timeout=2)[0] == 200,
            f"server /readyz\n{server.tail()}",
        )

        # tenant: signup -> approve -> login
        email = f"owner-{secrets.token_hex(4)}@pytest.example"
        password = "correct-horse-battery"
        st, signup = http("POST", f"{server_url}/v1/signup", body={
            "company_name": "Pytest Co",
            "contact_name": "Pytest Owner",
            "contact_email": email,
            "owner_password": password,
        })
        assert st == 201, f"signup: {st} {signup}"
        tenant_id = signup["tenant"]["id"]
        if signup["tenant"]["status"] != "active":
            st, body = http("POST", f"{server_url}/v1/admin/tenants/{tenant_id}/approve", operator_token, {})
            assert st == 200, f"approve: {st} {body}"
        st, login = http("POST", f"{server_url}/v1/auth/login", body={"email": email, "password": password})
        assert st == 200, f"login: {st} {login}"
        owner = login["token"]

        st, instance = http("POST", f"{server_url}/v1/instances", owner, {"name": "pytest-astrbot", "platforms": ["qq"]})
        assert st == 201, f"instance: {st} {instance}"

        sidecar_port = free_port()
        sidecar_url = f"http://127.0.0.1:{sidecar_port}"
        sidecar_token = secrets.token_urlsafe(24)
        sidecar = Proc("sidecar", [NODE, str(SIDECAR_BIN)], {
            **os.environ,
            "SIDECAR_PORT": str(sidecar_port),
            "SIDECAR_HOST": "127.0.0.1",
            "SIDECAR_DATA_DIR": str(sidecar_dir),
            "SIDECAR_API_TOKEN": sidecar_token,
            "ASTRDESK_SERVER_URL": server_url,
            "ASTRDESK_INSTANCE_TOKEN": instance["token"],
            "LOG_LEVEL": "warn",
        }, base)
        procs.append(sidecar)
        wait_for(
            lambda: sidecar.alive() and http("GET", f"{sidecar_url}/astrbot-api/v1/health", timeout=2)[0] == 200,
            f"sidecar health\n{sidecar.tail()}",
        )
        wait_for(
            lambda: http("GET", f"{server_url}/v1/instances/{instance['id']}", owner)[1]["sync"]["online"],
            f"sidecar online on the server\n{sidecar.tail()}",
        )

        # blacklist a user and wait until the sidecar has applied that revision
        st, entry = http("POST", f"{server_url}/v1/blacklist", owner, {
            "platform": "qq", "platform_user_id": BLOCKED_USER, "reason": "pytest: abusive",
        })
        assert st in (200, 201), f"POST /v1/blacklist: {st} {entry}"

        def synced():
            sync = http("GET", f"{server_url}/v1/instances/{instance['id']}", owner)[1]["sync"]
            return sync["revision"] >= 1 and sync["applied_revision"] >= sync["revision"]

        wait_for(synced, f"the sidecar to apply the blacklist\n{sidecar.tail()}")

        yield {
            "server_url": server_url,
            "owner": owner,
            "instance_id": instance["id"],
            "entry": entry,
            "sidecar_url": sidecar_url,
            "sidecar_token": sidecar_token,
            "sidecar": sidecar,
            "server": server,
        }
    finally:
        for p in reversed(procs):
            p.stop()


def real_config(stack, **kw) -> dict:
    # generous timeout: the server and sidecar share this machine with the test run
    kw.setdefault("timeout_ms", 3000)
    return config(stack["sidecar_url"], token=stack["sidecar_token"], **kw)


def conversations_for(stack, session: str) -> list[dict]:
    st, page = http("GET", f"{stack['server_url']}/v1/conversations?limit=100", stack["owner"])
    assert st == 200, f"GET /v1/conversations: {st} {page}"
    return [c for c in page["data"] if c.get("session_id") == session]


def messages_of(stack, conversation_id: str) -> list[dict]:
    st, page = http(
        "GET", f"{stack['server_url']}/v1/conversations/{conversation_id}/messages?limit=100", stack["owner"]
    )
    assert st == 200, f"GET messages: {st} {page}"
    return page["data"]


def test_blocked_user_is_stopped_by_the_real_sidecar(stack, tmp_path, astrbot_logs):
    async def scenario():
        install_plugin(tmp_path, config=real_config(stack))
        async with StubHost(tmp_path) as host:
            event = await host.dispatch(
                make_event(user_id=BLOCKED_USER, nickname="troll", text="buy cheap stuff", message_id="blk-1")
            )
            return host, event

    host, event = run(scenario())
    assert event.is_stopped()
    assert host.probe_seen == [], "a later plugin saw the blocked message"
    assert host.scheduler.llm_calls == [], "the LLM saw the blocked message"
    assert event.sent == []
    logs = log_text(astrbot_logs)
    assert f"blocked qq:{BLOCKED_USER}" in logs
    assert stack["entry"]["id"] in logs  # the sidecar named the blacklist entry

    # the server keeps the blocked message (for admins), never as a received one
    session = event.unified_msg_origin

    def blocked_on_server():
        convs = conversations_for(stack, session)
        msgs = [m for c in convs for m in messages_of(stack, c["id"])]
        return msgs if any(m["text"] == "buy cheap stuff" for m in msgs) else None

    msgs = wait_for(blocked_on_server, "the blocked message on the server")
    assert all(m["status"] == "blocked_by_blacklist" for m in msgs if m["text"] == "buy cheap stuff")


def test_clean_user_passes_and_appears_on_the_server(stack, tmp_path):
    async def scenario():
        install_plugin(tmp_path, config=real_config(stack))
        async with StubHost(tmp_path) as host:
            event = await host.dispatch(
                make_event(user_id=CLEAN_USER, nickname="小王", text="我想申请退款", message_id="clean-1")
            )
            return host, event

    host, event = run(scenario())
    assert not event.is_stopped()
    assert host.probe_seen == [(CLEAN_USER, "我想申请退款")]
    assert host.scheduler.llm_calls == ["我想申请退款"]
    assert [c.get_plain_text() for c in event.sent] == ["echo: 我想申请退款"]

    session = event.unified_msg_origin
    assert session == f"napcat-main:FriendMessage:{CLEAN_USER}"

    def both_sides():
        convs = conversations_for(stack, session)
        if not convs:
            return None
        msgs = messages_of(stack, convs[0]["id"])
        senders = {m["sender"] for m in msgs}
        return (convs[0], msgs) if {"user", "bot"} <= senders else None

    conv, msgs = wait_for(both_sides, "the inbound message and the bot's reply on the server")
    assert conv["platform"] == "qq"
    user_msgs = [m for m in msgs if m["sender"] == "user"]
    bot_msgs = [m for m in msgs if m["sender"] == "bot"]
    assert [(m["text"], m["status"], m["platform_message_id"], m["kind"]) for m in user_msgs] == [
        ("我想申请退款", "received", "clean-1", "text")
    ]
    assert [m["text"] for m in bot_msgs] == ["echo: 我想申请退款"]


def test_dead_real_sidecar_follows_fail_mode(stack, tmp_path, astrbot_logs):
    """Last in this module: stops the real sidecar, then a message arrives."""
    stack["sidecar"].stop()
    wait_for(lambda: not stack["sidecar"].alive(), "the sidecar to exit")

    async def scenario(fail_mode: str, root: Path):
        install_plugin(root, config=real_config(stack, fail_mode=fail_mode, timeout_ms=300))
        async with StubHost(root) as host:
            event = await host.dispatch(make_event(user_id=BLOCKED_USER, text="while down"))
            return host, event

    host, event = run(scenario("open", tmp_path / "open"))
    assert not event.is_stopped()
    assert host.probe_seen == [(BLOCKED_USER, "while down")]
    assert "fail_mode=open: message passed" in log_text(astrbot_logs)

    host, event = run(scenario("closed", tmp_path / "closed"))
    assert event.is_stopped()
    assert host.probe_seen == []
    assert "fail_mode=closed: message stopped" in log_text(astrbot_logs)
