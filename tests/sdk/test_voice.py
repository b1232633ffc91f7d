"""SILK v3 voice to WAV (ilink.md §11.4, ilink-vectors.md §11)."""

from __future__ import annotations

import math
import struct
import sys

import pytest

from weixin_gateway.errors import MediaError, MissingExtraError
from weixin_gateway.ilink import voice

pysilk = pytest.importorskip("pysilk", reason="silk-python (the 'voice' extra) is not installed")

RATE = 24_000


def tone(seconds: float = 1.0, hz: float = 440.0) -> bytes:
    samples = int(RATE * seconds)
    return struct.pack(
        f"<{samples}h", *(int(8000 * math.sin(2 * math.pi * hz * i / RATE)) for i in range(samples))
    )


def test_round_trip_matches_the_recorded_wav_shape() -> None:
    silk = voice.pcm_to_silk(tone())
    assert silk.startswith(b"\x02#!SILK_V3")
    assert voice.is_silk(silk)
    assert voice.silk_duration_ms(silk) == 1000
    wav = voice.silk_to_wav(silk)
    # ilink-vectors.md §11: 44-byte header + 48 000 bytes of PCM, this exact header
    assert len(wav) == 48_044
    assert wav[:44].hex() == (
        "52494646a4bb000057415645666d74201000000001000100c05d000080bb0000020010006461746180bb0000"
    )
    pcm = wav[44:]
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    assert max(samples) > 2000  # a tone came back, not silence


def test_plain_silk_header_without_tencent_byte_decodes() -> None:
    silk = voice.pcm_to_silk(tone(0.2))[1:]
    assert silk.startswith(b"#!SILK_V3")
    assert voice.is_silk(silk)
    assert len(voice.silk_to_pcm(silk)) == int(RATE * 0.2) * 2


def test_garbage_is_a_media_error() -> None:
    assert not voice.is_silk(b"RIFF....")
    with pytest.raises(MediaError, match="not a SILK"):
        voice.silk_to_wav(b"RIFF....")
    with pytest.raises(MediaError, match="SILK decoding failed"):
        voice.silk_to_wav(b"\x02#!SILK_V3" + b"\xff\x7f" + b"\x00" * 10)


def test_wav_header_fields() -> None:
    header = voice.wav_header(100, 16_000)
    assert struct.unpack("<4sI4s4sIHHIIHH4sI", header) == (
        b"RIFF", 136, b"WAVE", b"fmt ", 16, 1, 1, 16_000, 32_000, 2, 16, b"data", 100,
    )  # fmt: skip


def test_missing_module_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pysilk", None)
    with pytest.raises(MissingExtraError) as info:
        voice.silk_to_wav(b"\x02#!SILK_V3\x00\x00")
    assert info.value.extra == "voice"
    assert info.value.module == "silk-python"
    with pytest.raises(MissingExtraError):
        voice.pcm_to_silk(b"\x00" * 1920)
