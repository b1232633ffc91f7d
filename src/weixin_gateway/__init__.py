"""weixin-gateway: make an agent reachable from WeChat."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
