"""ilink-vectors.md §10: AES-128-ECB / PKCS#7 vectors, sizes and key encodings."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from weixin_gateway.errors import MediaError
from weixin_gateway.ilink.crypto import (
    EcbDecryptor,
    EcbEncryptor,
    aes_key_b64_hex,
    aes_key_b64_raw,
    decrypt_ecb,
    encrypt_ecb,
    padded_size,
    parse_aes_key,
    parse_hex_key,
)

KEY = bytes.fromhex("00112233445566778899aabbccddeeff")


@pytest.mark.parametrize(
    ("rawsize", "filesize"),
    [(0, 16), (1, 16), (15, 16), (16, 32), (17, 32), (31, 32), (32, 48), (100, 112),
     (1000, 1008), (1048576, 1048592)],
)  # fmt: skip
def test_padded_size_table(rawsize: int, filesize: int) -> None:
    assert padded_size(rawsize) == filesize


def test_key_wire_forms() -> None:
    assert aes_key_b64_raw(KEY) == "ABEiM0RVZneImaq7zN3u/w=="
    assert aes_key_b64_hex(KEY) == "MDAxMTIyMzM0NDU1NjY3Nzg4OTlhYWJiY2NkZGVlZmY="
    assert parse_aes_key("ABEiM0RVZneImaq7zN3u/w==") == KEY
    assert parse_aes_key("MDAxMTIyMzM0NDU1NjY3Nzg4OTlhYWJiY2NkZGVlZmY=") == KEY
    assert parse_hex_key("00112233445566778899aabbccddeeff") == KEY


@pytest.mark.parametrize(
    ("plaintext", "md5", "ciphertext"),
    [
        (b"", "d41d8cd98f00b204e9800998ecf8427e", "00657ea140655a44782747705d422fad"),
        (b"A" * 15, "409c94b762769ea5fb9384eb9bddf207", "f8a80c553b5ce9ab0065f74d3f57941d"),
        (
            b"A" * 16,
            "d8a73157ce10cd94a91c2079fc9a92c8",
            "5301d1251af08a9ea49cf85982d8df6e00657ea140655a44782747705d422fad",
        ),
        (
            b"A" * 17,
            "1105d53d33874fe294a18ee36398f2dc",
            "5301d1251af08a9ea49cf85982d8df6ec6676f7ff3796d7cbf27695a1b214c28",
        ),
        (
            b"hello from the fake CDN: inbound file payload\n",
            "e6493370dae9819806af36a0214a52a1",
            "e0d402b93d9b0987176f41838f5a44b0c642298daea8b8e4f1a1fd8879640c33"
            "442cffc160cdad7c59e23a3008b16855",
        ),
    ],
)
def test_ecb_vectors(plaintext: bytes, md5: str, ciphertext: str) -> None:
    assert hashlib.md5(plaintext).hexdigest() == md5  # noqa: S324 - protocol checksum
    assert encrypt_ecb(KEY, plaintext).hex() == ciphertext
    assert decrypt_ecb(KEY, bytes.fromhex(ciphertext)) == plaintext


def test_plugin_upload_cross_check() -> None:
    """§10.2: the 100-byte PNG the official client uploaded, byte for byte."""
    plaintext = bytes.fromhex("89504e470d0a1a0a") + b"\x07" * 92
    key = parse_hex_key("eb3d6b9752ee6190fb7bc1f8fb97e98e")
    expected = (
        "840c3271fc37b298d722839d675b7b2e"
        + "221dbddb20ef4f5965645d28d1a0d3d5" * 5
        + "74eeb1b0a382c67cca882925fee3c986"
    )
    assert hashlib.md5(plaintext).hexdigest() == "6d41ac6d0d47f84891e52c497ed5df93"  # noqa: S324
    assert encrypt_ecb(key, plaintext).hex() == expected


@pytest.mark.parametrize(
    ("hex_key", "raw_b64", "hex_b64", "plain", "cipher"),
    [
        (
            "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            "Dx4tPEtaaXiHlqW0w9Lh8A==",
            "MGYxZTJkM2M0YjVhNjk3ODg3OTZhNWI0YzNkMmUxZjA=",
            "ffd8ffe000104a46494600010100000100010000",
            "6a5630bec06007956b1a188b85736f7947f07f4bea42057733f1b7d30840cc3c",
        ),
        (
            "a1b2c3d4e5f60718293a4b5c6d7e8f90",
            "obLD1OX2BxgpOktcbX6PkA==",
            "YTFiMmMzZDRlNWY2MDcxODI5M2E0YjVjNmQ3ZThmOTA=",
            "717561727465726c79206e756d626572733a20312c322c332c342c352c360a",
            "201049eeac667a87b0e7e2f4c3f5831669935d35d841500342db431c37c8208f",
        ),
    ],
)
def test_inbound_media_vectors(
    hex_key: str, raw_b64: str, hex_b64: str, plain: str, cipher: str
) -> None:
    key = parse_hex_key(hex_key)
    assert parse_aes_key(raw_b64) == key
    assert parse_aes_key(hex_b64) == key
    assert decrypt_ecb(key, bytes.fromhex(cipher)).hex() == plain


@pytest.mark.parametrize(
    "bad",
    ["", "not base64!", "QUJD", "MDAxMTIyMzM0NDU1NjY3Nzg4OTlhYWJiY2NkZGVlZnp6"],
)
def test_bad_aes_keys_are_media_errors(bad: str) -> None:
    with pytest.raises(MediaError):
        parse_aes_key(bad)


def test_bad_padding_and_length_are_media_errors() -> None:
    good = encrypt_ecb(KEY, b"payload")
    with pytest.raises(MediaError, match="padding"):
        decrypt_ecb(bytes(16), good)
    with pytest.raises(MediaError, match="multiple of 16"):
        decrypt_ecb(KEY, good[:-1])
    with pytest.raises(MediaError, match="multiple of 16"):
        decrypt_ecb(KEY, b"")


@given(st.binary(max_size=4096), st.binary(min_size=16, max_size=16), st.integers(1, 97))
def test_streaming_round_trip(data: bytes, key: bytes, step: int) -> None:
    enc = EcbEncryptor(key)
    cipher = b"".join(enc.update(data[i : i + step]) for i in range(0, len(data), step))
    cipher += enc.finalize()
    assert len(cipher) == padded_size(len(data))
    assert cipher == encrypt_ecb(key, data)
    dec = EcbDecryptor(key)
    plain = b"".join(dec.update(cipher[i : i + step]) for i in range(0, len(cipher), step))
    assert plain + dec.finalize() == data
