"""§2 encryption: vectors V1–V4 byte for byte, every §2.4 check, §7.8 negatives, round trips."""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from tests.mp import vectors as v
from weixin_gateway.errors import WeixinError
from weixin_gateway.mp.crypto import (
    MsgCrypto,
    decrypt_message,
    encrypt_message,
    parse_encoding_aes_key,
    pkcs7_pad,
    pkcs7_unpad,
)
from weixin_gateway.mp.errors import (
    AppIdMismatchError,
    DecryptError,
    MpConfigError,
    MpError,
    SignatureError,
)
from weixin_gateway.mp.xml import parse_xml


def fixed(random16: bytes) -> Callable[[int], bytes]:
    def source(n: int) -> bytes:
        assert n == 16
        return random16

    return source


def v1_crypto(random16: bytes = v.V1_RANDOM) -> MsgCrypto:
    return MsgCrypto(
        token=v.V1_TOKEN, encoding_aes_key=v.V1_KEY, app_id=v.V1_APPID, random=fixed(random16)
    )


def raw_encrypt(aes_key: bytes, plaintext: bytes) -> str:
    """AES-256-CBC of an already padded plaintext, to forge malformed payloads."""
    encryptor = Cipher(algorithms.AES(aes_key), modes.CBC(aes_key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plaintext) + encryptor.finalize()).decode()


V1_AES = bytes.fromhex(v.V1_AES_KEY_HEX)


# ---------------------------------------------------------------------------- keys


def test_v1_key_and_iv() -> None:
    key = parse_encoding_aes_key(v.V1_KEY)
    assert key.hex() == v.V1_AES_KEY_HEX
    assert key[:16].hex() == "69b71d79f8218a39259a7a29aabb2dba"


def test_v3_key_is_bytes_0_to_31() -> None:
    assert parse_encoding_aes_key(v.V3_KEY) == bytes(range(32))


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (v.V1_KEY[:-1], "must be 43 characters, got 42"),
        (v.V1_KEY + "A", "must be 43 characters, got 44"),
        ("", "must be 43 characters, got 0"),
        (v.V1_KEY[:-1] + "+", "only the characters"),
        (v.V1_KEY[:-1] + "=", "only the characters"),
        (v.V1_KEY[:-1] + "é", "only the characters"),
    ],
)
def test_encoding_aes_key_validation(key: str, message: str) -> None:
    with pytest.raises(MpConfigError, match=message) as info:
        parse_encoding_aes_key(key)
    assert v.V1_KEY[:10] not in str(info.value)


def test_crypto_needs_an_appid() -> None:
    with pytest.raises(MpConfigError):
        MsgCrypto(token="t", encoding_aes_key=v.V1_KEY, app_id="")


def test_repr_redacts_token_and_key() -> None:
    text = repr(v1_crypto())
    assert v.V1_TOKEN not in text
    assert v.V1_KEY not in text
    assert v.V1_APPID in text


# -------------------------------------------------------------------------- padding


@pytest.mark.parametrize("length", [0, 1, 31, 32, 33, 63, 64])
def test_pkcs7_uses_block_32(length: int) -> None:
    padded = pkcs7_pad(b"x" * length)
    assert len(padded) % 32 == 0
    n = 32 - length % 32
    assert padded[-n:] == bytes([n]) * n
    assert pkcs7_unpad(padded) == b"x" * length


@pytest.mark.parametrize(
    "data",
    [b"", b"x" * 31 + b"\x00", b"x" * 31 + b"\x21", b"\x05" * 3, b"x" * 30 + b"\x01\x02"],
)
def test_pkcs7_unpad_refuses_bad_padding(data: bytes) -> None:
    with pytest.raises(DecryptError):
        pkcs7_unpad(data)


# ---------------------------------------------------------------------------- vectors


def test_v1_encrypt_is_byte_exact() -> None:
    plaintext = v.V1_PLAINTEXT.encode()
    assert len(plaintext) == 279  # pad = 3: 16 + 4 + 279 + 18 = 317 -> 320
    assert encrypt_message(V1_AES, v.V1_APPID, plaintext, random16=v.V1_RANDOM) == v.V1_ENCRYPT
    assert v1_crypto().encrypt(v.V1_PLAINTEXT) == v.V1_ENCRYPT


def test_v1_decrypt_and_open() -> None:
    crypto = v1_crypto()
    assert crypto.decrypt(v.V1_ENCRYPT) == v.V1_PLAINTEXT.encode()
    opened = crypto.open(
        v.V1_ENCRYPT,
        msg_signature=v.V1_MSG_SIGNATURE,
        timestamp=v.V1_TIMESTAMP,
        nonce=v.V1_NONCE,
    )
    assert opened == v.V1_PLAINTEXT.encode()
    assert crypto.signature(v.V1_TIMESTAMP, v.V1_NONCE, v.V1_ENCRYPT) == v.V1_MSG_SIGNATURE


def test_v2_reply_matches_wechatpy_fixture_byte_for_byte() -> None:
    crypto = MsgCrypto(
        token=v.V2_TOKEN, encoding_aes_key=v.V2_KEY, app_id=v.V2_APPID, random=fixed(v.V2_RANDOM)
    )
    assert len(v.V2_PLAINTEXT.encode()) == 247
    assert crypto.encrypt(v.V2_PLAINTEXT) == v.V2_ENCRYPT
    envelope = parse_xml(crypto.seal(v.V2_PLAINTEXT, timestamp=v.V2_TIMESTAMP, nonce=v.V2_NONCE))
    assert envelope == {
        "Encrypt": v.V2_ENCRYPT,
        "MsgSignature": v.V2_MSG_SIGNATURE,
        "TimeStamp": v.V2_TIMESTAMP,
        "Nonce": v.V2_NONCE,
    }


def test_v2_envelope_shape() -> None:
    """§2.3: four children, case-sensitive tags, TimeStamp as a plain number."""
    crypto = MsgCrypto(
        token=v.V2_TOKEN, encoding_aes_key=v.V2_KEY, app_id=v.V2_APPID, random=fixed(v.V2_RANDOM)
    )
    body = crypto.seal(v.V2_PLAINTEXT, timestamp=int(v.V2_TIMESTAMP), nonce=v.V2_NONCE)
    assert body == (
        f"<xml><Encrypt><![CDATA[{v.V2_ENCRYPT}]]></Encrypt>"
        f"<MsgSignature><![CDATA[{v.V2_MSG_SIGNATURE}]]></MsgSignature>"
        f"<TimeStamp>{v.V2_TIMESTAMP}</TimeStamp><Nonce><![CDATA[{v.V2_NONCE}]]></Nonce></xml>"
    )


def test_v2_companion_decrypt_fixture() -> None:
    crypto = MsgCrypto(token=v.V2_TOKEN, encoding_aes_key=v.V2_KEY, app_id=v.V2_APPID)
    plain = crypto.open(
        v.V2_DECRYPT_ENCRYPT,
        msg_signature=v.V2_DECRYPT_MSG_SIGNATURE,
        timestamp=v.V2_TIMESTAMP,
        nonce=v.V2_NONCE,
    )
    fields = parse_xml(plain)
    assert fields["Content"] == "test"
    assert fields["FromUserName"] == "messense"


def test_v3_full_block_padding() -> None:
    """16 + 4 + 410 + 18 = 448 = 14 x 32, so a whole block of 0x20 is appended.

    §7.3 publishes only the ends of V3's ciphertext; its first 24 bytes depend on random16, the
    length field and the first 12 bytes of the message only, so any 410-byte plaintext that
    starts like V3's reproduces the published prefix.
    """
    msg = b"<xml><ToUserName>" + b"x" * (v.V3_PLAINTEXT_LENGTH - 17)
    assert len(msg) == 410
    crypto = MsgCrypto(
        token=v.V3_TOKEN, encoding_aes_key=v.V3_KEY, app_id=v.V3_APPID, random=fixed(v.V3_RANDOM)
    )
    encrypt = crypto.encrypt(msg)
    assert encrypt.startswith(v.V3_ENCRYPT_PREFIX)
    ciphertext = base64.b64decode(encrypt)
    assert len(ciphertext) == 448 + 32
    decryptor = Cipher(algorithms.AES(bytes(range(32))), modes.CBC(bytes(range(16)))).decryptor()
    plain = decryptor.update(ciphertext) + decryptor.finalize()
    assert plain[-32:] == b"\x20" * 32
    assert crypto.decrypt(encrypt) == msg


def test_v4_reply_is_byte_exact() -> None:
    plaintext = v.V4_PLAINTEXT.encode()
    assert len(plaintext) == 251
    crypto = v1_crypto(v.V4_RANDOM)
    encrypt = crypto.encrypt(plaintext)
    assert encrypt.startswith(v.V4_ENCRYPT_PREFIX)
    assert crypto.signature(v.V1_TIMESTAMP, v.V1_NONCE, encrypt) == v.V4_MSG_SIGNATURE
    sealed = parse_xml(crypto.seal(v.V4_PLAINTEXT, timestamp=v.V1_TIMESTAMP, nonce=v.V1_NONCE))
    assert sealed["MsgSignature"] == v.V4_MSG_SIGNATURE
    assert sealed["Encrypt"] == encrypt


# ------------------------------------------------------------------ negative cases §7.8


@pytest.mark.parametrize(
    "encrypt",
    [v.NEG_SHORT, v.NEG_NOT_BASE64, v.NEG_TRUNCATED],
    ids=["16-byte", "not-base64", "truncated"],
)
def test_section_7_8_negatives(encrypt: str) -> None:
    with pytest.raises(DecryptError):
        v1_crypto().decrypt(encrypt)


def test_d9_payload_for_another_appid_is_refused() -> None:
    """D9: go-wx-gateway never checked the trailing AppID; V1 with appid wxOTHER must fail."""
    other = MsgCrypto(token=v.V1_TOKEN, encoding_aes_key=v.V1_KEY, app_id="wxOTHER")
    with pytest.raises(AppIdMismatchError):
        other.decrypt(v.V1_ENCRYPT)
    # a prefix or an extension of the right AppID is not the AppID either
    for app_id in (v.V1_APPID[:-1], v.V1_APPID + "x"):
        with pytest.raises(AppIdMismatchError):
            MsgCrypto(token="t", encoding_aes_key=v.V1_KEY, app_id=app_id).decrypt(v.V1_ENCRYPT)


def test_wrong_msg_signature_is_refused_before_decrypting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crypto = v1_crypto()
    monkeypatch.setattr(
        MsgCrypto, "decrypt", lambda *a, **k: pytest.fail("decrypted before the check")
    )
    with pytest.raises(SignatureError):
        crypto.open(v.V1_ENCRYPT, msg_signature=v.V1_SIGNATURE, timestamp=v.V1_TIMESTAMP, nonce="x")


def test_d4_malformed_payloads_raise_a_clean_error_not_a_crash() -> None:
    """D4: a malformed AES payload gave a 500 with a goroutine stack; here a DecryptError that
    names no internals and is an MpError (the HTTP layer maps it to a fixed 4xx body)."""
    for encrypt in (v.NEG_SHORT, v.NEG_NOT_BASE64, v.NEG_TRUNCATED, "", "AAAA", "====", "A" * 44):
        with pytest.raises(DecryptError) as info:
            v1_crypto().decrypt(encrypt)
        assert isinstance(info.value, MpError)
        assert isinstance(info.value, WeixinError)
        assert "Traceback" not in str(info.value)


@pytest.mark.parametrize(
    ("plaintext", "reason"),
    [
        (pkcs7_pad(b""), "too short"),  # a whole block of padding and nothing else
        (pkcs7_pad(b"r" * 16 + b"\x00\x00"), "too short"),
        (pkcs7_pad(b"r" * 16 + struct.pack(">I", 100) + b"<xml/>" + b"wx"), "out of bounds"),
        (pkcs7_pad(b"r" * 16 + struct.pack(">I", 2**32 - 1) + b"x"), "out of bounds"),
        (b"r" * 31 + b"\x00", "padding"),
        (b"r" * 31 + b"\x21", "padding"),
        (b"r" * 30 + b"\x03\x02", "padding"),
        (b"r" * 29 + b"\x02\x03\x03", "padding"),  # 3 claimed, only 2 equal
    ],
)
def test_every_structural_check(plaintext: bytes, reason: str) -> None:
    with pytest.raises(DecryptError, match=reason):
        decrypt_message(V1_AES, v.V1_APPID, raw_encrypt(V1_AES, plaintext))


def test_padding_of_16_is_accepted() -> None:
    """Decryption accepts any 1..32 padding over whole AES blocks, as WXBizMsgCrypt does."""
    body = b"r" * 16 + struct.pack(">I", 3) + b"abc" + v.V1_APPID.encode()
    n = 16 - len(body) % 16
    assert decrypt_message(V1_AES, v.V1_APPID, raw_encrypt(V1_AES, body + bytes([n]) * n)) == b"abc"


@pytest.mark.parametrize(
    "encrypt",
    [
        base64.b64encode(b"x" * 17).decode(),  # not whole AES blocks
        base64.b64encode(b"x" * 33).decode(),
        v.V1_ENCRYPT.replace("=", ""),  # missing base64 padding
        v.V1_ENCRYPT + "\n",  # strict: no stray characters
        " " + v.V1_ENCRYPT,
        "Q3st YC6h",
    ],
)
def test_strict_base64_and_block_length(encrypt: str) -> None:
    with pytest.raises(DecryptError):
        decrypt_message(V1_AES, v.V1_APPID, encrypt)


def test_size_cap() -> None:
    encrypt = v1_crypto().encrypt(b"x" * 5000)
    with pytest.raises(DecryptError, match="size cap"):
        decrypt_message(V1_AES, v.V1_APPID, encrypt, max_size=1024)
    assert decrypt_message(V1_AES, v.V1_APPID, encrypt, max_size=8192) == b"x" * 5000


def test_default_random_prefix_is_fresh() -> None:
    crypto = MsgCrypto(token=v.V1_TOKEN, encoding_aes_key=v.V1_KEY, app_id=v.V1_APPID)
    first, second = crypto.encrypt("same"), crypto.encrypt("same")
    assert first != second
    assert crypto.decrypt(first) == crypto.decrypt(second) == b"same"


def test_random16_must_be_16_bytes() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        encrypt_message(V1_AES, v.V1_APPID, b"x", random16=b"short")


# ------------------------------------------------------------------------- round trips


@given(
    msg=st.text(),
    app_id=st.text(min_size=1, max_size=40),
    random16=st.binary(min_size=16, max_size=16),
    raw_key=st.binary(min_size=32, max_size=32),
)
def test_round_trip(msg: str, app_id: str, random16: bytes, raw_key: bytes) -> None:
    encoding_aes_key = base64.b64encode(raw_key).decode()[:43]
    if not encoding_aes_key.isalnum():
        encoding_aes_key = "A" * 43
    crypto = MsgCrypto(
        token="token", encoding_aes_key=encoding_aes_key, app_id=app_id, random=fixed(random16)
    )
    data = msg.encode("utf-8", "surrogatepass")
    encrypt = crypto.encrypt(data)
    assert len(base64.b64decode(encrypt)) % 32 == 0
    assert crypto.decrypt(encrypt) == data
    sealed = parse_xml(crypto.seal("<xml/>", timestamp="1", nonce="n"))
    assert isinstance(sealed["Encrypt"], str)
    assert (
        crypto.open(
            sealed["Encrypt"], msg_signature=str(sealed["MsgSignature"]), timestamp="1", nonce="n"
        )
        == b"<xml/>"
    )
