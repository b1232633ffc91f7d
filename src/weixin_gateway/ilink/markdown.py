"""The official client's outbound Markdown filter, 2.4.9 rules (ilink.md §9.5).

WeChat renders most Markdown itself, so the filter changes only three things:

1. ``##### `` / ``###### `` heading markers (H5, H6) are removed; the heading text stays.
2. ``*…*``, ``***…***``, ``_…_`` and ``___…___`` markers are removed when the wrapped text contains
   CJK (U+2E80–U+9FFF, U+AC00–U+D7AF, U+F900–U+FAFF); other emphasis stays.
3. Images ``![alt](url)`` are deleted.

Everything else passes through: fenced code blocks (their content untouched), inline code, tables,
bold ``**``, lists, quotes, links, strikethrough and rules. The filter works line by line and never
changes line breaks, so ``filter_markdown(a + "\\n" + b)`` keeps the ``\\n``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["contains_cjk", "filter_markdown"]

_CJK = re.compile("[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^( {0,3})#{5,6}(?:[ \t]+|$)")
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)")
# Emphasis runs: exactly three (or one) markers on each side, never part of a longer run, content
# not starting or ending with whitespace and confined to one line.
_TRIPLE_STAR = re.compile(r"(?<!\*)\*\*\*(?![\s*])(.+?)(?<![\s*])\*\*\*(?!\*)")
_TRIPLE_UNDER = re.compile(r"(?<![A-Za-z0-9_])___(?![\s_])(.+?)(?<![\s_])___(?![A-Za-z0-9_])")
_STAR = re.compile(r"(?<![*\\])\*(?![\s*])(.+?)(?<![\s*\\])\*(?!\*)")
_UNDER = re.compile(r"(?<![A-Za-z0-9_\\])_(?![\s_])(.+?)(?<![\s_\\])_(?![A-Za-z0-9_])")


def contains_cjk(text: str) -> bool:
    """True if ``text`` has a character in the filter's CJK ranges."""
    return _CJK.search(text) is not None


def _unwrap_cjk(match: re.Match[str]) -> str:
    inner = match.group(1)
    return inner if contains_cjk(inner) else match.group(0)


def _filter_prose(text: str) -> str:
    """Rules 2 and 3 on a stretch of a line that holds no inline code."""
    text = _IMAGE.sub("", text)
    for pattern in (_TRIPLE_STAR, _TRIPLE_UNDER, _STAR, _UNDER):
        text = pattern.sub(_unwrap_cjk, text)
    return text


def _outside_code(line: str, transform: Callable[[str], str]) -> str:
    """Apply ``transform`` to the parts of ``line`` outside inline code spans."""
    out: list[str] = []
    pos = 0
    for span in _INLINE_CODE.finditer(line):
        out.append(transform(line[pos : span.start()]))
        out.append(span.group(0))
        pos = span.end()
    out.append(transform(line[pos:]))
    return "".join(out)


def _filter_line(line: str) -> str:
    heading = _HEADING.match(line)
    if heading is not None:
        line = line[heading.end() :]
    return _outside_code(line, _filter_prose)


def _closes(fence: str, opener: re.Match[str], line: str) -> bool:
    marker = opener.group(1)
    return marker[0] == fence[0] and len(marker) >= len(fence) and not line[opener.end() :].strip()


def filter_markdown(text: str) -> str:
    """Filter ``text`` as the 2.4.9 client does before sending (see the module docstring)."""
    lines = text.split("\n")
    fence: str | None = None
    for index, line in enumerate(lines):
        opener = _FENCE.match(line)
        if fence is not None:
            if opener is not None and _closes(fence, opener, line):
                fence = None
            continue
        if opener is not None:
            fence = opener.group(1)
            continue
        lines[index] = _filter_line(line)
    return "\n".join(lines)
