"""Small helpers shared by the test modules."""

import socket

TOKEN = "fake-sidecar-token-0123456789"


def dead_url() -> str:
    """An http URL on which nothing listens (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def log_text(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records)


def config(url: str, *, token: str = TOKEN, fail_mode: str = "open", timeout_ms: int = 1000) -> dict:
    return {
        "sidecar_url": url,
        "sidecar_token": token,
        "fail_mode": fail_mode,
        "timeout_ms": timeout_ms,
    }
