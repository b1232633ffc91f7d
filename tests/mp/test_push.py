"""§3 catalogue → forward path and JSON body (§6.4, §6.5), dedupe keys (§4.4), shop events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.mp import vectors as v
from weixin_gateway.mp.envelope import PushQuery, open_push
from weixin_gateway.mp.errors import PayloadError
from weixin_gateway.mp.push import (
    Push,
    append_user_info,
    encode_forward_body,
    forward_body,
    parse_push,
)
from weixin_gateway.mp.xml import parse_xml

TS = 1700000000


def push_xml(msg_type: str, inner: str) -> bytes:
    return (
        "<xml><ToUserName><![CDATA[gh_abc]]></ToUserName>"
        "<FromUserName><![CDATA[oUser]]></FromUserName>"
        f"<CreateTime>{TS}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
        f"{inner}</xml>"
    ).encode()


def event_xml(event: str, inner: str = "") -> bytes:
    return push_xml("event", f"<Event><![CDATA[{event}]]></Event>{inner}")


def header(msg_type: str) -> dict[str, Any]:
    return {"ToUserName": "gh_abc", "FromUserName": "oUser", "CreateTime": TS, "MsgType": msg_type}


def ev(event: str) -> dict[str, Any]:
    return {**header("event"), "Event": event}


def parse(body: bytes) -> Push:
    return parse_push(parse_xml(body))


# (id, XML, forward path, expected body; dict order is checked too)
MESSAGES: list[tuple[str, bytes, str, dict[str, Any]]] = [
    (
        "text",
        push_xml("text", "<Content><![CDATA[hi]]></Content><MsgId>1234567890123456789</MsgId>"),
        "/msg/text",
        {**header("text"), "MsgId": "1234567890123456789", "Content": "hi"},
    ),
    (
        "text-from-article",
        push_xml(
            "text",
            "<Content><![CDATA[hi]]></Content><MsgId>1</MsgId>"
            "<MsgDataId>2247483</MsgDataId><Idx>1</Idx>",
        ),
        "/msg/text",
        {**header("text"), "MsgId": "1", "Content": "hi", "MsgDataId": "2247483", "Idx": "1"},
    ),
    (
        "image",
        push_xml(
            "image",
            "<PicUrl><![CDATA[http://p/1.jpg]]></PicUrl><MediaId><![CDATA[m1]]></MediaId>"
            "<MsgId>2</MsgId>",
        ),
        "/msg/image",
        {**header("image"), "MsgId": "2", "PicUrl": "http://p/1.jpg", "MediaId": "m1"},
    ),
    (
        "voice",
        push_xml(
            "voice",
            "<MediaId><![CDATA[m2]]></MediaId><Format><![CDATA[amr]]></Format>"
            "<Recognition><![CDATA[你好]]></Recognition><MsgId>3</MsgId>"
            "<MediaId16K><![CDATA[m16]]></MediaId16K>",
        ),
        "/msg/voice",
        {
            **header("voice"),
            "MsgId": "3",
            "MediaId": "m2",
            "Format": "amr",
            "Recognition": "你好",
            "MediaId16K": "m16",
        },
    ),
    (
        "voice-without-recognition",
        push_xml("voice", "<MediaId>m</MediaId><Format>speex</Format><MsgId>4</MsgId>"),
        "/msg/voice",
        {**header("voice"), "MsgId": "4", "MediaId": "m", "Format": "speex", "Recognition": ""},
    ),
    (
        "video",
        push_xml(
            "video",
            "<MediaId><![CDATA[v1]]></MediaId><ThumbMediaId><![CDATA[t1]]></ThumbMediaId>"
            "<MsgId>5</MsgId>",
        ),
        "/msg/video",
        {**header("video"), "MsgId": "5", "MediaId": "v1", "ThumbMediaId": "t1"},
    ),
    (
        "shortvideo",
        push_xml(
            "shortvideo", "<MediaId>v2</MediaId><ThumbMediaId>t2</ThumbMediaId><MsgId>6</MsgId>"
        ),
        "/msg/shortvideo",
        {**header("shortvideo"), "MsgId": "6", "MediaId": "v2", "ThumbMediaId": "t2"},
    ),
    (
        "location",
        push_xml(
            "location",
            "<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y>"
            "<Scale>20</Scale><Label><![CDATA[位置信息]]></Label><MsgId>7</MsgId>",
        ),
        "/msg/location",
        {
            **header("location"),
            "MsgId": "7",
            "Location_X": "23.134521",
            "Location_Y": "113.358803",
            "Scale": 20,
            "Label": "位置信息",
        },
    ),
    (
        "location-fractional-scale",
        push_xml("location", "<Location_X>1</Location_X><Scale>15.5</Scale><MsgId>8</MsgId>"),
        "/msg/location",
        {
            **header("location"),
            "MsgId": "8",
            "Location_X": "1",
            "Location_Y": "",
            "Scale": 0,  # Go's strconv.Atoi fails -> 0
            "Label": "",
        },
    ),
    (
        "link",
        push_xml(
            "link",
            "<Title><![CDATA[t]]></Title><Description><![CDATA[d]]></Description>"
            "<Url><![CDATA[http://u]]></Url><MsgId>9</MsgId>",
        ),
        "/msg/link",
        {**header("link"), "MsgId": "9", "Title": "t", "Description": "d", "Url": "http://u"},
    ),
    (
        "file-unknown-to-oa",
        push_xml(
            "file",
            "<Title><![CDATA[a.pdf]]></Title><FileKey>k</FileKey><FileTotalLen>12</FileTotalLen>"
            "<MsgId>10</MsgId>",
        ),
        "/msg/file",
        {**header("file"), "Title": "a.pdf", "FileKey": "k", "FileTotalLen": "12", "MsgId": "10"},
    ),
    (
        "miniprogrampage",
        push_xml(
            "miniprogrampage",
            "<MsgId>11</MsgId><AppId><![CDATA[wxapp]]></AppId><PagePath>pages/i</PagePath>",
        ),
        "/msg/miniprogrampage",
        {**header("miniprogrampage"), "MsgId": "11", "AppId": "wxapp", "PagePath": "pages/i"},
    ),
    (
        "any-future-type",
        push_xml("hologram", "<Beam><Colour>blue</Colour></Beam>"),
        "/msg/hologram",
        {**header("hologram"), "Beam": {"Colour": "blue"}},
    ),
]

MASS = event_xml(
    "MASSSENDJOBFINISH",
    "<MsgID>1000001625</MsgID><Status><![CDATA[err(30003)]]></Status>"
    "<TotalCount>0</TotalCount><FilterCount>0</FilterCount><SentCount>0</SentCount>"
    "<ErrorCount>0</ErrorCount><CopyrightCheckResult><Count>2</Count><ResultList><item>"
    "<ArticleIdx>1</ArticleIdx><UserDeclareState>0</UserDeclareState><AuditState>2</AuditState>"
    "<OriginalArticleUrl><![CDATA[Url_1]]></OriginalArticleUrl>"
    "<OriginalArticleType>1</OriginalArticleType><CanReprint>1</CanReprint>"
    "<NeedReplaceContent>1</NeedReplaceContent><NeedShowReprintSource>1</NeedShowReprintSource>"
    "</item></ResultList><CheckState>2</CheckState></CopyrightCheckResult>"
    "<ArticleUrlResult><Count>1</Count><ResultList><item><ArticleIdx>1</ArticleIdx>"
    "<ArticleUrl><![CDATA[https://mp/s/1]]></ArticleUrl></item></ResultList></ArticleUrlResult>",
)

EVENTS: list[tuple[str, bytes, str, dict[str, Any]]] = [
    (
        "subscribe",
        event_xml("subscribe", "<EventKey><![CDATA[]]></EventKey>"),
        "/event/subscribe",
        {**ev("subscribe"), "EventKey": "", "Ticket": ""},
    ),
    (
        "subscribe-qrscene",
        event_xml(
            "subscribe",
            "<EventKey><![CDATA[qrscene_123123]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket>",
        ),
        "/event/subscribe",
        {**ev("subscribe"), "EventKey": "qrscene_123123", "Ticket": "TICKET"},
    ),
    (
        "unsubscribe",
        event_xml("unsubscribe"),
        "/event/unsubscribe",
        {**ev("unsubscribe"), "EventKey": "", "Ticket": ""},
    ),
    (
        "SCAN",
        event_xml("SCAN", "<EventKey>123123</EventKey><Ticket>TICKET</Ticket>"),
        "/event/SCAN",
        {**ev("SCAN"), "EventKey": "123123", "Ticket": "TICKET"},
    ),
    (
        "LOCATION",
        event_xml(
            "LOCATION",
            "<Latitude>23.137466</Latitude><Longitude>113.352425</Longitude>"
            "<Precision>119.385040</Precision>",
        ),
        "/event/LOCATION",
        {
            **ev("LOCATION"),
            "Latitude": "23.137466",
            "Longitude": "113.352425",
            "Precision": "119.385040",
        },
    ),
    (
        "CLICK",
        event_xml("CLICK", "<EventKey><![CDATA[V1001_TODAY_MUSIC]]></EventKey>"),
        "/event/CLICK",
        {**ev("CLICK"), "EventKey": "V1001_TODAY_MUSIC"},
    ),
    (
        "VIEW",
        event_xml("VIEW", "<EventKey><![CDATA[http://www.qq.com/]]></EventKey><MenuId>7</MenuId>"),
        "/event/VIEW",
        {**ev("VIEW"), "EventKey": "http://www.qq.com/", "MenuId": "7"},
    ),
    (
        "VIEW-without-menu",
        event_xml("VIEW", "<EventKey>http://x/</EventKey>"),
        "/event/VIEW",
        {**ev("VIEW"), "EventKey": "http://x/", "MenuId": ""},
    ),
    (
        "view_miniprogram",
        event_xml("view_miniprogram", "<EventKey>pages/index</EventKey><MenuId>8</MenuId>"),
        "/event/view_miniprogram",
        {**ev("view_miniprogram"), "EventKey": "pages/index", "MenuId": "8"},
    ),
    (
        "scancode_push",
        event_xml(
            "scancode_push",
            "<EventKey>6</EventKey><ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>"
            "<ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo>",
        ),
        "/event/scancode_push",
        {**ev("scancode_push"), "EventKey": "6", "ScanType": "qrcode", "ScanResult": "1"},
    ),
    (
        "scancode_waitmsg",
        event_xml(
            "scancode_waitmsg",
            "<EventKey>6</EventKey><ScanCodeInfo><ScanType>barcode</ScanType>"
            "<ScanResult>EAN_13,6901</ScanResult></ScanCodeInfo>",
        ),
        "/event/scancode_waitmsg",
        {
            **ev("scancode_waitmsg"),
            "EventKey": "6",
            "ScanType": "barcode",
            "ScanResult": "EAN_13,6901",
        },
    ),
    *[
        (
            name,
            event_xml(
                name,
                "<EventKey>6</EventKey><SendPicsInfo><Count>2</Count><PicList>"
                "<item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum></item>"
                "<item><PicMd5Sum>aa</PicMd5Sum></item></PicList></SendPicsInfo>",
            ),
            f"/event/{name}",
            {
                **ev(name),
                "EventKey": "6",
                "Count": 2,
                "PicList": ["1b5f7c23b5bf75682a53e7b6d163e185", "aa"],
            },
        )
        for name in ("pic_sysphoto", "pic_photo_or_album", "pic_weixin")
    ],
    (
        "pic-none",
        event_xml(
            "pic_weixin",
            "<EventKey>6</EventKey><SendPicsInfo><Count>0</Count>"
            "<PicList></PicList></SendPicsInfo>",
        ),
        "/event/pic_weixin",
        {**ev("pic_weixin"), "EventKey": "6", "Count": 0, "PicList": None},
    ),
    (
        "pic-single-item-is-a-list",
        event_xml(
            "pic_sysphoto",
            "<EventKey>6</EventKey><SendPicsInfo><Count>1</Count>"
            "<PicList><item><PicMd5Sum>zz</PicMd5Sum></item></PicList></SendPicsInfo>",
        ),
        "/event/pic_sysphoto",
        {**ev("pic_sysphoto"), "EventKey": "6", "Count": 1, "PicList": ["zz"]},
    ),
    (
        "location_select",
        event_xml(
            "location_select",
            "<EventKey>6</EventKey><SendLocationInfo><Location_X>23</Location_X>"
            "<Location_Y>113</Location_Y><Scale>15</Scale><Label><![CDATA[广州]]></Label>"
            "<Poiname><![CDATA[]]></Poiname></SendLocationInfo>",
        ),
        "/event/location_select",
        {
            **ev("location_select"),
            "EventKey": "6",
            "Location_X": "23",
            "Location_Y": "113",
            "Scale": 15,
            "Label": "广州",
            "Poiname": "",
        },
    ),
    (
        "location-literal-go-compat",
        event_xml(
            "location",
            "<Location_X>23</Location_X><Location_Y>113</Location_Y><Scale>15</Scale>"
            "<Label>L</Label><MsgId>12</MsgId>",
        ),
        "/event/location",
        {
            **ev("location"),
            "Location_X": "23",
            "Location_Y": "113",
            "Scale": 15,
            "Label": "L",
            "MsgId": "12",
        },
    ),
    (
        "MASSSENDJOBFINISH",
        MASS,
        "/event/MASSSENDJOBFINISH",
        {
            **ev("MASSSENDJOBFINISH"),
            "MsgID": "1000001625",
            "Status": "err(30003)",
            "TotalCount": 0,
            "FilterCount": 0,
            "SentCount": 0,
            "ErrorCount": 0,
            "ResultCount": 2,
            "ResultList": [
                {
                    "ArticleIdx": "1",
                    "UserDeclareState": "0",
                    "AuditState": "2",
                    "OriginalArticleUrl": "Url_1",
                    "OriginalArticleType": "1",
                    "CanReprint": "1",
                    "NeedReplaceContent": "1",
                    "NeedShowReprintSource": "1",
                }
            ],
            "CheckState": "2",
            "ArticleUrlResult": {
                "Count": "1",
                "ResultList": {"item": [{"ArticleIdx": "1", "ArticleUrl": "https://mp/s/1"}]},
            },
        },
    ),
    (
        "TEMPLATESENDJOBFINISH",
        event_xml("TEMPLATESENDJOBFINISH", "<MsgID>200163836</MsgID><Status>success</Status>"),
        "/event/TEMPLATESENDJOBFINISH",
        {**ev("TEMPLATESENDJOBFINISH"), "MsgId": "200163836", "Status": "success"},
    ),
    (
        "subscribe_msg_popup_event",
        event_xml(
            "subscribe_msg_popup_event",
            "<SubscribeMsgPopupEvent><List><TemplateId>VRR0</TemplateId>"
            "<SubscribeStatusString>accept</SubscribeStatusString><PopupScene>2</PopupScene>"
            "</List><List><TemplateId>9nLI</TemplateId>"
            "<SubscribeStatusString>reject</SubscribeStatusString><PopupScene>2</PopupScene>"
            "</List></SubscribeMsgPopupEvent>",
        ),
        "/event/subscribe_msg_popup_event",
        {
            **ev("subscribe_msg_popup_event"),
            "SubscribeMsgPopupEvent": {
                "List": [
                    {"TemplateId": "VRR0", "SubscribeStatusString": "accept", "PopupScene": "2"},
                    {"TemplateId": "9nLI", "SubscribeStatusString": "reject", "PopupScene": "2"},
                ]
            },
        },
    ),
    (
        "subscribe_msg_change_event",
        event_xml(
            "subscribe_msg_change_event",
            "<SubscribeMsgChangeEvent><List><TemplateId>VRR0</TemplateId>"
            "<SubscribeStatusString>reject</SubscribeStatusString></List></SubscribeMsgChangeEvent>",
        ),
        "/event/subscribe_msg_change_event",
        {
            **ev("subscribe_msg_change_event"),
            "SubscribeMsgChangeEvent": {
                "List": [{"TemplateId": "VRR0", "SubscribeStatusString": "reject"}]
            },
        },
    ),
    (
        "subscribe_msg_sent_event",
        event_xml(
            "subscribe_msg_sent_event",
            "<SubscribeMsgSentEvent><List><TemplateId>VRR0</TemplateId><MsgID>1700827132819554304"
            "</MsgID><ErrorCode>0</ErrorCode><ErrorStatus>success</ErrorStatus></List>"
            "</SubscribeMsgSentEvent>",
        ),
        "/event/subscribe_msg_sent_event",
        {
            **ev("subscribe_msg_sent_event"),
            "SubscribeMsgSentEvent": {
                "List": [
                    {
                        "TemplateId": "VRR0",
                        "MsgID": "1700827132819554304",
                        "ErrorCode": "0",
                        "ErrorStatus": "success",
                    }
                ]
            },
        },
    ),
    (
        "kf_create_session",
        event_xml("kf_create_session", "<KfAccount><![CDATA[test1@test]]></KfAccount>"),
        "/event/kf_create_session",
        {**ev("kf_create_session"), "KfAccount": "test1@test"},
    ),
    (
        "kf_switch_session",
        event_xml(
            "kf_switch_session",
            "<FromKfAccount>test1@test</FromKfAccount><ToKfAccount>test2@test</ToKfAccount>",
        ),
        "/event/kf_switch_session",
        {**ev("kf_switch_session"), "FromKfAccount": "test1@test", "ToKfAccount": "test2@test"},
    ),
    (
        "unknown-event",
        event_xml("some_future_event", "<Payload><A>1</A><A>2</A></Payload>"),
        "/event/some_future_event",
        {**ev("some_future_event"), "Payload": {"A": ["1", "2"]}},
    ),
]


@pytest.mark.parametrize(
    ("body", "path", "expected"),
    [(b, p, e) for _, b, p, e in MESSAGES + EVENTS],
    ids=[name for name, *_ in MESSAGES + EVENTS],
)
def test_forward_path_and_body(body: bytes, path: str, expected: dict[str, Any]) -> None:
    push = parse(body)
    assert push.forward_path == path
    got = forward_body(push)
    assert got == expected
    assert list(got) == list(expected), "key order follows go-wx-gateway's structs"
    json.loads(encode_forward_body(got))


def test_d1_click_goes_to_event_click() -> None:
    """D1: go-wx-gateway posted CLICK to ``/event/event`` (its README promises /event/CLICK)."""
    push = parse(event_xml("CLICK", "<EventKey>K</EventKey>"))
    assert push.forward_path == "/event/CLICK"
    assert push.forward_paths() == ("/event/CLICK",)
    assert push.forward_paths(legacy_click_path=True) == ("/event/CLICK", "/event/event")
    # the legacy flag changes nothing for other events
    other = parse(event_xml("VIEW", "<EventKey>K</EventKey>"))
    assert other.forward_paths(legacy_click_path=True) == ("/event/VIEW",)


def test_d2_video_is_forwarded() -> None:
    """D2: go-wx-gateway dropped ``video`` messages although it parsed them."""
    push = parse(
        push_xml("video", "<MediaId>m</MediaId><ThumbMediaId>t</ThumbMediaId><MsgId>1</MsgId>")
    )
    assert push.forward_path == "/msg/video"
    assert forward_body(push)["MediaId"] == "m"


@pytest.mark.parametrize(
    ("msg_type", "event"),
    [
        ("file", None),
        ("miniprogrampage", None),
        ("event", "location_select"),
        ("event", "view_miniprogram"),
        ("event", "subscribe_msg_popup_event"),
        ("event", "kf_close_session"),
        ("event", "card_pass_check"),
        ("event", "WifiConnected"),
    ],
)
def test_d7_unknown_types_and_events_are_forwarded_not_swallowed(
    msg_type: str, event: str | None
) -> None:
    """D7: go-wx-gateway answered ``success`` without forwarding anything it did not know."""
    body = event_xml(event, "<X>1</X>") if event else push_xml(msg_type, "<X>1</X>")
    push = parse(body)
    assert push.forward_path == (f"/event/{event}" if event else f"/msg/{msg_type}")
    assert forward_body(push)["X"] == "1"


def test_d11_location_select_is_read_from_send_location_info() -> None:
    """D11: go-wx-gateway listened for a non-existent ``location`` event and dropped the real
    ``location_select``; the literal ``location`` event keeps its old top-level shape."""
    select = forward_body(parse(EVENTS_BY_NAME["location_select"]))
    assert (select["Location_X"], select["Label"]) == ("23", "广州")
    literal = forward_body(parse(EVENTS_BY_NAME["location-literal-go-compat"]))
    assert (literal["Location_X"], literal["MsgId"]) == ("23", "12")


def test_d12_masssend_result_list_is_not_padded_and_keeps_check_state() -> None:
    """D12: Count=2 with one item gave ``[item, {}]``; CheckState and ArticleUrlResult were lost."""
    body = forward_body(parse(MASS))
    assert body["ResultCount"] == 2
    assert isinstance(body["ResultList"], list)
    assert len(body["ResultList"]) == 1
    assert body["CheckState"] == "2"
    assert body["ArticleUrlResult"] is not None


def test_masssend_without_copyright_check() -> None:
    body = forward_body(
        parse(event_xml("MASSSENDJOBFINISH", "<MsgID>1</MsgID><Status>ok</Status>"))
    )
    assert body["ResultCount"] == 0
    assert body["ResultList"] is None
    assert body["CheckState"] == ""
    assert body["ArticleUrlResult"] is None
    assert body["TotalCount"] == 0


EVENTS_BY_NAME = {name: body for name, body, *_ in EVENTS}


# ----------------------------------------------------------------------------- record


def test_v1_through_the_whole_pipeline() -> None:
    opened = open_push(
        v.V1_BODY,
        PushQuery.from_mapping(v.V1_QUERY),
        token=v.V1_TOKEN,
        crypto=_v1_crypto(),
        now=int(v.V1_TIMESTAMP),
    )
    push = parse_push(opened.fields)
    assert push.msg_id == 6054768590064713728  # exact, beyond 2**53
    assert push.create_time == 1409304348
    assert (push.from_user, push.to_user) == ("oia2TjjewbmiOUlr6X-1crbLOvLw", "gh_10f6c3c3ac5a")
    assert push.kind == "msg"
    assert push.event is None
    body = forward_body(push)
    assert body == {
        "ToUserName": "gh_10f6c3c3ac5a",
        "FromUserName": "oia2TjjewbmiOUlr6X-1crbLOvLw",
        "CreateTime": 1409304348,
        "MsgType": "text",
        "MsgId": "6054768590064713728",
        "Content": "hello 你好",
    }


def _v1_crypto() -> Any:
    from weixin_gateway.mp.crypto import MsgCrypto

    return MsgCrypto(token=v.V1_TOKEN, encoding_aes_key=v.V1_KEY, app_id=v.V1_APPID)


def test_event_record_fields() -> None:
    push = parse(event_xml("subscribe", "<EventKey>qrscene_1</EventKey><Ticket>T</Ticket>"))
    assert push.kind == "event"
    assert push.event == "subscribe"
    assert push.event_key == "qrscene_1"
    assert push.msg_id is None
    assert push.max_news_articles == 8
    assert not push.is_user_message


def test_messages_allow_one_news_article() -> None:
    assert parse(MESSAGES[0][1]).max_news_articles == 1
    assert parse(MESSAGES[0][1]).is_user_message


@pytest.mark.parametrize(
    ("create_time", "expected"), [("", 0), ("abc", 0), ("1.5", 0), ("+12", 12), ("-1", -1)]
)
def test_create_time_like_go(create_time: str, expected: int) -> None:
    body = (
        "<xml><MsgType>text</MsgType>"
        f"<CreateTime>{create_time}</CreateTime><Content>x</Content></xml>"
    )
    push = parse(body.encode())
    assert push.create_time == expected
    assert forward_body(push)["CreateTime"] == expected


def test_missing_header_fields_are_empty_strings() -> None:
    push = parse(b"<xml><MsgType>text</MsgType></xml>")
    assert forward_body(push) == {
        "ToUserName": "",
        "FromUserName": "",
        "CreateTime": 0,
        "MsgType": "text",
        "MsgId": "",
        "Content": "",
    }


@pytest.mark.parametrize(
    "body",
    [b"<xml><Content>x</Content></xml>", b"<xml><MsgType></MsgType></xml>",
     b"<xml><MsgType>event</MsgType></xml>", b"<xml><MsgType>event</MsgType><Event/></xml>",
     b"<xml><MsgType><a>1</a></MsgType></xml>"],
)  # fmt: skip
def test_unforwardable_pushes_are_payload_errors(body: bytes) -> None:
    with pytest.raises(PayloadError):
        parse(body)


@pytest.mark.parametrize(
    ("msg_type", "event", "path"),
    [
        ("a b", None, "/msg/a%20b"),
        ("../admin", None, "/msg/..%2Fadmin"),
        ("event", "x/../../y", "/event/x%2F..%2F..%2Fy"),
        ("event", "q?x#y", "/event/q%3Fx%23y"),
        ("event", "事件", "/event/%E4%BA%8B%E4%BB%B6"),
        ("event", "scan_code-v2.x~", "/event/scan_code-v2.x~"),
    ],
)
def test_names_that_are_not_tokens_are_percent_encoded(
    msg_type: str, event: str | None, path: str
) -> None:
    body = event_xml(event) if event else push_xml(msg_type, "")
    assert parse(body).forward_path == path


def test_forward_url_is_a_plain_prefix() -> None:
    push = parse(MESSAGES[0][1])
    assert push.forward_url("http://wx.myhost.com/msghandler") == (
        "http://wx.myhost.com/msghandler/msg/text"
    )
    assert push.forward_url("http://h/") == "http://h//msg/text"  # no normalisation, as in Go


def test_case_is_kept_verbatim() -> None:
    assert parse(event_xml("click")).forward_path == "/event/click"
    assert parse(push_xml("TEXT", "")).forward_path == "/msg/TEXT"
    assert parse(push_xml("EVENT", "")).forward_path == "/msg/EVENT"  # only "event" is an event


# ----------------------------------------------------------------------------- dedupe


def test_dedupe_keys() -> None:
    text = parse(MESSAGES[0][1])
    assert text.dedupe_key("wxA") == ("wxA", "msg", "oUser", "1234567890123456789")
    assert text.dedupe_key("wxA") != text.dedupe_key("wxB")

    no_id = parse(push_xml("text", "<Content>x</Content>"))
    assert no_id.dedupe_key("wxA") == ("wxA", "msg", "oUser", str(TS), "text")

    click = parse(event_xml("CLICK", "<EventKey>K</EventKey>"))
    assert click.dedupe_key("wxA") == ("wxA", "event", "oUser", str(TS), "CLICK", "K")

    job = parse(event_xml("TEMPLATESENDJOBFINISH", "<MsgID>42</MsgID>"))
    assert job.dedupe_key("wxA") == ("wxA", "job", "TEMPLATESENDJOBFINISH", "42")
    mass = parse(MASS)
    assert mass.dedupe_key("wxA") == ("wxA", "job", "MASSSENDJOBFINISH", "1000001625")


def test_retries_share_a_key_and_distinct_pushes_do_not() -> None:
    first = parse(event_xml("CLICK", "<EventKey>K</EventKey>"))
    again = parse(event_xml("CLICK", "<EventKey>K</EventKey>"))
    other = parse(event_xml("CLICK", "<EventKey>L</EventKey>"))
    assert first.dedupe_key("a") == again.dedupe_key("a")
    assert first.dedupe_key("a") != other.dedupe_key("a")


def test_d32_user_info_is_not_wanted_for_system_pushes() -> None:
    """D32: go-wx-gateway called user/info for every push, job events and unsubscribe too."""
    assert parse(MESSAGES[0][1]).wants_user_info
    assert parse(event_xml("subscribe")).wants_user_info
    assert not parse(event_xml("unsubscribe")).wants_user_info
    assert not parse(MASS).wants_user_info
    assert not parse(event_xml("TEMPLATESENDJOBFINISH")).wants_user_info
    assert parse(event_xml("subscribe_msg_sent_event")).wants_user_info


# ------------------------------------------------------------------------ Channels shop

BIG_ORDER = 3705115058471208928  # > 2**53: a float would corrupt it


def shop(event: str, payload: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "ToUserName": "gh_shop",
            "FromUserName": "oBuyer",
            "CreateTime": 1658509200,
            "MsgType": "event",
            "Event": event,
            **payload,
        }
    ).encode()


def open_shop(body: bytes) -> Push:
    opened = open_push(
        body,
        PushQuery(signature=_sig("t"), timestamp="1", nonce="n"),
        token="t",
        crypto=None,
        now=1,
        channels_ec=True,
    )
    return parse_push(opened.fields, channels_ec=True)


def _sig(token: str) -> str:
    from weixin_gateway.mp.signature import url_signature

    return url_signature(token, "1", "n")


SHOP_HEADER = {
    "ToUserName": "gh_shop",
    "FromUserName": "oBuyer",
    "CreateTime": 1658509200,
    "MsgType": "event",
}


def test_shop_order_pay_keeps_the_order_id_exact() -> None:
    push = open_shop(
        shop(
            "channels_ec_order_pay", {"order_info": {"order_id": BIG_ORDER, "pay_time": 1658509200}}
        )
    )
    assert push.forward_path == "/event/channels_ec_order_pay"
    body = forward_body(push)
    assert body == {
        **SHOP_HEADER,
        "Event": "channels_ec_order_pay",
        "order_info": {"order_id": BIG_ORDER, "pay_time": 1658509200},
    }
    encoded = encode_forward_body(body)
    assert b'"order_id":3705115058471208928' in encoded
    assert json.loads(encoded)["order_info"]["order_id"] == BIG_ORDER
    assert "userInfo" not in body
    assert not push.wants_user_info


def test_d27_shop_order_id_as_a_string_is_accepted() -> None:
    """D27: go-wx-gateway dropped shop events whose order_id came as a JSON string."""
    push = open_shop(
        shop(
            "channels_ec_order_cancel",
            {"order_info": {"order_id": str(BIG_ORDER), "cancel_type": 1}},
        )
    )
    assert forward_body(push)["order_info"] == {"order_id": BIG_ORDER, "cancel_type": 1}


def test_d27_shop_events_go_wx_gateway_dropped_are_forwarded() -> None:
    """D27: only 5 shop events were forwarded; order_new, product and store events were not."""
    push = open_shop(shop("channels_ec_order_new", {"order_info": {"order_id": str(BIG_ORDER)}}))
    assert push.forward_path == "/event/channels_ec_order_new"
    assert forward_body(push) == {
        **SHOP_HEADER,
        "Event": "channels_ec_order_new",
        "order_info": {"order_id": BIG_ORDER},
    }
    product = open_shop(shop("product_spu_audit", {"ProductSpuAudit": {"product_id": "1"}}))
    assert forward_body(product)["ProductSpuAudit"] == {"product_id": "1"}


def test_d27_shop_push_in_xml_format_is_accepted() -> None:
    """D27: shop pushes in XML format were dropped; they give the body of the JSON push."""
    xml = (
        "<xml><ToUserName><![CDATA[gh_shop]]></ToUserName>"
        "<FromUserName><![CDATA[oBuyer]]></FromUserName><CreateTime>1658509200</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[channels_ec_order_pay]]></Event>"
        f"<order_info><order_id>{BIG_ORDER}</order_id><pay_time>1658509200</pay_time></order_info>"
        "</xml>"
    ).encode()
    from_xml = forward_body(open_shop(xml))
    from_json = forward_body(
        open_shop(
            shop(
                "channels_ec_order_pay",
                {"order_info": {"order_id": BIG_ORDER, "pay_time": 1658509200}},
            )
        )
    )
    assert from_xml == from_json


def test_shop_aftersale_and_extra_fields_are_kept() -> None:
    payload = {
        "finder_shop_aftersale_status_update": {
            "status": "USER_WAIT_RETURN",
            "after_sale_order_id": "1234",
            "order_id": "5678",
        },
        "wxa_vip_discounted_price": 10,
    }
    push = open_shop(shop("channels_ec_aftersale_update", payload))
    assert forward_body(push) == {
        **SHOP_HEADER,
        "Event": "channels_ec_aftersale_update",
        "finder_shop_aftersale_status_update": {
            "status": "USER_WAIT_RETURN",
            "after_sale_order_id": "1234",
            "order_id": "5678",
        },
        "wxa_vip_discounted_price": 10,
    }
    assert push.dedupe_key("wxS") == (
        "wxS", "event", "oBuyer", "1658509200", "channels_ec_aftersale_update", "1234"
    )  # fmt: skip


def test_shop_known_event_without_payload_gets_go_zero_values() -> None:
    body = forward_body(open_shop(shop("channels_ec_order_settle", {})))
    assert body["order_info"] == {"order_id": 0, "settle_time": 0}


def test_shop_dedupe_uses_the_order_id() -> None:
    push = open_shop(shop("channels_ec_order_pay", {"order_info": {"order_id": BIG_ORDER}}))
    assert push.dedupe_key("wxS")[-1] == str(BIG_ORDER)


# ------------------------------------------------------------------------ encoding


def test_user_info_slots_come_last() -> None:
    body = forward_body(parse(MESSAGES[0][1]))
    full = append_user_info(body, {"openid": "oUser", "sex": 0}, "")
    assert list(full)[-2:] == ["userInfo", "userInfoError"]
    assert full["userInfo"] == {"openid": "oUser", "sex": 0}
    failed = append_user_info(body, None, "user/info failed: errcode 40001")
    assert failed["userInfo"] is None
    assert failed["userInfoError"] == "user/info failed: errcode 40001"
    assert "userInfo" not in body  # the original is untouched


def test_encoding_is_go_like() -> None:
    body: dict[str, Any] = {
        "A": "<b>&</b>",
        "B": "你好",
        "C": 6054768590064713728,
        "D": None,
        "E": "\u2028",
    }
    assert encode_forward_body(body) == (
        b'{"A":"\\u003cb\\u003e\\u0026\\u003c/b\\u003e","B":"\xe4\xbd\xa0\xe5\xa5\xbd",'
        b'"C":6054768590064713728,"D":null,"E":"\\u2028"}\n'
    )
    assert json.loads(encode_forward_body(body)) == body
