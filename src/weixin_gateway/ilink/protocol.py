"""iLink protocol constants and the small rules both sides share (ilink.md §1, §2, §9.2, §12).

Hosts and paths, how headers and ``base_info`` are built, how the official client cleans
``bot_agent``, ``X-WECHAT-UIN`` and ``client_id``. Used by the SDK to speak and by the simulator
to check what it hears.
"""

from __future__ import annotations

import binascii
import random
import re
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urljoin

__all__ = [
    "APP_ID",
    "BOT_TYPE",
    "CDN_BASE_URL",
    "CHANNEL_VERSION",
    "DEFAULT_BASE_URL",
    "DEFAULT_BOT_AGENT",
    "LONG_POLL_TIMEOUT_MS",
    "MAX_LOCAL_TOKENS",
    "Paths",
    "Timeouts",
    "build_url",
    "client_version_number",
    "new_client_id",
    "random_wechat_uin",
    "sanitize_bot_agent",
]

DEFAULT_BASE_URL = "https://ilinkai.weixin.qq.com"
CDN_BASE_URL = "https://novac2c.cdn.weixin.qq.com/c2c"
APP_ID = "bot"
CHANNEL_VERSION = "2.4.9"
DEFAULT_BOT_AGENT = "OpenClaw"
BOT_TYPE = "3"
LONG_POLL_TIMEOUT_MS = 35_000
MAX_LOCAL_TOKENS = 10
STALE_TOKEN_CODE = -14
SEND_REJECTED_CODE = -2


class Paths:
    """Endpoint paths, relative to the API base URL (or the CDN base for the last two)."""

    GET_BOT_QRCODE = "ilink/bot/get_bot_qrcode"
    GET_QRCODE_STATUS = "ilink/bot/get_qrcode_status"
    GETUPDATES = "ilink/bot/getupdates"
    SENDMESSAGE = "ilink/bot/sendmessage"
    GETUPLOADURL = "ilink/bot/getuploadurl"
    GETCONFIG = "ilink/bot/getconfig"
    SENDTYPING = "ilink/bot/sendtyping"
    NOTIFY_START = "ilink/bot/msg/notifystart"
    NOTIFY_STOP = "ilink/bot/msg/notifystop"
    CDN_UPLOAD = "upload"
    CDN_DOWNLOAD = "download"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Client timeouts in seconds, as the 2.4.9 client sets them (ilink.md §12)."""

    long_poll: float = LONG_POLL_TIMEOUT_MS / 1000
    send: float = 15.0
    upload_url: float = 15.0
    config: float = 10.0
    typing: float = 10.0
    notify: float = 10.0
    qr_status: float = 35.0
    qr_create: float = 30.0
    #: Whole CDN transfer (100 MiB on a slow link); a stalled one fails after 60 s idle.
    cdn: float = 3600.0
    #: Added to the long-poll hold so that a server answering just in time is not cut off.
    long_poll_margin: float = 0.0


def build_url(base: str, path: str) -> str:
    """Resolve ``path`` against ``base`` + ``/``, so a base with a path prefix keeps it."""
    return urljoin(base if base.endswith("/") else base + "/", path)


def client_version_number(version: str) -> int:
    """Pack ``MAJOR.MINOR.PATCH`` as ``major<<16 | minor<<8 | patch`` (each masked to 8 bits)."""
    parts = [int(p) if p.isdigit() else 0 for p in version.split(".")[:3]]
    parts += [0] * (3 - len(parts))
    major, minor, patch = parts
    return ((major & 0xFF) << 16) | ((minor & 0xFF) << 8) | (patch & 0xFF)


#: The X-WECHAT-UIN source: seeded from the OS once; the value only has to vary, not be secret
#: (a ``getrandom`` call per request was measurable with thousands of long polls).
_UIN_RANDOM = random.Random(secrets.randbits(64))  # noqa: S311


def random_wechat_uin() -> str:
    """A fresh ``X-WECHAT-UIN``: a random uint32 in decimal ASCII, base64-encoded."""
    digits = str(_UIN_RANDOM.getrandbits(32)).encode()
    return binascii.b2a_base64(digits, newline=False).decode("ascii")


def new_client_id(prefix: str = "openclaw-weixin") -> str:
    """``<prefix>:<epoch ms>-<8 lowercase hex>``, unique per request."""
    return f"{prefix}:{int(time.time() * 1000)}-{secrets.token_hex(4)}"


_PRODUCT = re.compile(r"^[A-Za-z0-9_.\-]{1,32}/[A-Za-z0-9_.+\-]{1,32}$")
_COMMENT = re.compile(r"^\([\x20-\x27\x2a-\x7e]{1,64}\)$")
_TOKENS = re.compile(r"\([^()]*\)|\S+")
_BOT_AGENT_MAX_BYTES = 256


def sanitize_bot_agent(raw: str | None) -> str:
    """Clean ``bot_agent`` as the official client does (ilink.md §2.2).

    Keep ``Name/Version`` products, each optionally followed by one ``(comment)``; drop anything
    else; join with single spaces; cap at 256 bytes by dropping whole trailing tokens; fall back to
    ``OpenClaw`` when nothing is left.
    """
    if not raw:
        return DEFAULT_BOT_AGENT
    kept: list[str] = []
    last_was_product = False
    for token in _TOKENS.findall(raw):
        if _PRODUCT.match(token):
            kept.append(token)
            last_was_product = True
        elif last_was_product and _COMMENT.match(token):
            kept.append(token)
            last_was_product = False
        else:
            last_was_product = False
    while kept and len(" ".join(kept).encode()) > _BOT_AGENT_MAX_BYTES:
        kept.pop()
    return " ".join(kept) or DEFAULT_BOT_AGENT
