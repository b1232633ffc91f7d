from __future__ import annotations

from pathlib import Path

import pytest

from weixin_gateway.ilink.qr import qr_png, qr_svg, qr_terminal, save_qr

URL = "https://liteapp.weixin.qq.com/q/7GiQu1?qrcode=3f1c0a9e7b2d4c6e8a0b1c2d3e4f5a6b&bot_type=3"


def test_terminal_rendering_is_a_square_of_blocks() -> None:
    text = qr_terminal(URL)
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) > 10
    assert any(ch in text for ch in "█▀▄")


def test_png_and_svg(tmp_path: Path) -> None:
    assert qr_png(URL).startswith(b"\x89PNG\r\n\x1a\n")
    assert b"<svg" in qr_svg(URL)
    assert save_qr(URL, tmp_path / "qr.svg").read_bytes().startswith(b"<svg")
    with pytest.raises(ValueError, match="unsupported"):
        save_qr(URL, tmp_path / "qr.gif")
