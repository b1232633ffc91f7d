"""Quoted messages (ilink.md §7.5): which message a reply quotes, and which part of its text.

Newer WeChat clients quote by ID (``ref_msg.svr_id``) and may select part of the quoted text with
``partial_text``; older ones inline the quoted item in ``ref_msg.message_item``.
"""

from __future__ import annotations

import hashlib

from .wire import MessageItem, PartialText, RefMessage, WeixinMessage

__all__ = ["quoted_message_id", "quoted_ref", "resolve_partial_text"]


def quoted_ref(msg: WeixinMessage) -> RefMessage | None:
    """The first ``ref_msg`` among the message's items, if it quotes anything."""
    for item in msg.item_list or ():
        if item.ref_msg is not None:
            return item.ref_msg
    return None


def quoted_message_id(ref: RefMessage) -> int | None:
    """The quoted message's server ID: ``svr_id``, else the inline item's ``msg_id`` (2.4.9)."""
    if ref.svr_id is not None:
        return ref.svr_id
    inline: MessageItem | None = ref.message_item
    return inline.msg_id if inline is not None else None


def _nth(text: str, needle: str, n: int, start: int = 0) -> int | None:
    pos = start - 1
    for _ in range(n + 1):
        pos = text.find(needle, pos + 1)
        if pos < 0:
            return None
    return pos


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - protocol checksum, not security


def resolve_partial_text(text: str, partial: PartialText) -> str | None:
    """The substring of ``text`` that ``partial`` selects, or ``None`` if it cannot be found.

    Find the ``startindex``-th occurrence (0-based) of ``start``; the selection runs to the end of
    the ``endindex``-th occurrence of ``end``, counted either over the whole text or from the
    start match. When ``quotemd5`` is given it picks between the two (and must match one).
    """
    if not partial.start or not partial.end:
        return None
    begin = _nth(text, partial.start, partial.startindex or 0)
    if begin is None:
        return None
    candidates: list[str] = []
    for end_pos in (
        _nth(text, partial.end, partial.endindex or 0),
        _nth(text, partial.end, partial.endindex or 0, begin),
    ):
        if end_pos is not None and end_pos >= begin:
            selected = text[begin : end_pos + len(partial.end)]
            if selected not in candidates:
                candidates.append(selected)
    if partial.quotemd5:
        wanted = partial.quotemd5.lower()
        return next((c for c in candidates if _md5(c) == wanted), None)
    return candidates[0] if candidates else None
