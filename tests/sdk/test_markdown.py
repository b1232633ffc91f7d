"""The 2.4.9 outbound Markdown filter (ilink.md §9.5, ilink-vectors.md §7.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from weixin_gateway.ilink.markdown import contains_cjk, filter_markdown


def test_captured_vector_7_1() -> None:
    raw = (
        "**Sure!** Here is *the* answer:\n##### Small heading\n![img](http://x/y.png)\n"
        "这是*中文斜体*。"
    )
    assert filter_markdown(raw) == (
        "**Sure!** Here is *the* answer:\nSmall heading\n\n这是中文斜体。"
    )


@pytest.mark.parametrize(
    ("raw", "sent"),
    [
        # H5/H6 markers go; H1-H4 stay; seven hashes is not a heading
        ("###### tiny", "tiny"),
        ("# H1\n## H2\n### H3\n#### H4", "# H1\n## H2\n### H3\n#### H4"),
        ("####### seven", "####### seven"),
        ("#####no-space", "#####no-space"),
        # CJK emphasis loses its markers, other emphasis stays
        ("这是_中文_。", "这是中文。"),
        ("***粗斜体*** and ___한국어___", "粗斜体 and 한국어"),
        ("*italic* and _under_ and ***both***", "*italic* and _under_ and ***both***"),
        ("**中文粗体** stays bold", "**中文粗体** stays bold"),
        ("mixed *abc 中 def* here", "mixed abc 中 def here"),
        ("snake_case_name 中文", "snake_case_name 中文"),
        ("* 列表项 *强调*", "* 列表项 强调"),
        # images deleted, links kept
        ("see ![a diagram](http://x/d.png) and [a link](http://x/)", "see  and [a link](http://x/)"),
        # inline code untouched, the rest of the line still filtered
        ("`*中文*` *中文*", "`*中文*` 中文"),
        ("``a ` ![i](u) b`` ![i](u)", "``a ` ![i](u) b`` "),
        # tables, quotes, strikethrough, rules, lists pass through
        ("| a | b |\n|---|---|\n| 1 | 2 |", "| a | b |\n|---|---|\n| 1 | 2 |"),
        ("> q *text*\n~~gone~~\n---\n- item\n1. one", "> q *text*\n~~gone~~\n---\n- item\n1. one"),
    ],
)  # fmt: skip
def test_rules(raw: str, sent: str) -> None:
    assert filter_markdown(raw) == sent


def test_code_fences_are_left_alone() -> None:
    raw = "```python\n##### not a heading\nx = *中文*  # ![i](u)\n```\n##### after\n~~~\n*中*\n~~~"
    assert filter_markdown(raw) == (
        "```python\n##### not a heading\nx = *中文*  # ![i](u)\n```\nafter\n~~~\n*中*\n~~~"
    )


def test_unclosed_fence_protects_the_rest() -> None:
    raw = "```\n*中文*\n##### x"
    assert filter_markdown(raw) == raw


def test_cjk_ranges() -> None:
    assert contains_cjk("\u2e80")
    assert contains_cjk("\u9fff")
    assert contains_cjk("\uac00")
    assert contains_cjk("\uf900")
    assert not contains_cjk("abc\u3000"[:3])
    assert not contains_cjk("é")


@given(st.text(alphabet=st.characters(blacklist_characters="*_#![`~")))
def test_text_without_markup_is_unchanged(text: str) -> None:
    assert filter_markdown(text) == text


@given(st.text())
def test_line_breaks_are_kept(text: str) -> None:
    assert filter_markdown(text).count("\n") == text.count("\n")
