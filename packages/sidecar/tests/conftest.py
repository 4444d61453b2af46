"""Shared fixtures. The tests run the plugin inside the AstrBot stand-in (astrbot_stub/) against
an HTTP sidecar: the Python FakeSidecar (always), and the real Node sidecar + AstrDesk server
(test_real_sidecar.py, when both are built)."""

import logging
import sys

import pytest

sys.dont_write_bytecode = True  # keep astrbot_plugin/ free of __pycache__

import stub_host  # noqa: F401  (puts astrbot_stub on sys.path)


@pytest.fixture
def astrbot_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="astrbot")
    return caplog
