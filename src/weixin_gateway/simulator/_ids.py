"""Identifiers shaped like the real ones: bot and user IDs, tokens, message IDs, opaque params."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["FIRST_MESSAGE_ID", "IdSource"]

#: Message IDs start above 2**53 so that clients must keep them exact (ilink-vectors.md §1).
FIRST_MESSAGE_ID = 7_439_127_366_421_238_785
#: Each simulator starts at a random point past :data:`FIRST_MESSAGE_ID`, so that, as on the real
#: (server-wide) ID space, a restarted simulator never reuses an ID a client has stored.
MESSAGE_ID_SPREAD = 2**50
#: Real context tokens start ``AARzJW…``: these are their first bytes.
_CONTEXT_PREFIX = b"\x00\x04\x73\x25\x60\x05"


class IdSource:
    """Makes every identifier; one per simulator, with its own secret for derived values."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)
        self._next_message_id = FIRST_MESSAGE_ID + secrets.randbelow(MESSAGE_ID_SPREAD)

    def message_id(self) -> int:
        """The next server message ID (shared by inbound messages and ``sendmessage``)."""
        value = self._next_message_id
        self._next_message_id += 1
        return value

    def bot_id(self) -> str:
        return f"{secrets.token_hex(6)}@im.bot"

    def bot_token(self, bot_id: str) -> str:
        return f"{bot_id}:0600{secrets.token_hex(18)}"

    def user_id(self) -> str:
        return f"o9cq80{secrets.token_urlsafe(21)}@im.wechat"

    def context_token(self) -> str:
        return base64.b64encode(_CONTEXT_PREFIX + secrets.token_bytes(33)).decode()

    def qrcode(self) -> str:
        return secrets.token_hex(16)

    def qr_short_code(self) -> str:
        return secrets.token_urlsafe(4)[:6]

    def cdn_param(self) -> str:
        """An opaque CDN parameter; standard base64, so it needs URL-encoding (``+/=``)."""
        return base64.b64encode(secrets.token_bytes(40)).decode()

    def _derive(self, *parts: str) -> bytes:
        return hmac.new(self._secret, "\n".join(parts).encode(), hashlib.sha256).digest()

    def typing_ticket(self, bot_id: str, user_id: str) -> str:
        """Stable per bot and user."""
        return base64.b64encode(self._derive("typing", bot_id, user_id)[:18]).decode()

    def cursor_key(self, bot_id: str) -> bytes:
        """12 bytes per bot: a 4-byte tag and an 8-byte mask for its cursors."""
        return self._derive("cursor", bot_id)[:12]
