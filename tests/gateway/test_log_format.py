"""``WEIXIN_GATEWAY_LOG_FORMAT=json``: one JSON object per line, credentials still scrubbed."""

from __future__ import annotations

import json
import logging

from weixin_gateway.api.server import JsonFormatter, RedactingFilter


def test_json_lines_carry_level_logger_message_and_exception() -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord("wg.test", logging.WARNING, __file__, 1, "hello %s", ("ü",), None)
    entry = json.loads(formatter.format(record))
    assert entry["level"] == "warning"
    assert entry["logger"] == "wg.test"
    assert entry["message"] == "hello ü"
    assert entry["time"][:2] == "20"
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        failed = logging.LogRecord(
            "wg.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    assert "ValueError: boom" in json.loads(formatter.format(failed))["exc"]


def test_credentials_scrubbed_before_formatting() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, "GET /x?access_token=abc123", (), None
    )
    RedactingFilter().filter(record)
    assert "abc123" not in json.loads(JsonFormatter().format(record))["message"]
