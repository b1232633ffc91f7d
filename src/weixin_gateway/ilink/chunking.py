"""Split long text into messages (``textChunkLimit`` 4000 in the official plugin, ilink.md §9.2).

:func:`split_text` is lossless. For every ``text`` and ``limit >= 1``::

    chunks = split_text(text, limit)
    "".join(chunks) == text
    all(1 <= len(chunk) <= limit for chunk in chunks)   # so ``split_text("") == []``

Each cut is placed, within the next ``limit`` characters, after the last paragraph break
(``"\\n\\n"``), else after the last line break, else after the last space, else at ``limit``. The
separator stays at the end of the chunk before the cut. A hard cut is moved back so that it does
not fall before a combining mark, a zero-width joiner, a variation selector or a low surrogate,
unless the whole window is one such sequence.

:func:`message_texts` turns the chunks into what is actually sent: trailing whitespace and leading
line breaks trimmed, blank chunks dropped.
"""

from __future__ import annotations

import unicodedata

__all__ = ["DEFAULT_CHUNK_LIMIT", "message_texts", "split_text"]

DEFAULT_CHUNK_LIMIT = 4000

_SEPARATORS = ("\n\n", "\n", " ")


def _continues(char: str) -> bool:
    """True if ``char`` belongs to the character before it (a cut must not fall before it)."""
    code = ord(char)
    return (
        unicodedata.combining(char) != 0
        or unicodedata.category(char) in ("Mn", "Me", "Mc")
        or code == 0x200D  # zero-width joiner
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0xE0100 <= code <= 0xE01EF
        or 0x1F3FB <= code <= 0x1F3FF  # emoji skin-tone modifiers
        or 0xDC00 <= code <= 0xDFFF  # low surrogate (only in strings built from UTF-16)
    )


def _cut(text: str, start: int, limit: int) -> int:
    """Where the chunk starting at ``start`` ends (exclusive); ``start < result <= start+limit``."""
    end = start + limit
    if end >= len(text):
        return len(text)
    window = text[start:end]
    for separator in _SEPARATORS:
        found = window.rfind(separator)
        if found >= 0:
            return start + found + len(separator)
    cut = end
    while cut > start + 1 and _continues(text[cut]):
        cut -= 1
    return cut if not _continues(text[cut]) else end


def split_text(text: str, limit: int = DEFAULT_CHUNK_LIMIT) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` characters, losslessly (module docstring)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    chunks: list[str] = []
    start = 0
    while start < len(text):
        end = _cut(text, start, limit)
        chunks.append(text[start:end])
        start = end
    return chunks


def message_texts(text: str, limit: int = DEFAULT_CHUNK_LIMIT) -> list[str]:
    """The texts to send for ``text``: each chunk trimmed of trailing whitespace and leading
    line breaks; chunks left blank are dropped. Every text is non-empty and ``<= limit``."""
    out: list[str] = []
    for chunk in split_text(text, limit):
        trimmed = chunk.rstrip().lstrip("\r\n")
        if trimmed:
            out.append(trimmed)
    return out
