"""The Official Account (公众号) protocol layer: pure, transport-free pieces of the gateway.

* :mod:`.signature` — URL signature, ``msg_signature``, JS-SDK signature, timestamp window
* :mod:`.crypto` — WXBizMsgCrypt-compatible AES-256-CBC and the encrypted reply envelope
* :mod:`.xml` — safe XML parsing (defusedxml, size and depth caps) and a CDATA-safe builder
* :mod:`.envelope` — verifying and opening an inbound request (plain, compat, safe mode)
* :mod:`.push` — a verified push as a typed record; go-wx-gateway's forward path and JSON body
* :mod:`.reply` — upstream reply JSON → passive reply XML or a customer-service message
* :mod:`.config` — go-wx-gateway's JSON configuration, loaded unchanged
* :mod:`.errors` — the ``MpError`` branch of the exception tree
"""

from __future__ import annotations

from weixin_gateway.mp.config import MpConfig, ServiceConfig, load_config, parse_config
from weixin_gateway.mp.crypto import MsgCrypto
from weixin_gateway.mp.envelope import OpenedPush, PushQuery, open_push, seal_response, verify_url
from weixin_gateway.mp.errors import (
    AppIdMismatchError,
    DecryptError,
    MissingSignatureError,
    MpConfigError,
    MpError,
    PayloadError,
    PayloadTooLargeError,
    ReplyError,
    SignatureError,
    TimestampError,
    UnsupportedEncryptionError,
    XmlError,
)
from weixin_gateway.mp.push import Push, append_user_info, forward_body, parse_push
from weixin_gateway.mp.reply import Reply, custom_message, parse_reply, passive_reply

__all__ = [
    "AppIdMismatchError",
    "DecryptError",
    "MissingSignatureError",
    "MpConfig",
    "MpConfigError",
    "MpError",
    "MsgCrypto",
    "OpenedPush",
    "PayloadError",
    "PayloadTooLargeError",
    "Push",
    "PushQuery",
    "Reply",
    "ReplyError",
    "ServiceConfig",
    "SignatureError",
    "TimestampError",
    "UnsupportedEncryptionError",
    "XmlError",
    "append_user_info",
    "custom_message",
    "forward_body",
    "load_config",
    "open_push",
    "parse_config",
    "parse_push",
    "parse_reply",
    "passive_reply",
    "seal_response",
    "verify_url",
]
