"""The request log: every iLink and CDN request as it arrived, and its token-redacted JSON view."""

from __future__ import annotations

import base64
import json
from collections import deque

from aiohttp import web

from .records import RecordedRequest

__all__ = ["Recorder", "record_of", "redact_token", "request_view"]


def redact_token(token: str) -> str:
    """A bot token with its secret hidden: ``<bot_id>:***``."""
    head = token.split(":", 1)[0] if ":" in token else token[:4]
    return f"{head}:***"


def _redact_header(name: str, value: str) -> str:
    if name.lower() != "authorization":
        return value
    scheme, _, token = value.partition(" ")
    return f"{scheme} {redact_token(token.strip())}" if token else redact_token(value)


def record_of(
    request: web.Request,
    *,
    route: str,
    body: bytes,
    body_size: int,
    bot_id: str | None,
    time: float,
) -> RecordedRequest:
    return RecordedRequest(
        route=route,
        method=request.method,
        path=request.path,
        query_string=request.query_string,
        query=tuple(request.query.items()),
        headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers),
        body=body,
        body_size=body_size,
        host=request.headers.get("Host"),
        time=time,
        bot_id=bot_id,
    )


def _body_view(record: RecordedRequest) -> dict[str, object]:
    if not record.body:
        return {}
    try:
        text = record.body.decode()
    except UnicodeDecodeError:
        return {"body_base64": base64.b64encode(record.body).decode()}
    if record.route == "get_bot_qrcode":
        try:
            data = json.loads(text)
        except ValueError:
            return {"body": text}
        if isinstance(data, dict) and isinstance(data.get("local_token_list"), list):
            data["local_token_list"] = [
                redact_token(t) if isinstance(t, str) else t for t in data["local_token_list"]
            ]
            return {"body": json.dumps(data, ensure_ascii=False, separators=(",", ":"))}
    return {"body": text}


def request_view(record: RecordedRequest) -> dict[str, object]:
    """The JSON form served by ``GET /_sim/requests``: bot tokens redacted."""
    return {
        "route": record.route,
        "method": record.method,
        "path": record.path,
        "query_string": record.query_string,
        "query": [list(pair) for pair in record.query],
        "headers": [[k, _redact_header(k, v)] for k, v in record.headers],
        "host": record.host,
        "time": record.time,
        "bot_id": record.bot_id,
        "body_size": record.body_size,
        **_body_view(record),
    }


class Recorder:
    """The most recent requests, oldest first."""

    def __init__(self) -> None:
        self._records: deque[RecordedRequest] = deque()

    def add(self, record: RecordedRequest, *, cap: int) -> None:
        self._records.append(record)
        while len(self._records) > cap:
            self._records.popleft()

    def list(self) -> tuple[RecordedRequest, ...]:
        return tuple(self._records)

    def clear(self) -> None:
        self._records.clear()
