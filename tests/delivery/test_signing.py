"""The callback signature: round trip, tampering, tolerance, malformed headers, the snippet."""

from __future__ import annotations

import hashlib
import hmac
import textwrap
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from weixin_gateway.delivery import signing
from weixin_gateway.delivery.signing import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    verify,
)

SECRET = "s3cret-shared"
BODY = b'{"type":"message","text":"\xe4\xbd\xa0\xe5\xa5\xbd"}'
TS = 1_700_000_000


def test_header_names() -> None:
    assert SIGNATURE_HEADER == "X-Weixin-Gateway-Signature"
    assert EVENT_ID_HEADER == "X-Weixin-Gateway-Event-Id"
    assert TIMESTAMP_HEADER == "X-Weixin-Gateway-Timestamp"


def test_sign_format_and_vector() -> None:
    header = sign(SECRET, BODY, TS)
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert sign("k", b"", 0) == ("t=0,v1=" + hmac.new(b"k", b"0.", hashlib.sha256).hexdigest())


def test_round_trip() -> None:
    assert verify(SECRET, BODY, sign(SECRET, BODY, TS), now=TS)
    assert verify(SECRET, BODY, sign(SECRET, BODY, int(time.time())))  # default: the real clock


def test_tampering_fails() -> None:
    header = sign(SECRET, BODY, TS)
    assert not verify(SECRET, BODY + b" ", header, now=TS)
    assert not verify(SECRET, BODY.replace(b"message", b"massage"), header, now=TS)
    assert not verify("other-secret", BODY, header, now=TS)
    moved = header.replace(f"t={TS}", f"t={TS + 1}")
    assert not verify(SECRET, BODY, moved, now=TS)
    flipped = header[:-1] + ("0" if header[-1] != "0" else "1")
    assert not verify(SECRET, BODY, flipped, now=TS)


def test_tolerance() -> None:
    header = sign(SECRET, BODY, TS)
    assert verify(SECRET, BODY, header, now=TS + 300)
    assert verify(SECRET, BODY, header, now=TS - 300)
    assert not verify(SECRET, BODY, header, now=TS + 301)
    assert not verify(SECRET, BODY, header, now=TS - 301)
    assert verify(SECRET, BODY, header, now=TS + 3000, tolerance_s=3600)
    assert not verify(SECRET, BODY, header, now=TS + 1, tolerance_s=0)


def test_several_signatures_and_unknown_schemes() -> None:
    good = sign(SECRET, BODY, TS)
    other = sign("old-secret", BODY, TS).split(",")[1]
    assert verify(SECRET, BODY, f"{good},{other}", now=TS)
    assert verify("old-secret", BODY, f"{good},{other}", now=TS)
    assert verify(SECRET, BODY, f"{good},v0=whatever", now=TS)
    assert verify(SECRET, BODY, good.replace(",", ", "), now=TS)


@pytest.mark.parametrize(
    "header",
    [
        "",
        ",",
        "garbage",
        "t=1700000000",
        "v1=" + "0" * 64,
        "t=,v1=" + "0" * 64,
        "t=abc,v1=" + "0" * 64,
        "t=-5,v1=" + "0" * 64,
        "t=1.5,v1=" + "0" * 64,
        "t=１７００000000,v1=" + "0" * 64,  # non-ASCII digits
        "t=1700000000,t=1700000000,v1=" + "0" * 64,
        "t=1700000000,v1=",
        "t=1700000000,v1=xyz",
        "t=1700000000,v1=" + "A" * 64,
        "t=1700000000,v1=" + "é" * 64,
        "t=1700000000,v1",
        "t=" + "9" * 400 + ",v1=" + "0" * 64,
    ],
)
def test_malformed_headers_are_false(header: str) -> None:
    assert verify(SECRET, BODY, header, now=TS) is False


def test_bad_input_never_raises() -> None:
    header = sign(SECRET, BODY, TS)
    anything: Any = None
    assert verify(SECRET, BODY, anything, now=TS) is False
    assert verify(SECRET, anything, header, now=TS) is False
    assert verify(anything, BODY, header, now=TS) is False
    assert verify("", BODY, header, now=TS) is False
    assert verify(SECRET, BODY, header, now=float("nan")) is False
    assert verify(SECRET, BODY, header, now=anything or float("inf")) is False
    mutable: Any = bytearray(BODY)
    assert verify(SECRET, mutable, header, now=TS) is True


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        sign("", BODY, TS)


@given(
    secret=st.text(min_size=1),
    body=st.binary(),
    timestamp=st.integers(min_value=0, max_value=2**40),
    skew=st.integers(min_value=-300, max_value=300),
)
def test_verify_accepts_every_signature_it_made(
    secret: str, body: bytes, timestamp: int, skew: int
) -> None:
    secret = secret.encode("utf-8", "replace").decode()  # no lone surrogates: not valid UTF-8
    header = sign(secret, body, timestamp)
    assert verify(secret, body, header, now=timestamp + skew)
    assert not verify(secret, body + b"x", header, now=timestamp + skew)


# --- the snippet upstreams copy -------------------------------------------------------------


def _snippet_source() -> str:
    doc = signing.__doc__
    assert doc is not None
    lines = doc.splitlines()
    start = lines.index(".. code-block:: python") + 1
    block: list[str] = []
    for line in lines[start:]:
        if line and not line.startswith("    "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block)).strip() + "\n"


def _snippet() -> Callable[..., bool]:
    namespace: dict[str, Any] = {}
    exec(compile(_snippet_source(), "<signing snippet>", "exec"), namespace)  # noqa: S102
    function = namespace["verify_weixin_gateway_signature"]
    assert callable(function)
    return function  # type: ignore[no-any-return]


def test_snippet_uses_only_the_standard_library() -> None:
    source = _snippet_source()
    imports = [line for line in source.splitlines() if line.startswith(("import", "from"))]
    assert imports == ["import hashlib", "import hmac", "import time"]


def test_snippet_verifies_a_real_signature() -> None:
    check = _snippet()
    now = int(time.time())
    header = sign(SECRET, BODY, now)
    assert check(SECRET, BODY, header) is True
    assert check(SECRET, BODY + b"!", header) is False
    assert check("wrong", BODY, header) is False
    assert check(SECRET, BODY, sign(SECRET, BODY, now - 301)) is False
    assert check(SECRET, BODY, sign(SECRET, BODY, now - 3000), tolerance_s=3600) is True


@pytest.mark.parametrize(
    "header", ["", "garbage", "t=abc,v1=00", "v1=" + "0" * 64, "t=1,v1=é", "t=1"]
)
def test_snippet_rejects_malformed_headers_without_raising(header: str) -> None:
    assert _snippet()(SECRET, BODY, header) is False


@given(secret=st.text(min_size=1), body=st.binary())
def test_snippet_agrees_with_verify(secret: str, body: bytes) -> None:
    secret = secret.encode("utf-8", "replace").decode()
    header = sign(secret, body, int(time.time()))
    assert _snippet()(secret, body, header) is verify(secret, body, header) is True
