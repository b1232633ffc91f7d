"""ilink.md §2 and ilink-vectors.md §2: headers, base_info, bot_agent, client_id."""

from __future__ import annotations

import base64
import re

import pytest

from weixin_gateway.ilink.api import ILinkConfig
from weixin_gateway.ilink.protocol import (
    build_url,
    client_version_number,
    new_client_id,
    random_wechat_uin,
    sanitize_bot_agent,
)


@pytest.mark.parametrize(
    ("version", "packed"),
    [("2.4.9", 132105), ("2.4.6", 132102), ("2.1.6", 131334), ("2.1.3", 131331),
     ("2.1.1", 131329), ("1.0.11", 65547)],
)  # fmt: skip
def test_client_version_packing(version: str, packed: int) -> None:
    assert client_version_number(version) == packed


@pytest.mark.parametrize(
    ("raw", "sent"),
    [
        ("MyBot/1.2.0 (region=cn;env=prod)", "MyBot/1.2.0 (region=cn;env=prod)"),
        ("My Bot ValidApp/1.0", "ValidApp/1.0"),
        ("中文/1.0", "OpenClaw"),
        ("", "OpenClaw"),
        (None, "OpenClaw"),
        ("A/1 (c) (d) B/2", "A/1 (c) B/2"),
        ("(orphan comment) X/9", "X/9"),
    ],
)
def test_bot_agent_sanitising(raw: str | None, sent: str) -> None:
    assert sanitize_bot_agent(raw) == sent


def test_bot_agent_capped_at_256_bytes_by_whole_tokens() -> None:
    raw = " ".join(f"Product{i:02d}/1.0.{i}" for i in range(40))
    cleaned = sanitize_bot_agent(raw)
    assert len(cleaned.encode()) <= 256
    assert raw.startswith(cleaned)
    assert cleaned.split(" ")[-1].startswith("Product")


def test_wechat_uin_is_base64_of_a_decimal_uint32() -> None:
    seen = set()
    for _ in range(50):
        value = random_wechat_uin()
        decoded = base64.b64decode(value).decode()
        assert decoded.isdigit()
        assert 0 <= int(decoded) <= 0xFFFFFFFF
        seen.add(value)
    assert len(seen) > 45  # fresh per request
    assert base64.b64encode(b"1294276453").decode() == "MTI5NDI3NjQ1Mw=="


def test_client_id_shape() -> None:
    assert re.fullmatch(r"openclaw-weixin:\d{13}-[0-9a-f]{8}", new_client_id())
    assert new_client_id() != new_client_id()


def test_url_building_keeps_path_prefix() -> None:
    assert build_url("https://h/prefix", "ilink/bot/getupdates") == (
        "https://h/prefix/ilink/bot/getupdates"
    )
    assert build_url("https://h/", "ilink/bot/x") == "https://h/ilink/bot/x"


def test_default_identity_matches_2_4_9() -> None:
    cfg = ILinkConfig()
    assert cfg.app_headers() == {"iLink-App-Id": "bot", "iLink-App-ClientVersion": "132105"}
    assert cfg.base_info.wire() == {"channel_version": "2.4.9", "bot_agent": "OpenClaw"}
    tagged = ILinkConfig(route_tag="7", bot_agent="My Bot ValidApp/1.0")
    assert tagged.app_headers()["SKRouteTag"] == "7"
    assert tagged.base_info.bot_agent == "ValidApp/1.0"
