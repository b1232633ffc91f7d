"""§1 and §5.9 signatures (vectors P1, P2, V1, V3, J1, J2) and the timestamp window."""

from __future__ import annotations

import hashlib
import hmac
import string
from typing import Any

import pytest

from tests.mp import vectors as v
from weixin_gateway.mp import signature as sig
from weixin_gateway.mp.errors import MissingSignatureError, SignatureError, TimestampError


@pytest.mark.parametrize(
    ("token", "timestamp", "nonce", "expected"),
    [
        v.P1,
        (v.V1_TOKEN, v.V1_TIMESTAMP, v.V1_NONCE, v.V1_SIGNATURE),  # P2 / V1
        (v.V3_TOKEN, v.V3_TIMESTAMP, v.V3_NONCE, v.V3_SIGNATURE),
    ],
)
def test_url_signature_vectors(token: str, timestamp: str, nonce: str, expected: str) -> None:
    assert sig.url_signature(token, timestamp, nonce) == expected
    sig.check_url_signature(token, timestamp, nonce, expected)


def test_url_signature_sorts_then_concatenates() -> None:
    # §1.3: the sorted concatenation for P2 is 1409304348pamtestxxxxxx
    assert hashlib.sha1(b"1409304348pamtestxxxxxx").hexdigest() == v.V1_SIGNATURE  # noqa: S324


def test_msg_signature_vectors() -> None:
    assert (
        sig.msg_signature(v.V1_TOKEN, v.V1_TIMESTAMP, v.V1_NONCE, v.V1_ENCRYPT)
        == v.V1_MSG_SIGNATURE
    )
    assert (
        sig.msg_signature(v.V2_TOKEN, v.V2_TIMESTAMP, v.V2_NONCE, v.V2_ENCRYPT)
        == v.V2_MSG_SIGNATURE
    )
    sig.check_msg_signature(
        v.V1_TOKEN, v.V1_TIMESTAMP, v.V1_NONCE, v.V1_ENCRYPT, v.V1_MSG_SIGNATURE
    )


def test_passing_signature_where_msg_signature_is_expected_fails() -> None:
    """The classic mistake (wechatpy#739): ``signature`` does not cover ``Encrypt``."""
    with pytest.raises(SignatureError):
        sig.check_msg_signature(
            v.V1_TOKEN, v.V1_TIMESTAMP, v.V1_NONCE, v.V1_ENCRYPT, v.V1_SIGNATURE
        )


@pytest.mark.parametrize(
    "bad",
    [
        v.V1_SIGNATURE.upper(),
        v.V1_SIGNATURE[:-1] + "0",
        v.V1_SIGNATURE[:-1],
        "",
        "日本語",
    ],
)
def test_wrong_url_signature_is_refused(bad: str) -> None:
    with pytest.raises(SignatureError):
        sig.check_url_signature(v.V1_TOKEN, v.V1_TIMESTAMP, v.V1_NONCE, bad)


@pytest.mark.parametrize(("timestamp", "nonce"), [("", v.V1_NONCE), (v.V1_TIMESTAMP, "")])
def test_missing_arguments_are_their_own_error(timestamp: str, nonce: str) -> None:
    with pytest.raises(MissingSignatureError):
        sig.check_url_signature(v.V1_TOKEN, timestamp, nonce, v.V1_SIGNATURE)


def test_comparisons_are_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    sig.check_url_signature(v.V1_TOKEN, v.V1_TIMESTAMP, v.V1_NONCE, v.V1_SIGNATURE)
    sig.check_msg_signature(
        v.V1_TOKEN, v.V1_TIMESTAMP, v.V1_NONCE, v.V1_ENCRYPT, v.V1_MSG_SIGNATURE
    )
    sig.check_jsapi_signature(
        v.J1_SIGNATURE,
        jsapi_ticket=v.J_TICKET,
        noncestr=v.J_NONCESTR,
        timestamp=v.J_TIMESTAMP,
        url=v.J1_URL,
    )
    assert len(calls) == 3


def test_jsapi_j1_official_example() -> None:
    string1 = sig.jsapi_string1(
        jsapi_ticket=v.J_TICKET, noncestr=v.J_NONCESTR, timestamp=v.J_TIMESTAMP, url=v.J1_URL
    )
    assert string1 == (
        f"jsapi_ticket={v.J_TICKET}&noncestr=Wm3WZYTPz0wzccnW&timestamp=1414587457"
        "&url=http://mp.weixin.qq.com?params=value"
    )
    got = sig.jsapi_signature(
        jsapi_ticket=v.J_TICKET, noncestr=v.J_NONCESTR, timestamp=v.J_TIMESTAMP, url=v.J1_URL
    )
    assert got == v.J1_SIGNATURE
    # the timestamp may come as a string too
    assert (
        sig.jsapi_signature(
            jsapi_ticket=v.J_TICKET, noncestr=v.J_NONCESTR, timestamp="1414587457", url=v.J1_URL
        )
        == v.J1_SIGNATURE
    )


def test_d19_jsapi_signature_drops_the_fragment() -> None:
    """D19: go-wx-gateway signed the URL including ``#fragment``; J2 must match without it."""
    kwargs: dict[str, Any] = {
        "jsapi_ticket": v.J_TICKET,
        "noncestr": v.J_NONCESTR,
        "timestamp": v.J_TIMESTAMP,
    }
    assert sig.jsapi_signature(url=v.J2_URL, **kwargs) == v.J2_SIGNATURE
    assert sig.jsapi_signature(url=v.J2_URL.split("#")[0], **kwargs) == v.J2_SIGNATURE
    with_fragment = hashlib.sha1(  # noqa: S324 - what go-wx-gateway computed
        f"jsapi_ticket={v.J_TICKET}&noncestr={v.J_NONCESTR}&timestamp={v.J_TIMESTAMP}"
        f"&url={v.J2_URL}".encode()
    ).hexdigest()
    assert with_fragment != v.J2_SIGNATURE
    with pytest.raises(SignatureError):
        sig.check_jsapi_signature(with_fragment, url=v.J2_URL, **kwargs)
    sig.check_jsapi_signature(v.J2_SIGNATURE, url=v.J2_URL, **kwargs)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a.example/p?q=1#x", "https://a.example/p?q=1"),
        ("https://a.example/p#", "https://a.example/p"),
        ("https://a.example/p#a#b", "https://a.example/p"),
        ("https://a.example/p?q=%23", "https://a.example/p?q=%23"),
    ],
)
def test_strip_fragment(url: str, expected: str) -> None:
    assert sig.strip_fragment(url) == expected


class TestTimestampWindow:
    NOW = 1_700_000_000.0

    def test_zero_turns_the_check_off_and_does_not_parse(self) -> None:
        assert sig.check_timestamp("not-a-number", now=self.NOW, window_s=0) is None

    def test_inside_the_window_both_ways(self) -> None:
        assert sig.check_timestamp("1700000000", now=self.NOW, window_s=300) == 1_700_000_000
        assert sig.check_timestamp("1699999700", now=self.NOW, window_s=300) == 1_699_999_700
        assert sig.check_timestamp("1700000300", now=self.NOW, window_s=300) == 1_700_000_300

    def test_expired(self) -> None:
        with pytest.raises(TimestampError) as info:
            sig.check_timestamp("1699999699", now=self.NOW, window_s=300)
        assert info.value.expired
        assert str(info.value) == "signature expired"

    def test_d22_future_timestamps_are_refused_too(self) -> None:
        """D22: go-wx-gateway's ``timeout`` check was one-sided; any future timestamp passed."""
        with pytest.raises(TimestampError) as info:
            sig.check_timestamp("1700000301", now=self.NOW, window_s=300)
        assert not info.value.expired

    @pytest.mark.parametrize("bad", ["", "12a", "1.5", " 1700000000", "１７"])
    def test_not_an_integer(self, bad: str) -> None:
        with pytest.raises(TimestampError, match="invalid timestamp"):
            sig.check_timestamp(bad, now=self.NOW, window_s=300)

    def test_negative_window_is_a_programming_error(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            sig.check_timestamp("1", now=self.NOW, window_s=-1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("+5", 5),
        ("-5", -5),
        ("007", 7),
        ("9" * 30, 2**63 - 1),
        ("-" + "9" * 30, -(2**63)),
    ],
)
def test_parse_go_int_is_atoi(text: str, expected: int) -> None:
    assert sig.parse_go_int(text) == expected


@pytest.mark.parametrize("text", ["", "1_000", " 1", "1 ", "0x10", "1e3", "٣"])
def test_parse_go_int_refuses_what_atoi_refuses(text: str) -> None:
    assert sig.parse_go_int(text) is None


def test_d31_nonce_is_alphanumeric_and_random() -> None:
    """D31: nonces come from :mod:`secrets`, 16 characters of ``[0-9A-Za-z]``."""
    nonces = {sig.new_nonce() for _ in range(50)}
    assert len(nonces) == 50
    alphabet = set(string.ascii_letters + string.digits)
    assert all(len(n) == 16 and set(n) <= alphabet for n in nonces)
    assert len(sig.new_nonce(32)) == 32


def test_parse_go_int_survives_numbers_python_refuses() -> None:
    from weixin_gateway.mp.signature import parse_go_int

    assert parse_go_int("9" * 5000) == 2**63 - 1
    assert parse_go_int("-" + "9" * 5000) == -(2**63)
    assert parse_go_int("+" + "0" * 5000 + "42") == 42
    assert parse_go_int("12x") is None
