"""Voice messages: Tencent SILK v3 to WAV and back (ilink.md §11.4, ilink-vectors.md §11).

Inbound voice is a SILK v3 stream, usually the Tencent variant that starts ``\\x02#!SILK_V3``. The
official client decodes it at 24 000 Hz and wraps the PCM in a 44-byte RIFF header (mono, 16-bit).
Decoding needs the optional ``silk-python`` package (import name ``pysilk``):
``pip install 'weixin-gateway[voice]'``; without it :class:`MissingExtraError` is raised.

The codec is CPU-bound; in async code call these through :func:`asyncio.to_thread`.
"""

from __future__ import annotations

import importlib
import io
import struct
from types import ModuleType

from weixin_gateway.errors import MediaError, MissingExtraError

__all__ = [
    "SILK_SAMPLE_RATE",
    "is_silk",
    "pcm_to_silk",
    "silk_duration_ms",
    "silk_to_pcm",
    "silk_to_wav",
    "wav_header",
]

SILK_SAMPLE_RATE = 24_000
_MAGIC = b"#!SILK_V3"
_TENCENT_MAGIC = b"\x02" + _MAGIC
_PACKET_MS = 20


def _pysilk() -> ModuleType:
    try:
        return importlib.import_module("pysilk")
    except ImportError as exc:
        raise MissingExtraError("voice transcoding", "voice", "silk-python") from exc


def is_silk(data: bytes) -> bool:
    """True if ``data`` starts like a SILK v3 stream (with or without Tencent's ``\\x02``)."""
    return data.startswith((_TENCENT_MAGIC, _MAGIC))


def wav_header(pcm_bytes: int, sample_rate: int = SILK_SAMPLE_RATE) -> bytes:
    """The 44-byte RIFF/WAVE header for mono 16-bit PCM of ``pcm_bytes`` bytes."""
    channels, bits = 1, 16
    block_align = channels * bits // 8
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + pcm_bytes,
        b"WAVE",
        b"fmt ",
        16,
        1,
        channels,
        sample_rate,
        sample_rate * block_align,
        block_align,
        bits,
        b"data",
        pcm_bytes,
    )


def silk_to_pcm(data: bytes, sample_rate: int = SILK_SAMPLE_RATE) -> bytes:
    """Decode SILK v3 to little-endian 16-bit mono PCM at ``sample_rate``."""
    if not is_silk(data):
        raise MediaError("not a SILK v3 stream")
    pysilk = _pysilk()
    out = io.BytesIO()
    try:
        pysilk.decode(io.BytesIO(data), out, sample_rate)
    except Exception as exc:  # pysilk.SilkError and friends: the codec reports bad input so
        raise MediaError(f"SILK decoding failed: {exc}") from exc
    return out.getvalue()


def silk_to_wav(data: bytes, sample_rate: int = SILK_SAMPLE_RATE) -> bytes:
    """Decode SILK v3 into a WAV file (44-byte header + PCM), as the official client saves it."""
    pcm = silk_to_pcm(data, sample_rate)
    return wav_header(len(pcm), sample_rate) + pcm


def pcm_to_silk(
    pcm: bytes, sample_rate: int = SILK_SAMPLE_RATE, *, bit_rate: int = 24_000
) -> bytes:
    """Encode 16-bit mono PCM to Tencent SILK v3 (``\\x02#!SILK_V3``), e.g. to send voice."""
    pysilk = _pysilk()
    out = io.BytesIO()
    try:
        pysilk.encode(io.BytesIO(pcm), out, sample_rate, bit_rate, tencent=True)
    except Exception as exc:  # the codec's own error type is untyped
        raise MediaError(f"SILK encoding failed: {exc}") from exc
    return out.getvalue()


def silk_duration_ms(data: bytes) -> int:
    """The play time of a SILK stream in ms (20 ms per packet), without decoding it."""
    if data.startswith(_TENCENT_MAGIC):
        pos = len(_TENCENT_MAGIC)
    elif data.startswith(_MAGIC):
        pos = len(_MAGIC)
    else:
        raise MediaError("not a SILK v3 stream")
    packets = 0
    while pos + 2 <= len(data):
        (size,) = struct.unpack_from("<h", data, pos)
        if size <= 0 or pos + 2 + size > len(data):
            break
        pos += 2 + size
        packets += 1
    return packets * _PACKET_MS
