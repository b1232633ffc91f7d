"""ilink.md §7.5 and ilink-vectors.md §5.8-§5.9: quotes inline and by ID, partial selections."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from weixin_gateway.ilink.quotes import quoted_message_id, quoted_ref, resolve_partial_text
from weixin_gateway.ilink.wire import PartialText, WeixinMessage


def test_protocol_example_abc() -> None:
    partial = PartialText(
        start="a", end="c", startindex=1, endindex=1, quotemd5="900150983cd24fb0d6963f7d28e17f72"
    )
    assert resolve_partial_text("abcedfabcgh", partial) == "abc"


def test_end_counted_from_the_start_match() -> None:
    text = "xx start yy end zz end"
    # counting `end` from the start match: occurrence 1 is the second "end"
    selected = "start yy end zz end"
    partial = PartialText(
        start="start",
        end="end",
        startindex=0,
        endindex=1,
        quotemd5=hashlib.md5(selected.encode()).hexdigest(),  # noqa: S324
    )
    assert resolve_partial_text(text, partial) == selected


def test_no_match_or_wrong_md5_is_none() -> None:
    assert resolve_partial_text("abc", PartialText(start="z", end="c")) is None
    wrong = PartialText(start="a", end="c", startindex=0, endindex=0, quotemd5="0" * 32)
    assert resolve_partial_text("abc", wrong) is None


def test_quote_by_id_and_inline() -> None:
    by_id = WeixinMessage.model_validate(
        {
            "item_list": [
                {
                    "type": 1,
                    "text_item": {"text": "explain this part"},
                    "ref_msg": {"svr_id": 7439127366421239001, "partial_text": {"start": "a"}},
                }
            ]
        }
    )
    ref = quoted_ref(by_id)
    assert ref is not None
    assert quoted_message_id(ref) == 7439127366421239001
    inline = WeixinMessage.model_validate(
        {
            "item_list": [
                {
                    "type": 1,
                    "text_item": {"text": "what does this mean?"},
                    "ref_msg": {
                        "title": "hi bot",
                        "message_item": {
                            "type": 1,
                            "msg_id": 7439127366421238785,
                            "text_item": {"text": "hi bot"},
                        },
                    },
                }
            ]
        }
    )
    ref = quoted_ref(inline)
    assert ref is not None
    assert quoted_message_id(ref) == 7439127366421238785
    assert quoted_ref(WeixinMessage(item_list=[])) is None


@given(st.text(min_size=1, max_size=40), st.data())
def test_any_selected_substring_is_found_again(text: str, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(text) - 1))
    j = data.draw(st.integers(i, len(text) - 1))
    start, end = text[i], text[j]
    startindex = text[:i].count(start) if start else 0
    endindex_whole = sum(1 for k in range(j) if text.startswith(end, k))
    selected = text[i : j + 1]
    partial = PartialText(
        start=start,
        end=end,
        startindex=startindex,
        endindex=endindex_whole,
        quotemd5=hashlib.md5(selected.encode()).hexdigest(),  # noqa: S324
    )
    assert resolve_partial_text(text, partial) == selected
