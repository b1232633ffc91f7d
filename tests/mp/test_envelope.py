"""Opening requests in plain, compat and safe mode (§1, §2.4, §6.2, §6.3; V1, V5, P2, P3)."""

from __future__ import annotations

import json

import pytest

from tests.mp import vectors as v
from weixin_gateway.mp.crypto import MsgCrypto
from weixin_gateway.mp.envelope import (
    PushQuery,
    open_push,
    seal_response,
    verify_request,
    verify_url,
)
from weixin_gateway.mp.errors import (
    AppIdMismatchError,
    DecryptError,
    MissingSignatureError,
    PayloadError,
    PayloadTooLargeError,
    SignatureError,
    TimestampError,
    UnsupportedEncryptionError,
    XmlError,
)
from weixin_gateway.mp.signature import msg_signature, url_signature
from weixin_gateway.mp.xml import parse_xml

NOW = int(v.V1_TIMESTAMP)


def crypto(app_id: str = v.V1_APPID) -> MsgCrypto:
    return MsgCrypto(token=v.V1_TOKEN, encoding_aes_key=v.V1_KEY, app_id=app_id)


def plain_query(**extra: str) -> PushQuery:
    query = {
        "signature": v.V1_SIGNATURE,
        "timestamp": v.V1_TIMESTAMP,
        "nonce": v.V1_NONCE,
        "openid": v.V1_OPENID,
        **extra,
    }
    return PushQuery.from_mapping(query)


V1_FIELDS = parse_xml(v.V1_PLAINTEXT)


def test_p2_get_verification_echoes_the_plain_echostr() -> None:
    query = PushQuery.from_mapping(
        {
            "signature": v.V1_SIGNATURE,
            "echostr": v.P2_ECHOSTR,
            "timestamp": v.V1_TIMESTAMP,
            "nonce": v.V1_NONCE,
        }
    )
    assert verify_url(query, token=v.V1_TOKEN, now=NOW) == "5837397520665436492"


def test_get_without_echostr_verifies_and_returns_none() -> None:
    assert verify_url(plain_query(), token=v.V1_TOKEN, now=NOW) is None


def test_get_with_bad_signature_is_refused() -> None:
    query = PushQuery(signature="0" * 40, timestamp=v.V1_TIMESTAMP, nonce=v.V1_NONCE, echostr="e")
    with pytest.raises(SignatureError):
        verify_url(query, token=v.V1_TOKEN, now=NOW)


@pytest.mark.parametrize("missing", ["signature", "timestamp", "nonce"])
def test_missing_arguments_come_first(missing: str) -> None:
    query = {"signature": "bad", "timestamp": "bad", "nonce": "x"}
    del query[missing]
    with pytest.raises(MissingSignatureError):
        verify_request(PushQuery.from_mapping(query), token="t", now=NOW, timeout_s=300)


def test_timestamp_window_is_checked_before_the_signature() -> None:
    query = PushQuery(signature="bad", timestamp="abc", nonce="n")
    with pytest.raises(TimestampError, match="invalid timestamp"):
        verify_request(query, token="t", now=NOW, timeout_s=300)
    with pytest.raises(SignatureError):  # timeout 0: not parsed, the signature fails
        verify_request(query, token="t", now=NOW, timeout_s=0)
    with pytest.raises(TimestampError, match="expired"):
        verify_request(plain_query(), token=v.V1_TOKEN, now=NOW + 301, timeout_s=300)
    verify_request(plain_query(), token=v.V1_TOKEN, now=NOW + 299, timeout_s=300)


def test_p3_plain_post() -> None:
    opened = open_push(
        v.V1_PLAINTEXT.encode(), plain_query(), token=v.V1_TOKEN, crypto=None, now=NOW
    )
    assert opened.fields == V1_FIELDS
    assert not opened.encrypted
    assert opened.format == "xml"


def test_v1_safe_mode_post() -> None:
    opened = open_push(
        v.V1_BODY, PushQuery.from_mapping(v.V1_QUERY), token=v.V1_TOKEN, crypto=crypto(), now=NOW
    )
    assert opened.fields == V1_FIELDS
    assert opened.encrypted


def test_v5_compat_mode_uses_only_the_decrypted_content() -> None:
    """V5: plaintext fields *and* Encrypt; the unsigned plaintext is ignored even if altered."""
    tampered = v.V1_PLAINTEXT.replace("hello 你好", "tampered").replace(
        "</xml>", f"<Encrypt><![CDATA[{v.V1_ENCRYPT}]]></Encrypt></xml>"
    )
    opened = open_push(
        tampered.encode(),
        PushQuery.from_mapping(v.V1_QUERY),
        token=v.V1_TOKEN,
        crypto=crypto(),
        now=NOW,
    )
    assert opened.fields == V1_FIELDS
    assert opened.fields["Content"] == "hello 你好"


def test_d10_encrypt_type_raw_is_plaintext() -> None:
    """D10: go-wx-gateway answered the documented ``encrypt_type=raw`` with 403."""
    opened = open_push(
        v.V1_PLAINTEXT.encode(),
        plain_query(encrypt_type="raw"),
        token=v.V1_TOKEN,
        crypto=crypto(),
        now=NOW,
    )
    assert opened.fields == V1_FIELDS
    assert not opened.encrypted


@pytest.mark.parametrize("encrypt_type", ["AES", "des", "aes "])
def test_other_encrypt_types_are_unsupported(encrypt_type: str) -> None:
    with pytest.raises(UnsupportedEncryptionError):
        open_push(
            v.V1_BODY,
            plain_query(encrypt_type=encrypt_type),
            token=v.V1_TOKEN,
            crypto=crypto(),
            now=NOW,
        )


def test_encrypted_push_to_a_plaintext_service() -> None:
    with pytest.raises(UnsupportedEncryptionError):
        open_push(
            v.V1_BODY, PushQuery.from_mapping(v.V1_QUERY), token=v.V1_TOKEN, crypto=None, now=NOW
        )


def test_encrypt_element_missing() -> None:
    with pytest.raises(PayloadError, match="Encrypt not found"):
        open_push(
            b"<xml><ToUserName>gh</ToUserName></xml>",
            PushQuery.from_mapping(v.V1_QUERY),
            token=v.V1_TOKEN,
            crypto=crypto(),
            now=NOW,
        )


def test_bad_msg_signature_is_refused() -> None:
    query = PushQuery.from_mapping({**v.V1_QUERY, "msg_signature": v.V1_SIGNATURE})
    with pytest.raises(SignatureError):
        open_push(v.V1_BODY, query, token=v.V1_TOKEN, crypto=crypto(), now=NOW)


def test_missing_msg_signature_is_refused() -> None:
    query = PushQuery.from_mapping({k: x for k, x in v.V1_QUERY.items() if k != "msg_signature"})
    with pytest.raises(MissingSignatureError):
        open_push(v.V1_BODY, query, token=v.V1_TOKEN, crypto=crypto(), now=NOW)


def test_d9_foreign_appid_is_refused_end_to_end() -> None:
    """D9: go-wx-gateway accepted V1 with any configured AppID."""
    with pytest.raises(AppIdMismatchError):
        open_push(
            v.V1_BODY,
            PushQuery.from_mapping(v.V1_QUERY),
            token=v.V1_TOKEN,
            crypto=crypto("wxOTHER"),
            now=NOW,
        )


def _signed_encrypted(encrypt: str) -> tuple[bytes, PushQuery]:
    body = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()
    query = PushQuery(
        signature=v.V1_SIGNATURE,
        timestamp=v.V1_TIMESTAMP,
        nonce=v.V1_NONCE,
        encrypt_type="aes",
        msg_signature=msg_signature(v.V1_TOKEN, v.V1_TIMESTAMP, v.V1_NONCE, encrypt),
    )
    return body, query


@pytest.mark.parametrize("encrypt", [v.NEG_SHORT, v.NEG_NOT_BASE64, v.NEG_TRUNCATED])
def test_d4_correctly_signed_garbage_is_a_decrypt_error(encrypt: str) -> None:
    """D4: correctly signed but malformed ciphertext gave a 500 with a goroutine stack."""
    body, query = _signed_encrypted(encrypt)
    with pytest.raises(DecryptError):
        open_push(body, query, token=v.V1_TOKEN, crypto=crypto(), now=NOW)


def test_d8_non_xml_root_is_an_error_in_both_modes() -> None:
    """D8: a well-formed body with another root crashed go-wx-gateway's whole process."""
    with pytest.raises(XmlError):
        open_push(b"<root/>", plain_query(), token=v.V1_TOKEN, crypto=None, now=NOW)
    body, query = _signed_encrypted(crypto().encrypt("<root><MsgType>text</MsgType></root>"))
    with pytest.raises(XmlError):
        open_push(body, query, token=v.V1_TOKEN, crypto=crypto(), now=NOW)
    outer = f"<root><Encrypt><![CDATA[{v.V1_ENCRYPT}]]></Encrypt></root>".encode()
    with pytest.raises(XmlError):
        open_push(
            outer, PushQuery.from_mapping(v.V1_QUERY), token=v.V1_TOKEN, crypto=crypto(), now=NOW
        )


def test_decrypted_message_must_be_utf8() -> None:
    body, query = _signed_encrypted(crypto().encrypt(b"<xml><A>\xff</A></xml>"))
    with pytest.raises(PayloadError, match="UTF-8"):
        open_push(body, query, token=v.V1_TOKEN, crypto=crypto(), now=NOW)


def test_d28_body_size_is_capped() -> None:
    """D28: go-wx-gateway read request bodies without a bound."""
    big = b"<xml><Content>" + b"x" * 70_000 + b"</Content></xml>"
    with pytest.raises(PayloadTooLargeError):
        open_push(big, plain_query(), token=v.V1_TOKEN, crypto=None, now=NOW)
    with pytest.raises(PayloadTooLargeError):
        open_push(big, plain_query(), token=v.V1_TOKEN, crypto=None, now=NOW, channels_ec=True)
    opened = open_push(big, plain_query(), token=v.V1_TOKEN, crypto=None, now=NOW, max_size=80_000)
    assert opened.fields["Content"] == "x" * 70_000


def test_signature_is_checked_before_the_body_is_read() -> None:
    with pytest.raises(SignatureError):
        open_push(
            b"<!DOCTYPE x []><xml/>",
            PushQuery(signature="0" * 40, timestamp="1", nonce="n"),
            token="t",
            crypto=None,
            now=1,
        )


def test_json_bodies_only_for_shop_services() -> None:
    query = PushQuery(signature=url_signature("t", "1", "n"), timestamp="1", nonce="n")
    body = json.dumps({"MsgType": "event", "Event": "channels_ec_order_pay"}).encode()
    with pytest.raises(XmlError):
        open_push(body, query, token="t", crypto=None, now=1)
    opened = open_push(b"  \n" + body, query, token="t", crypto=None, now=1, channels_ec=True)
    assert opened.format == "json"
    assert opened.fields["Event"] == "channels_ec_order_pay"


@pytest.mark.parametrize("body", [b"{", b"[1]", b'{"a": NaN}', b"{" * 100_000, b'{"a":"\xff"}'])
def test_bad_json_is_a_payload_error(body: bytes) -> None:
    query = PushQuery(signature=url_signature("t", "1", "n"), timestamp="1", nonce="n")
    with pytest.raises(PayloadError):
        open_push(body, query, token="t", crypto=None, now=1, channels_ec=True, max_size=200_000)


def test_encrypted_shop_json() -> None:
    shop_crypto = crypto()
    inner = json.dumps(
        {"ToUserName": "gh", "MsgType": "event", "Event": "channels_ec_order_pay",
         "order_info": {"order_id": 3705115058471208928}}
    )  # fmt: skip
    encrypt = shop_crypto.encrypt(inner)
    body = json.dumps({"ToUserName": "gh", "Encrypt": encrypt}).encode()
    query = PushQuery(
        signature=v.V1_SIGNATURE,
        timestamp=v.V1_TIMESTAMP,
        nonce=v.V1_NONCE,
        encrypt_type="aes",
        msg_signature=shop_crypto.signature(v.V1_TIMESTAMP, v.V1_NONCE, encrypt),
    )
    opened = open_push(body, query, token=v.V1_TOKEN, crypto=shop_crypto, now=NOW, channels_ec=True)
    assert opened.encrypted
    assert opened.format == "json"
    assert opened.fields["order_info"] == {"order_id": 3705115058471208928}


def test_seal_response_encrypts_replies_for_encrypted_requests() -> None:
    sealed = seal_response(
        v.V4_PLAINTEXT,
        crypto=crypto(),
        encrypted=True,
        timestamp=v.V1_TIMESTAMP,
        nonce=v.V1_NONCE,
    )
    fields = parse_xml(sealed)
    assert set(fields) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    assert (fields["TimeStamp"], fields["Nonce"]) == (v.V1_TIMESTAMP, v.V1_NONCE)
    encrypt = fields["Encrypt"]
    assert isinstance(encrypt, str)
    assert crypto().decrypt(encrypt) == v.V4_PLAINTEXT.encode()
    plain = seal_response(
        v.V4_PLAINTEXT, crypto=crypto(), encrypted=False, timestamp="1", nonce="n"
    )
    assert plain == v.V4_PLAINTEXT


@pytest.mark.parametrize("reply", ["success", ""])
def test_d25_no_reply_is_always_plaintext(reply: str) -> None:
    """D25: in aes mode go-wx-gateway sometimes encrypted ``success`` and sometimes did not."""
    assert seal_response(reply, crypto=crypto(), encrypted=True, timestamp="1", nonce="n") == reply


def test_require_encryption_refuses_plaintext_bodies() -> None:
    """A plaintext body is not signed: a replayed (signature, timestamp, nonce) could carry any
    content, so a safe-mode service can refuse plaintext altogether."""
    with pytest.raises(UnsupportedEncryptionError):
        open_push(
            v.V1_PLAINTEXT.encode(),
            plain_query(),
            token=v.V1_TOKEN,
            crypto=crypto(),
            now=NOW,
            require_encryption=True,
        )
    opened = open_push(
        v.V1_BODY,
        PushQuery.from_mapping(v.V1_QUERY),
        token=v.V1_TOKEN,
        crypto=crypto(),
        now=NOW,
        require_encryption=True,
    )
    assert opened.encrypted
