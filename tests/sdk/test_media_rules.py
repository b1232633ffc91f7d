"""Media rules without I/O: kinds, items, key choice, which item to download, CDN URLs."""

from __future__ import annotations

import pytest

from weixin_gateway.errors import MediaError
from weixin_gateway.ilink.cdn import cdn_download_url, cdn_upload_url, encode_uri_component
from weixin_gateway.ilink.media import (
    UploadedMedia,
    build_media_item,
    extension_for_content_type,
    guess_content_type,
    media_key_for,
    media_type_for_content_type,
    media_type_for_name,
    pick_media_item,
)
from weixin_gateway.ilink.wire import (
    CDNMedia,
    GetUploadUrlResponse,
    MediaType,
    MessageItem,
    WeixinMessage,
    dumps_wire,
)

CDN = "https://novac2c.cdn.weixin.qq.com/c2c"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("clip.mp4", MediaType.VIDEO), ("a.MOV", MediaType.VIDEO), ("x.webm", MediaType.VIDEO),
        ("x.mkv", MediaType.VIDEO), ("x.avi", MediaType.VIDEO),
        ("photo.png", MediaType.IMAGE), ("p.JPG", MediaType.IMAGE), ("p.jpeg", MediaType.IMAGE),
        ("p.gif", MediaType.IMAGE), ("p.webp", MediaType.IMAGE), ("p.bmp", MediaType.IMAGE),
        ("song.mp3", MediaType.FILE), ("v.wav", MediaType.FILE), ("report.pdf", MediaType.FILE),
        ("noext", MediaType.FILE), ("dir.png/file", MediaType.FILE),
    ],
)  # fmt: skip
def test_kind_by_extension(name: str, kind: MediaType) -> None:
    assert media_type_for_name(name) == kind


def test_kind_and_extension_by_content_type() -> None:
    assert media_type_for_content_type("image/png; charset=binary") == MediaType.IMAGE
    assert media_type_for_content_type("video/mp4") == MediaType.VIDEO
    assert media_type_for_content_type("application/pdf") == MediaType.FILE
    assert media_type_for_content_type("application/octet-stream") is None
    assert media_type_for_content_type(None) is None
    assert extension_for_content_type("image/jpeg") == ".jpg"
    assert extension_for_content_type("video/quicktime") == ".mov"
    assert extension_for_content_type("application/octet-stream") is None
    assert extension_for_content_type("") is None
    assert guess_content_type("a.mp4") == "video/mp4"
    assert guess_content_type("a.unknownext") == "application/octet-stream"


def _uploaded(
    kind: MediaType, key_hex: str, filekey: str, rawsize: int, name: str
) -> UploadedMedia:
    return UploadedMedia(
        media_type=kind,
        download_param=f"DOWNLOADPARAM-{filekey}",
        aes_key=bytes.fromhex(key_hex),
        filekey=filekey,
        rawsize=rawsize,
        filesize=(rawsize // 16 + 1) * 16,
        md5="0" * 32,
        file_name=name,
    )


def test_items_match_the_captured_exchanges() -> None:
    image = _uploaded(MediaType.IMAGE, "eb3d6b9752ee6190fb7bc1f8fb97e98e",
                      "dd6d16d2334f45bd253a774e7b58197a", 100, "photo.png")  # fmt: skip
    assert dumps_wire(build_media_item(image)) == (
        b'{"type":2,"image_item":{"media":{"encrypt_query_param":'
        b'"DOWNLOADPARAM-dd6d16d2334f45bd253a774e7b58197a","aes_key":'
        b'"ZWIzZDZiOTc1MmVlNjE5MGZiN2JjMWY4ZmI5N2U5OGU=","encrypt_type":1},"mid_size":112}}'
    )
    file = _uploaded(MediaType.FILE, "9cc4f1a677840c303ef05b01307c4362",
                     "fda193e79e6c0c45b7710cf893f271fe", 26, "report.pdf")  # fmt: skip
    assert dumps_wire(build_media_item(file)) == (
        b'{"type":4,"file_item":{"media":{"encrypt_query_param":'
        b'"DOWNLOADPARAM-fda193e79e6c0c45b7710cf893f271fe","aes_key":'
        b'"OWNjNGYxYTY3Nzg0MGMzMDNlZjA1YjAxMzA3YzQzNjI=","encrypt_type":1},'
        b'"file_name":"report.pdf","len":"26"}}'
    )
    video = _uploaded(MediaType.VIDEO, "a2fe069b69356e719b8594d94d81cbfc",
                      "e221c7e8f5bbf70aac4c41c62c9d1ed7", 32, "clip.mp4")  # fmt: skip
    assert dumps_wire(build_media_item(video)) == (
        b'{"type":5,"video_item":{"media":{"encrypt_query_param":'
        b'"DOWNLOADPARAM-e221c7e8f5bbf70aac4c41c62c9d1ed7","aes_key":'
        b'"YTJmZTA2OWI2OTM1NmU3MTliODU5NGQ5NGQ4MWNiZmM=","encrypt_type":1},"video_size":48}}'
    )
    assert "aes_key" not in repr(image)
    assert "eb3d6b97" not in repr(image)


def test_voice_item() -> None:
    from weixin_gateway.ilink.media import SilkVoice

    voice = _uploaded(MediaType.VOICE, "00" * 16, "f" * 32, 3596, "v.silk")
    item = build_media_item(voice, voice=SilkVoice(playtime_ms=1000)).wire()
    assert item["type"] == 3
    assert {k: v for k, v in item["voice_item"].items() if k != "media"} == {
        "encode_type": 6, "bits_per_sample": 16, "sample_rate": 24000, "playtime": 1000,
    }  # fmt: skip


def test_upload_and_download_urls() -> None:
    reply = GetUploadUrlResponse(upload_param="UPLOADPARAM/with+chars=")
    assert cdn_upload_url(CDN + "/", reply, "dd6d16d2334f45bd253a774e7b58197a") == (
        f"{CDN}/upload?encrypted_query_param=UPLOADPARAM%2Fwith%2Bchars%3D"
        "&filekey=dd6d16d2334f45bd253a774e7b58197a"
    )
    full = GetUploadUrlResponse(upload_param="P", upload_full_url=" https://h/up?x=1 ")
    assert cdn_upload_url(CDN, full, "k") == "https://h/up?x=1"
    blank = GetUploadUrlResponse(upload_param="P", upload_full_url="   ")
    assert cdn_upload_url(CDN, blank, "k").startswith(f"{CDN}/upload?encrypted_query_param=P&")
    with pytest.raises(MediaError, match="no upload URL"):
        cdn_upload_url(CDN, GetUploadUrlResponse(), "k")
    assert cdn_download_url(CDN, CDNMedia(encrypt_query_param="SERVERPARAM==")) == (
        f"{CDN}/download?encrypted_query_param=SERVERPARAM%3D%3D"
    )
    assert cdn_download_url(CDN, CDNMedia(encrypt_query_param="X", full_url="http://f/u")) == (
        "http://f/u"
    )
    with pytest.raises(MediaError):
        cdn_download_url(CDN, CDNMedia())
    assert encode_uri_component("a b!~*'()é") == "a%20b!~*'()%C3%A9"


IMAGE_KEY = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")


def _image(aeskey: str | None, aes_key: str | None) -> MessageItem:
    media = {"encrypt_query_param": "IMGPARAM-0001", "encrypt_type": 1}
    if aes_key is not None:
        media["aes_key"] = aes_key
    body: dict[str, object] = {"media": media}
    if aeskey is not None:
        body["aeskey"] = aeskey
    return MessageItem.model_validate({"type": 2, "image_item": body})


def test_image_key_choice() -> None:
    hex_key = IMAGE_KEY.hex()
    other = "ABEiM0RVZneImaq7zN3u/w=="  # a different key in raw-base64 form
    assert media_key_for(_image(hex_key, other)) == IMAGE_KEY  # hex aeskey wins
    assert media_key_for(_image(None, "Dx4tPEtaaXiHlqW0w9Lh8A==")) == IMAGE_KEY
    assert media_key_for(_image(None, "MGYxZTJkM2M0YjVhNjk3ODg3OTZhNWI0YzNkMmUxZjA=")) == IMAGE_KEY
    assert media_key_for(_image(None, None)) is None  # plain image


def test_non_image_needs_aes_key() -> None:
    file_item = MessageItem.model_validate(
        {"type": 4, "file_item": {"media": {"encrypt_query_param": "F"}, "file_name": "a"}}
    )
    with pytest.raises(MediaError, match="aes_key"):
        media_key_for(file_item)
    bad = MessageItem.model_validate(
        {"type": 5, "video_item": {"media": {"encrypt_query_param": "V", "aes_key": "AAAA"}}}
    )
    with pytest.raises(MediaError, match="expected 16 raw or 32 hex"):
        media_key_for(bad)


def _msg(*items: dict[str, object]) -> WeixinMessage:
    return WeixinMessage.model_validate({"item_list": list(items)})


MEDIA = {"encrypt_query_param": "P", "aes_key": "Dx4tPEtaaXiHlqW0w9Lh8A=="}
TEXT = {"type": 1, "text_item": {"text": "hi"}}
IMAGE = {"type": 2, "image_item": {"media": MEDIA}}
VIDEO = {"type": 5, "video_item": {"media": MEDIA}}
FILE = {"type": 4, "file_item": {"media": MEDIA, "file_name": "a.txt"}}
VOICE = {"type": 3, "voice_item": {"media": MEDIA}}
VOICE_WITH_TEXT = {"type": 3, "voice_item": {"media": MEDIA, "text": "transcript"}}


def test_pick_media_item_order() -> None:
    def pick(*items: dict[str, object]) -> int | None:
        item = pick_media_item(_msg(*items))
        return None if item is None else item.type

    assert pick(TEXT, VOICE, FILE, VIDEO, IMAGE) == 2
    assert pick(VOICE, FILE, VIDEO) == 5
    assert pick(VOICE, FILE) == 4
    assert pick(TEXT, VOICE) == 3
    assert pick(VOICE_WITH_TEXT) is None
    assert pick({"type": 2, "image_item": {"media": {"aes_key": "x"}}}, FILE) == 4  # no URL
    assert pick({"type": 2, "image_item": {"media": {"full_url": "http://x"}}}) == 2
    assert pick(TEXT) is None


def test_pick_quoted_media() -> None:
    quoting = {"type": 1, "text_item": {"text": "what is this?"}, "ref_msg": {"message_item": FILE}}
    item = pick_media_item(_msg(TEXT, quoting))
    assert item is not None
    assert item.file_item is not None
    direct = pick_media_item(_msg(quoting, IMAGE))
    assert direct is not None
    assert direct.image_item is not None
    quoting_text = {"type": 1, "text_item": {"text": "?"}, "ref_msg": {"message_item": TEXT}}
    assert pick_media_item(_msg(quoting_text)) is None
