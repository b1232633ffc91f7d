"""Safe XML parsing and the CDATA-safe builder (§2.4 steps 2 and 9, §4.1)."""

from __future__ import annotations

import pytest
from defusedxml.ElementTree import fromstring
from hypothesis import given
from hypothesis import strategies as st

from tests.mp import vectors as v
from weixin_gateway.mp.errors import PayloadTooLargeError, XmlError
from weixin_gateway.mp.xml import Plain, build_xml, cdata, parse_xml, xml_safe_text


def test_parses_v1_plaintext_flat() -> None:
    assert parse_xml(v.V1_PLAINTEXT.encode()) == {
        "ToUserName": "gh_10f6c3c3ac5a",
        "FromUserName": "oia2TjjewbmiOUlr6X-1crbLOvLw",
        "CreateTime": "1409304348",
        "MsgType": "text",
        "Content": "hello 你好",
        "MsgId": "6054768590064713728",
    }


def test_cdata_and_plain_text_read_the_same_and_empties_are_empty() -> None:
    xml = "<xml><A><![CDATA[x]]></A><B>x</B><C/><D></D><E><![CDATA[]]></E><F>a&amp;b</F></xml>"
    assert parse_xml(xml) == {"A": "x", "B": "x", "C": "", "D": "", "E": "", "F": "a&b"}


def test_whitespace_inside_values_is_kept() -> None:
    assert parse_xml("<xml><Content><![CDATA[ a\n b ]]></Content></xml>") == {"Content": " a\n b "}


def test_nested_and_repeated_elements() -> None:
    xml = """<xml>
      <SendPicsInfo><Count>2</Count>
        <PicList><item><PicMd5Sum><![CDATA[aaa]]></PicMd5Sum></item>
                 <item><PicMd5Sum><![CDATA[bbb]]></PicMd5Sum></item></PicList>
      </SendPicsInfo>
      <ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType><ScanResult>1</ScanResult></ScanCodeInfo>
      <Tag>a</Tag><Tag>b</Tag><Tag>c</Tag>
    </xml>"""
    assert parse_xml(xml) == {
        "SendPicsInfo": {
            "Count": "2",
            "PicList": {"item": [{"PicMd5Sum": "aaa"}, {"PicMd5Sum": "bbb"}]},
        },
        "ScanCodeInfo": {"ScanType": "qrcode", "ScanResult": "1"},
        "Tag": ["a", "b", "c"],
    }


def test_item_and_list_are_always_arrays() -> None:
    xml = (
        "<xml><PicList><item><PicMd5Sum>a</PicMd5Sum></item></PicList>"
        "<SubscribeMsgPopupEvent><List><TemplateId>t</TemplateId></List></SubscribeMsgPopupEvent>"
        "</xml>"
    )
    assert parse_xml(xml) == {
        "PicList": {"item": [{"PicMd5Sum": "a"}]},
        "SubscribeMsgPopupEvent": {"List": [{"TemplateId": "t"}]},
    }


def test_comments_and_processing_instructions_are_ignored() -> None:
    xml = '<?xml version="1.0" encoding="UTF-8"?><xml><!-- c --><A>1</A><?pi x?></xml>'
    assert parse_xml(xml.encode()) == {"A": "1"}


def test_declared_encodings() -> None:
    latin = '<?xml version="1.0" encoding="ISO-8859-1"?><xml><A>caf\xe9</A></xml>'
    assert parse_xml(latin.encode("latin-1")) == {"A": "caf\xe9"}
    # expat cannot read multi-byte legacy encodings; that is a clean error, not a crash
    gbk = '<?xml version="1.0" encoding="GBK"?><xml><A>你好</A></xml>'.encode("gbk")
    with pytest.raises(XmlError):
        parse_xml(gbk)


# ----------------------------------------------------------------------------- attacks

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><Content>&lol3;</Content></xml>"""
XXE_FILE = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Content>&xxe;</Content></xml>"""
XXE_PARAMETER = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd"> %p;]><xml/>"""
DOCTYPE_ONLY = '<!DOCTYPE xml SYSTEM "http://127.0.0.1:1/x.dtd"><xml><A>1</A></xml>'
DOCTYPE_INTERNAL = "<!DOCTYPE xml []><xml><A>1</A></xml>"


@pytest.mark.parametrize(
    "body",
    [BILLION_LAUGHS, XXE_FILE, XXE_PARAMETER, DOCTYPE_ONLY, DOCTYPE_INTERNAL],
    ids=["billion-laughs", "xxe-file", "xxe-parameter", "doctype-system", "doctype-internal"],
)
def test_dtd_and_entities_are_refused(body: str) -> None:
    with pytest.raises(XmlError, match="forbidden"):
        parse_xml(body.encode())


def test_oversize_is_refused_before_parsing() -> None:
    body = b"<xml><A>" + b"x" * 2000 + b"</A></xml>"
    with pytest.raises(PayloadTooLargeError) as info:
        parse_xml(body, max_size=1024)
    assert info.value.limit == 1024
    assert info.value.size == len(body)
    assert parse_xml(body, max_size=4096)["A"] == "x" * 2000


def test_default_cap_is_one_mebibyte() -> None:
    with pytest.raises(PayloadTooLargeError):
        parse_xml(b"<xml><A>" + b"x" * (1024 * 1024) + b"</A></xml>")


def test_depth_is_capped() -> None:
    deep = "<xml>" + "<a>" * 40 + "x" + "</a>" * 40 + "</xml>"
    with pytest.raises(XmlError, match="deeper"):
        parse_xml(deep)
    assert parse_xml(deep, max_depth=64)


def test_d8_root_other_than_xml_is_an_error_not_a_crash() -> None:
    """D8: a well-formed body whose root is not ``<xml>`` killed go-wx-gateway's process."""
    for body in ("<root><MsgType>text</MsgType></root>", "<XML><A>1</A></XML>", "<a/>"):
        with pytest.raises(XmlError, match="root element"):
            parse_xml(body)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<xml>",
        b"<xml><A></xml>",
        b"<xml/><xml/>",
        b"\xff\xfe<",
        b"{}",
        b"<xml>&bogus;</xml>",
    ],
)
def test_malformed_is_refused(body: bytes) -> None:
    with pytest.raises(XmlError):
        parse_xml(body)


# ----------------------------------------------------------------------------- builder


def test_cdata_splits_the_terminator() -> None:
    """D3: go-wx-gateway put ``]]>`` into CDATA unescaped and produced malformed XML."""
    assert cdata("a]]>b") == "<![CDATA[a]]]]><![CDATA[>b]]>"
    body = build_xml({"Content": "x]]><evil/>]]>y"})
    fromstring(body)  # well-formed
    assert parse_xml(body) == {"Content": "x]]><evil/>]]>y"}


def test_builder_writes_ints_plain_and_strings_as_cdata() -> None:
    body = build_xml(
        {
            "ToUserName": "u",
            "CreateTime": 1409304350,
            "ArticleCount": 2,
            "TimeStamp": Plain("1<2"),
            "Skipped": None,
            "Articles": {"item": [{"Title": "a"}, {"Title": "b"}]},
        }
    )
    assert body == (
        "<xml><ToUserName><![CDATA[u]]></ToUserName><CreateTime>1409304350</CreateTime>"
        "<ArticleCount>2</ArticleCount><TimeStamp>1&lt;2</TimeStamp>"
        "<Articles><item><Title><![CDATA[a]]></Title></item>"
        "<item><Title><![CDATA[b]]></Title></item></Articles></xml>"
    )


def test_builder_separator() -> None:
    assert build_xml({"A": 1, "B": {"C": 2}}, separator="\n") == (
        "<xml>\n<A>1</A>\n<B>\n<C>2</C>\n</B>\n</xml>"
    )


@pytest.mark.parametrize("name", ["", "1abc", "a b", "a<b", "a>b", "a&b", "é"])
def test_builder_refuses_bad_names(name: str) -> None:
    with pytest.raises(ValueError, match="element name"):
        build_xml({name: "x"})


def test_builder_refuses_what_has_no_xml_form() -> None:
    with pytest.raises(TypeError):
        build_xml({"A": True})
    with pytest.raises(TypeError):
        build_xml({"A": [["nested"]]})
    with pytest.raises(TypeError):
        build_xml({"A": 1.5})  # type: ignore[dict-item]


def test_illegal_characters_are_dropped() -> None:
    assert xml_safe_text("a\x00b\x01c\x08d\x0be\x1ff\ufffeg\ud800h\tI\nJ") == "abcdefgh\tI\nJ"
    body = build_xml({"A": "x\x00y\x1b", "B": Plain("\x07z")})
    assert parse_xml(body) == {"A": "xy", "B": "z"}


XML_CHARS = st.characters(codec="utf-8", exclude_characters="\r")
TAGS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(
    lambda t: t not in ("item", "List")
)


def _normalise(text: str) -> str:
    return xml_safe_text(text).replace("\r\n", "\n").replace("\r", "\n")


@given(st.text())
def test_any_text_gives_well_formed_xml(text: str) -> None:
    body = build_xml({"Content": text, "Nested": {"item": [text, text]}})
    fromstring(body.encode("utf-8"))
    parsed = parse_xml(body.encode("utf-8"))
    assert parsed["Content"] == _normalise(text)
    assert parsed["Nested"] == {"item": [_normalise(text)] * 2}


@given(st.dictionaries(TAGS, st.text(XML_CHARS) | st.integers(), max_size=8))
def test_build_parse_round_trip(fields: dict[str, str | int]) -> None:
    body = build_xml(fields)
    assert parse_xml(body) == {
        k: (str(val) if isinstance(val, int) else xml_safe_text(val)) for k, val in fields.items()
    }


@given(st.text(alphabet="]>[<!CDATA&x\u4f60\U0001f600", max_size=40))
def test_terminator_heavy_text_round_trips(text: str) -> None:
    assert parse_xml(build_xml({"A": text})) == {"A": text}
