"""What bots sent, as test-facing records: items classified, media fetched and decrypted.

Media are read back from the simulated CDN and decrypted with the key the bot put in the item
(``image_item.aeskey`` first, else ``media.aes_key``), exactly as a receiving client would.
"""

from __future__ import annotations

from weixin_gateway.errors import MediaError
from weixin_gateway.ilink.crypto import parse_aes_key, parse_hex_key
from weixin_gateway.ilink.wire import CDNMedia, MessageItem, MessageItemType, dump_wire

from .blobs import BlobStore
from .records import ItemKind, SentItem, SentMessage
from .state import Outbound

__all__ = ["sent_message"]

_KINDS: dict[int, ItemKind] = {
    MessageItemType.TEXT: "text",
    MessageItemType.IMAGE: "image",
    MessageItemType.VOICE: "voice",
    MessageItemType.FILE: "file",
    MessageItemType.VIDEO: "video",
    MessageItemType.TOOL_CALL_START: "tool_call_start",
    MessageItemType.TOOL_CALL_RESULT: "tool_call_result",
}


def sent_message(outbound: Outbound, blobs: BlobStore) -> SentMessage:
    """What the bot sent, with its media fetched from the CDN and decrypted."""
    msg = outbound.msg
    return SentMessage(
        bot_id=outbound.bot_id,
        to_user_id=msg.to_user_id or "",
        client_id=msg.client_id,
        context_token=msg.context_token,
        run_id=msg.run_id,
        message_id=outbound.message_id,
        items=tuple(_sent_item(item, blobs) for item in msg.item_list or ()),
        time=outbound.time,
        raw=dump_wire(msg),
    )


def _sent_item(item: MessageItem, blobs: BlobStore) -> SentItem:
    raw = dump_wire(item)
    kind = _KINDS.get(item.type if item.type is not None else -1, "unknown")
    if kind == "text":
        return SentItem("text", text=item.text_item.text if item.text_item else "", raw=raw)
    if kind == "tool_call_start":
        start = item.tool_call_start_item
        return SentItem(
            kind,
            tool_name=start.tool_name if start else None,
            tool_call_id=start.tool_call_id if start else None,
            raw=raw,
        )
    if kind == "tool_call_result":
        result = item.tool_call_result_item
        return SentItem(
            kind,
            tool_name=result.tool_name if result else None,
            tool_call_id=result.tool_call_id if result else None,
            status=result.status if result else None,
            raw=raw,
        )
    if kind == "unknown":
        return SentItem(kind, raw=raw)
    hex_key = item.image_item.aeskey if item.image_item is not None else None
    data, error = _fetch(blobs, item.media, hex_key)
    return SentItem(
        kind,
        file_name=item.file_item.file_name if item.file_item is not None else None,
        size=len(data) if data is not None else None,
        data=data,
        error=error,
        raw=raw,
    )


def _fetch(
    blobs: BlobStore, media: CDNMedia | None, hex_key: str | None
) -> tuple[bytes | None, str | None]:
    if media is None or not media.encrypt_query_param:
        return None, "item has no media.encrypt_query_param"
    try:
        key = None
        if hex_key:
            key = parse_hex_key(hex_key)
        elif media.aes_key:
            key = parse_aes_key(media.aes_key)
        return blobs.read_plaintext(media.encrypt_query_param, key), None
    except MediaError as exc:
        return None, str(exc)
