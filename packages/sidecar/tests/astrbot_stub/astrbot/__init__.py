"""STAND-IN for AstrBot's `astrbot` package (tests only; see ../README.md).

Mirrors the plugin API of AstrBot v4.27.4, AstrBotDevs/AstrBot@19d00fb1f0d822690a467e8dca498adebbb2d67b.
It replaces only the host: the plugin under test still calls a real HTTP sidecar.
"""

import logging

logger = logging.getLogger("astrbot")
