"""The Official Account (公众号) layer: the protocol pieces and a client for WeChat's APIs.

* :mod:`.signature` — URL signature, ``msg_signature``, JS-SDK signature, timestamp window
* :mod:`.crypto` — WXBizMsgCrypt-compatible AES-256-CBC and the encrypted reply envelope
* :mod:`.xml` — safe XML parsing (defusedxml, size and depth caps) and a CDATA-safe builder
* :mod:`.envelope` — verifying and opening an inbound request (plain, compat, safe mode)
* :mod:`.push` — a verified push as a typed record; go-wx-gateway's forward path and JSON body
* :mod:`.reply` — upstream reply JSON → passive reply XML or a customer-service message
* :mod:`.config` — go-wx-gateway's JSON configuration, loaded unchanged
* :mod:`.errors` — the ``MpError`` branch of the exception tree
* :mod:`.client` — ``MpApiClient``: users, QR tickets, messages, OAuth, JS-SDK, shop, media
* :mod:`.tokens` — access_token / jsapi_ticket caching, one refresh at a time across processes

Everything but :mod:`.client`, :mod:`.tokens` and :mod:`.oauth` is pure and transport-free.

The names below are imported on first use (PEP 562): the iLink gateway (``serve``) needs only
:mod:`.tokens` (through its SQL token store), not the XML, crypto and API client modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weixin_gateway._lazy import lazy_exports

if TYPE_CHECKING:
    from weixin_gateway.mp.client import (
        JsapiSignature,
        MpApiClient,
        MpClientConfig,
        MpTimeouts,
        QrCode,
    )
    from weixin_gateway.mp.config import MpConfig, ServiceConfig, load_config, parse_config
    from weixin_gateway.mp.crypto import MsgCrypto
    from weixin_gateway.mp.envelope import (
        OpenedPush,
        PushQuery,
        open_push,
        seal_response,
        verify_url,
    )
    from weixin_gateway.mp.errors import (
        ApiDiscontinuedError,
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
        WeChatApiError,
        XmlError,
    )
    from weixin_gateway.mp.oauth import OAuthToken
    from weixin_gateway.mp.push import Push, append_user_info, forward_body, parse_push
    from weixin_gateway.mp.reply import Reply, custom_message, parse_reply, passive_reply
    from weixin_gateway.mp.tokens import (
        CachedToken,
        FileTokenStore,
        MemoryTokenStore,
        TokenPolicy,
        TokenStore,
    )

__all__ = [
    "ApiDiscontinuedError",
    "AppIdMismatchError",
    "CachedToken",
    "DecryptError",
    "FileTokenStore",
    "JsapiSignature",
    "MemoryTokenStore",
    "MissingSignatureError",
    "MpApiClient",
    "MpClientConfig",
    "MpConfig",
    "MpConfigError",
    "MpError",
    "MpTimeouts",
    "MsgCrypto",
    "OAuthToken",
    "OpenedPush",
    "PayloadError",
    "PayloadTooLargeError",
    "Push",
    "PushQuery",
    "QrCode",
    "Reply",
    "ReplyError",
    "ServiceConfig",
    "SignatureError",
    "TimestampError",
    "TokenPolicy",
    "TokenStore",
    "UnsupportedEncryptionError",
    "WeChatApiError",
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

#: The module that defines each name of ``__all__``.
_EXPORTS: dict[str, str] = {
    name: module
    for module, names in {
        "weixin_gateway.mp.client": (
            "JsapiSignature",
            "MpApiClient",
            "MpClientConfig",
            "MpTimeouts",
            "QrCode",
        ),
        "weixin_gateway.mp.config": (
            "MpConfig",
            "ServiceConfig",
            "load_config",
            "parse_config",
        ),
        "weixin_gateway.mp.crypto": ("MsgCrypto",),
        "weixin_gateway.mp.envelope": (
            "OpenedPush",
            "PushQuery",
            "open_push",
            "seal_response",
            "verify_url",
        ),
        "weixin_gateway.mp.errors": (
            "ApiDiscontinuedError",
            "AppIdMismatchError",
            "DecryptError",
            "MissingSignatureError",
            "MpConfigError",
            "MpError",
            "PayloadError",
            "PayloadTooLargeError",
            "ReplyError",
            "SignatureError",
            "TimestampError",
            "UnsupportedEncryptionError",
            "WeChatApiError",
            "XmlError",
        ),
        "weixin_gateway.mp.oauth": ("OAuthToken",),
        "weixin_gateway.mp.push": (
            "Push",
            "append_user_info",
            "forward_body",
            "parse_push",
        ),
        "weixin_gateway.mp.reply": (
            "Reply",
            "custom_message",
            "parse_reply",
            "passive_reply",
        ),
        "weixin_gateway.mp.tokens": (
            "CachedToken",
            "FileTokenStore",
            "MemoryTokenStore",
            "TokenPolicy",
            "TokenStore",
        ),
    }.items()
    for name in names
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
