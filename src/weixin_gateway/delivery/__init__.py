"""Delivery: how an inbound WeChat message becomes an event and reaches the upstream.

For each message a bot polls:

1. :class:`InboundMedia` downloads and decrypts its media items one after another into the
   inbound directory (``weixin-inbound-<hex>…``; voices also as ``.wav`` with the ``voice``
   extra). A failed item becomes an :class:`Attachment` with ``error`` — never a lost message.
2. :func:`build_event` turns the message and its attachments into the upstream event of the Node
   gateway's schema (``type, account_id, event_id, chat_id, user_id, text, context_token,
   chat_type, attachments, raw``); :func:`message_text` is the ``text`` the agent reads and
   :func:`content_fingerprint` recognises a re-delivery under a new ``message_id``.
3. The event is POSTed to the upstream (or kept in the inbox) with an HMAC signature
   (:func:`sign`; upstreams check it with :func:`verify` or the snippet in
   :mod:`weixin_gateway.delivery.signing`) in :data:`SIGNATURE_HEADER`, next to
   :data:`EVENT_ID_HEADER` and :data:`TIMESTAMP_HEADER`.

This layer builds on the SDK (:mod:`weixin_gateway.ilink`) and the store, never on the gateway
service or the interfaces above it.
"""

from __future__ import annotations

from weixin_gateway.delivery.events import (
    ATTACHMENTS_LABEL,
    Attachment,
    AttachmentKind,
    build_event,
    content_fingerprint,
    message_text,
)
from weixin_gateway.delivery.media_in import InboundMedia
from weixin_gateway.delivery.signing import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    verify,
)

__all__ = [
    "ATTACHMENTS_LABEL",
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Attachment",
    "AttachmentKind",
    "InboundMedia",
    "build_event",
    "content_fingerprint",
    "message_text",
    "sign",
    "verify",
]
