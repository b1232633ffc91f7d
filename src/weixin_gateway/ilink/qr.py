"""Render a QR login URL for people: in the terminal, and as PNG or SVG (segno)."""

from __future__ import annotations

import io
from pathlib import Path

import segno

__all__ = ["qr_png", "qr_svg", "qr_terminal", "save_qr"]


def _make(url: str) -> segno.QRCode:
    return segno.make(url, error="m", micro=False)


def qr_terminal(url: str, *, compact: bool = True) -> str:
    """The QR code as text for a terminal (half-block characters when ``compact``)."""
    buf = io.StringIO()
    _make(url).terminal(out=buf, compact=compact, border=2)
    return buf.getvalue()


def qr_png(url: str, *, scale: int = 6) -> bytes:
    buf = io.BytesIO()
    _make(url).save(buf, kind="png", scale=scale, border=2)
    return buf.getvalue()


def qr_svg(url: str, *, scale: int = 6) -> bytes:
    buf = io.BytesIO()
    _make(url).save(buf, kind="svg", scale=scale, border=2, xmldecl=False)
    return buf.getvalue()


def save_qr(url: str, path: str | Path, *, scale: int = 6) -> Path:
    """Write the QR code to ``path``; the format follows the suffix (``.png`` or ``.svg``)."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".png":
        target.write_bytes(qr_png(url, scale=scale))
    elif suffix == ".svg":
        target.write_bytes(qr_svg(url, scale=scale))
    else:
        raise ValueError(f"unsupported QR image type {suffix!r}; use .png or .svg")
    return target
