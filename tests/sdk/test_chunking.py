"""Text chunking: lossless split, boundaries preferred in order (ilink.md §9.2)."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from weixin_gateway.ilink.chunking import message_texts, split_text

_TEXT = st.lists(
    st.sampled_from(["a", "b", "中", " ", "\n", "\n\n", "e\u0301", "👍🏽", "\u200d"]),
    max_size=200,
).map("".join)


@given(text=st.text(max_size=400) | _TEXT, limit=st.integers(min_value=1, max_value=60))
@example(text="", limit=1)
def test_split_is_lossless_and_bounded(text: str, limit: int) -> None:
    chunks = split_text(text, limit)
    assert "".join(chunks) == text
    assert all(1 <= len(chunk) <= limit for chunk in chunks)


@given(text=_TEXT, limit=st.integers(min_value=2, max_value=60))
def test_cuts_prefer_paragraphs_then_lines_then_spaces(text: str, limit: int) -> None:
    chunks = split_text(text, limit)
    start = 0
    for chunk in chunks[:-1]:
        window = text[start : start + limit]
        start += len(chunk)
        if "\n\n" in window:
            assert chunk.endswith("\n\n")
        elif "\n" in window:
            assert chunk.endswith("\n")
        elif " " in window:
            assert chunk.endswith(" ")


@given(text=_TEXT, limit=st.integers(min_value=3, max_value=60))
def test_message_texts_are_trimmed_chunks(text: str, limit: int) -> None:
    sent = message_texts(text, limit)
    assert all(0 < len(t) <= limit and t == t.rstrip() and t[0] != "\n" for t in sent)
    # nothing but whitespace is lost
    assert "".join(sent).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )


def test_preference_examples() -> None:
    assert split_text("aaa bbb\nccc\n\nddd", 13) == ["aaa bbb\nccc\n\n", "ddd"]
    assert split_text("aaa bbb\nccc ddd", 12) == ["aaa bbb\n", "ccc ddd"]
    assert split_text("aaa bbb ccc", 9) == ["aaa bbb ", "ccc"]
    assert split_text("abcdefghij", 4) == ["abcd", "efgh", "ij"]
    assert split_text("short", 4000) == ["short"]
    assert split_text("", 10) == []


def test_hard_cut_keeps_combining_marks_with_their_base() -> None:
    text = "abce\u0301fg"  # e + COMBINING ACUTE at index 3-4
    assert split_text(text, 4) == ["abc", "e\u0301fg"]
    assert split_text("e" + "\u0301" * 5, 3) == ["e\u0301\u0301", "\u0301\u0301\u0301"]


def test_message_texts_drop_blank_chunks_and_keep_indentation() -> None:
    assert message_texts("one\n\n\n\n\n\ntwo", 4) == ["one", "two"]
    assert message_texts("   \n  ", 3) == []
    assert message_texts("x" * 10 + "\n    code", 11) == ["x" * 10, "    code"]


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        split_text("x", 0)
