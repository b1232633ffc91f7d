"""JSON values as the mp modules use them: the value types, a safe object parser, and Go-like
output (what go-wx-gateway's upstreams expect)."""

from __future__ import annotations

import json
from typing import TypeAlias

from weixin_gateway.mp.errors import PayloadError, PayloadTooLargeError

__all__ = ["JsonObject", "JsonValue", "go_json", "parse_json_object"]

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
JsonObject: TypeAlias = dict[str, JsonValue]

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_GO_TABLE = str.maketrans(_GO_ESCAPES)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


# built once: json.loads/json.dumps with options build a new decoder/encoder on every call
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_GO_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def parse_json_object(data: bytes | str, *, max_size: int) -> JsonObject:
    """A JSON object from ``data``; integers stay exact ints (never floats), NaN is refused."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > max_size:
        raise PayloadTooLargeError(len(raw), max_size)
    try:
        value = _DECODER.decode(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise PayloadError("body is not valid JSON") from exc
    if not isinstance(value, dict):
        raise PayloadError("body is not a JSON object")
    return value


def go_json(value: JsonValue) -> bytes:
    """Encode like Go's ``json.Marshal`` + newline: compact, key order kept, ``<>&`` escaped."""
    text = _GO_ENCODER.encode(value)
    return (text.translate(_GO_TABLE) + "\n").encode()
