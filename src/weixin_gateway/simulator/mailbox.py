"""A bot's inbound queue: a retention-capped deque, opaque cursors and parked long polls.

Messages get consecutive ``seq`` numbers per bot, so the deque is indexed by arithmetic: finding
"everything after this cursor" never scans. Each message's JSON is serialised once and cached.

Cursors are base64 of a version byte, a 4-byte tag derived from the simulator's secret and the
bot ID, and the masked ``seq`` of the last message delivered. A cursor the simulator did not make
for this bot (or ``""``) means "from the oldest retained message".
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import deque
from dataclasses import dataclass, field

from weixin_gateway.ilink.wire import WeixinMessage, dump_wire

from ._waiters import Waiters

__all__ = ["Mailbox", "StoredMessage"]

_CURSOR_VERSION = b"\x01"
_ID_KEYS = frozenset({"message_id", "msg_id", "svr_id"})


def _stringify_ids(value: object) -> object:
    if isinstance(value, dict):
        return {
            k: str(v) if k in _ID_KEYS and isinstance(v, int) else _stringify_ids(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_stringify_ids(v) for v in value]
    return value


def _dumps(data: object) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(slots=True, eq=False)
class StoredMessage:
    """An inbound message as queued, with its wire JSON cached in both ID styles."""

    seq: int
    message: WeixinMessage
    _numbers: bytes | None = field(default=None, repr=False)
    _strings: bytes | None = field(default=None, repr=False)

    @property
    def message_id(self) -> int:
        assert self.message.message_id is not None
        return self.message.message_id

    def json(self, *, ids_as_strings: bool = False) -> bytes:
        if ids_as_strings:
            if self._strings is None:
                self._strings = _dumps(_stringify_ids(dump_wire(self.message)))
            return self._strings
        if self._numbers is None:
            self._numbers = _dumps(dump_wire(self.message))
        return self._numbers


class Mailbox:
    """One bot's retained inbound messages and the polls waiting for the next one."""

    __slots__ = ("_key", "_last_seq", "_messages", "waiters")

    def __init__(self, cursor_key: bytes) -> None:
        self._key = cursor_key
        self._messages: deque[StoredMessage] = deque()
        self._last_seq = 0
        self.waiters = Waiters()

    def __len__(self) -> int:
        return len(self._messages)

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def next_seq(self) -> int:
        return self._last_seq + 1

    def append(self, message: WeixinMessage, *, retention: int) -> tuple[StoredMessage, list[int]]:
        """Queue ``message`` (its ``seq`` must be :meth:`next_seq`); return it and evicted IDs."""
        seq = self.next_seq()
        assert message.seq == seq
        stored = StoredMessage(seq, message)
        self._messages.append(stored)
        self._last_seq = seq
        evicted: list[int] = []
        while len(self._messages) > retention:
            evicted.append(self._messages.popleft().message_id)
        self.waiters.wake()
        return stored, evicted

    def after(self, seq: int | None, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages newer than ``seq`` (``None``: from the oldest retained)."""
        if not self._messages:
            return []
        first = self._messages[0].seq
        start = 0 if seq is None else max(0, seq - first + 1)
        stop = min(len(self._messages), start + limit)
        return [self._messages[i] for i in range(start, stop)]

    def cursor(self, seq: int) -> str:
        mask = int.from_bytes(self._key[4:12], "big")
        payload = _CURSOR_VERSION + self._key[:4] + (seq ^ mask).to_bytes(8, "big")
        return base64.b64encode(payload).decode()

    def parse_cursor(self, cursor: str) -> int | None:
        """The ``seq`` a cursor stands for, or ``None`` for ``""`` and cursors not ours."""
        if not cursor:
            return None
        try:
            payload = base64.b64decode(cursor, validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(payload) != 13 or payload[:1] != _CURSOR_VERSION or payload[1:5] != self._key[:4]:
            return None
        seq = int.from_bytes(payload[5:], "big") ^ int.from_bytes(self._key[4:12], "big")
        return seq if 0 <= seq <= self._last_seq else None
