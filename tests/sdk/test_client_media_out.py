"""Outbound media against the simulator: the exchanges of ilink-vectors.md §8 and CDN faults."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import struct
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from weixin_gateway.errors import HttpStatusError, MediaError, MediaTooLargeError
from weixin_gateway.ilink.client import WeixinClient
from weixin_gateway.ilink.wire import MediaType
from weixin_gateway.simulator import FaultPlan, SimBot, Simulator

from .conftest import bodies, requests_to

DEAD_CDN = "http://127.0.0.1:9/c2c"  # nothing listens: a fallback URL would fail
HEX32 = re.compile(r"^[0-9a-f]{32}$")
UPLOAD_KEYS = [
    "filekey", "media_type", "to_user_id", "rawsize", "rawfilemd5", "filesize",
    "no_need_thumb", "aeskey", "base_info",
]  # fmt: skip


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


async def test_image_with_caption_via_upload_param(
    sim: Simulator, bot: SimBot, client: WeixinClient, tmp_path: Path
) -> None:
    sim.configure(upload_full_url=False)  # the client must build {cdn}/upload?... itself
    data = bytes.fromhex("89504e470d0a1a0a") + b"\x07" * 92
    path = write(tmp_path, "photo.png", data)
    result = await client.send_image(bot.user_id, path, caption="caption text", context_token="c1")

    (upload,) = bodies(sim, "getuploadurl")
    assert list(upload) == UPLOAD_KEYS
    assert upload["media_type"] == 1
    assert upload["to_user_id"] == bot.user_id
    assert upload["rawsize"] == 100
    assert upload["rawfilemd5"] == "6d41ac6d0d47f84891e52c497ed5df93"
    assert upload["filesize"] == 112
    assert upload["no_need_thumb"] is True
    assert HEX32.match(str(upload["filekey"]))
    assert HEX32.match(str(upload["aeskey"]))

    (post,) = requests_to(sim, "cdn_upload")
    assert post.method == "POST"
    assert post.path == "/c2c/upload"
    assert post.query_param("filekey") == upload["filekey"]
    assert post.query_param("encrypted_query_param")
    assert post.body_size == 112
    assert post.header("Content-Length") == "112"
    assert post.header("Content-Type") == "application/octet-stream"
    assert post.header("Authorization") is None

    caption, image = sim.sent(bot.bot_id)
    assert caption.text == "caption text"
    assert caption.client_id != image.client_id
    assert result.caption is not None
    assert result.caption.client_id == caption.client_id
    assert result.client_id == image.client_id
    assert result.message_id == image.message_id
    assert image.context_token == caption.context_token == "c1"
    raw = image.items[0].raw
    assert list(raw) == ["type", "image_item"]
    assert raw["type"] == 2
    image_item = raw["image_item"]
    assert isinstance(image_item, dict)
    assert list(image_item) == ["media", "mid_size"]
    assert image_item["mid_size"] == 112
    media = image_item["media"]
    assert list(media) == ["encrypt_query_param", "aes_key", "encrypt_type"]
    assert media["encrypt_type"] == 1
    assert base64.b64decode(media["aes_key"]).decode() == upload["aeskey"]
    assert media["encrypt_query_param"] == result.media.download_param
    assert image.items[0].data == data


async def test_file_via_upload_full_url(sim: Simulator, bot: SimBot, tmp_path: Path) -> None:
    data = b"%PDF-1.4 fake report body\n"
    path = write(tmp_path, "report.pdf", data)
    async with WeixinClient.from_account(bot, cdn_base_url=DEAD_CDN) as client:
        result = await client.send_file(bot.user_id, path)
    (upload,) = bodies(sim, "getuploadurl")
    assert (upload["media_type"], upload["rawsize"], upload["filesize"]) == (3, 26, 32)
    assert upload["rawfilemd5"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert requests_to(sim, "cdn_upload")[0].body_size == 32
    (sent,) = sim.sent(bot.bot_id)
    raw = sent.items[0].raw
    file_item = raw["file_item"]
    assert isinstance(file_item, dict)
    assert list(file_item) == ["media", "file_name", "len"]
    assert (file_item["file_name"], file_item["len"]) == ("report.pdf", "26")
    assert sent.items[0].data == data
    assert result.caption is None
    assert result.media.rawsize == 26


async def test_video(sim: Simulator, bot: SimBot, client: WeixinClient, tmp_path: Path) -> None:
    data = bytes(range(32))
    await client.send_video(bot.user_id, write(tmp_path, "clip.mp4", data))
    assert bodies(sim, "getuploadurl")[0]["media_type"] == 2
    (sent,) = sim.sent(bot.bot_id)
    video_item = sent.items[0].raw["video_item"]
    assert isinstance(video_item, dict)
    assert list(video_item) == ["media", "video_size"]
    assert video_item["video_size"] == 48
    assert sent.items[0].data == data


@pytest.mark.parametrize(
    ("name", "kind", "item"),
    [
        ("movie.MOV", MediaType.VIDEO, "video"),
        ("pic.jpeg", MediaType.IMAGE, "image"),
        ("song.mp3", MediaType.FILE, "file"),
        ("README", MediaType.FILE, "file"),
    ],
)
async def test_send_media_from_path_picks_the_kind(
    sim: Simulator, bot: SimBot, client: WeixinClient, tmp_path: Path,
    name: str, kind: MediaType, item: str,
) -> None:  # fmt: skip
    result = await client.send_media_from_path(bot.user_id, write(tmp_path, name, b"x" * 40))
    assert result.media.media_type == kind
    assert bodies(sim, "getuploadurl")[0]["media_type"] == int(kind)
    assert sim.sent(bot.bot_id)[0].items[0].type == item


async def test_send_media_from_bytes(sim: Simulator, bot: SimBot, client: WeixinClient) -> None:
    await client.send_media_from_bytes(bot.user_id, b"a" * 10, content_type="image/png")
    await client.send_media_from_bytes(bot.user_id, b"b" * 10, file_name="a.mov")
    await client.send_media_from_bytes(bot.user_id, b"c" * 10)
    await client.send_media_from_bytes(bot.user_id, b"d" * 10, content_type="application/pdf")
    await client.send_media_from_bytes(
        bot.user_id, b"e" * 10, file_name="x.png", media_type=MediaType.FILE, caption="cap"
    )
    sent = sim.sent(bot.bot_id)
    assert [m.items[0].type for m in sent] == ["image", "video", "file", "file", "text", "file"]
    assert [m.items[0].file_name for m in sent if m.items[0].type == "file"] == [
        "file.bin", "file.pdf", "x.png",
    ]  # fmt: skip
    assert [m.items[0].data for m in sent if m.items[0].type != "text"] == [
        b"a" * 10, b"b" * 10, b"c" * 10, b"d" * 10, b"e" * 10,
    ]  # fmt: skip


async def test_empty_file_uploads_one_padding_block(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    result = await client.send_media_from_bytes(bot.user_id, b"", file_name="empty.txt")
    assert (result.media.rawsize, result.media.filesize) == (0, 16)
    assert sim.sent(bot.bot_id)[0].items[0].data == b""


async def test_voice_item(sim: Simulator, bot: SimBot, client: WeixinClient) -> None:
    packets = b"".join(struct.pack("<h", 5) + b"\x01" * 5 for _ in range(50))
    silk = b"\x02#!SILK_V3" + packets
    await client.send_voice(bot.user_id, silk)
    assert bodies(sim, "getuploadurl")[0]["media_type"] == 4
    (sent,) = sim.sent(bot.bot_id)
    voice = sent.items[0].raw["voice_item"]
    assert isinstance(voice, dict)
    assert {k: v for k, v in voice.items() if k != "media"} == {
        "encode_type": 6, "bits_per_sample": 16, "sample_rate": 24000, "playtime": 1000,
    }  # fmt: skip
    assert sent.items[0].data == silk


async def test_media_cap_is_checked_before_uploading(
    sim: Simulator, bot: SimBot, tmp_path: Path
) -> None:
    async with WeixinClient.from_account(bot, media_max_bytes=1000) as client:
        with pytest.raises(MediaTooLargeError) as info:
            await client.send_file(bot.user_id, write(tmp_path, "big.bin", b"z" * 1001))
        assert (info.value.size, info.value.limit) == (1001, 1000)
        with pytest.raises(MediaTooLargeError):
            await client.send_media_from_bytes(bot.user_id, b"z" * 1001)
        await client.send_media_from_bytes(bot.user_id, b"z" * 1000)
    assert len(requests_to(sim, "getuploadurl")) == 1


async def test_missing_file_is_a_media_error(
    client: WeixinClient, bot: SimBot, tmp_path: Path
) -> None:
    with pytest.raises(MediaError, match="cannot read"):
        await client.send_file(bot.user_id, tmp_path / "nope.txt")
    with pytest.raises(MediaError, match="not a regular file"):
        await client.send_file(bot.user_id, tmp_path)


# --- CDN faults ---------------------------------------------------------------------------------


async def test_cdn_5xx_is_retried_then_succeeds(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    sim.add_fault(FaultPlan(kind="status", route="cdn_upload", status=500, count=2))
    await client.send_media_from_bytes(bot.user_id, b"retry me", file_name="r.txt")
    assert len(requests_to(sim, "cdn_upload")) == 3
    assert sim.sent(bot.bot_id)[0].items[0].data == b"retry me"


async def test_missing_encrypted_param_is_retried(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    sim.add_fault(FaultPlan(kind="no_encrypted_param", route="cdn_upload", count=1))
    await client.send_media_from_bytes(bot.user_id, b"again", file_name="r.txt")
    assert len(requests_to(sim, "cdn_upload")) == 2
    assert sim.sent(bot.bot_id)[0].items[0].data == b"again"


async def test_dropped_connection_is_retried(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    sim.add_fault(FaultPlan(kind="drop", route="cdn_upload", count=1))
    await client.send_media_from_bytes(bot.user_id, b"dropped once", file_name="r.txt")
    assert len(requests_to(sim, "cdn_upload")) == 2


async def test_cdn_4xx_is_not_retried(sim: Simulator, bot: SimBot, client: WeixinClient) -> None:
    sim.add_fault(
        FaultPlan(kind="status", route="cdn_upload", status=400, error_message="invalid filekey")
    )
    with pytest.raises(MediaError, match="CDN upload client error 400: invalid filekey"):
        await client.send_media_from_bytes(bot.user_id, b"x", file_name="r.txt")
    assert len(requests_to(sim, "cdn_upload")) == 1
    assert requests_to(sim, "sendmessage") == []


async def test_three_failures_give_up(sim: Simulator, bot: SimBot, client: WeixinClient) -> None:
    sim.add_fault(FaultPlan(kind="status", route="cdn_upload", status=503, count=3))
    with pytest.raises(MediaError, match="after 3 attempts") as info:
        await client.send_media_from_bytes(bot.user_id, b"x", file_name="r.txt")
    assert isinstance(info.value.__cause__, HttpStatusError)
    assert len(requests_to(sim, "cdn_upload")) == 3
    assert requests_to(sim, "sendmessage") == []


# --- remote media -------------------------------------------------------------------------------


@pytest.fixture
async def remote() -> AsyncIterator[str]:
    """A loopback web server standing in for a remote media host."""

    async def pic(request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG fake", content_type="image/png")

    async def report(request: web.Request) -> web.Response:
        return web.Response(body=b"%PDF", content_type="application/octet-stream")

    async def blob(request: web.Request) -> web.Response:
        return web.Response(body=b"opaque", content_type="application/octet-stream")

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(64):
            await response.write(b"v" * 4096)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/pic", pic)
    app.router.add_get("/docs/report.pdf", report)
    app.router.add_get("/blob", blob)
    app.router.add_get("/endless", endless)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point :mod:`tempfile` at a directory of this test's own, to see what is left behind."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


async def test_send_media_from_url(
    sim: Simulator, bot: SimBot, client: WeixinClient, remote: str, private_tmp: Path
) -> None:
    await client.send_media_from_url(bot.user_id, f"{remote}/pic", caption="look")
    await client.send_media_from_url(bot.user_id, f"{remote}/docs/report.pdf")
    await client.send_media_from_url(bot.user_id, f"{remote}/blob")
    sent = sim.sent(bot.bot_id)
    assert [m.items[0].type for m in sent] == ["text", "image", "file", "file"]
    assert sent[1].items[0].data == b"\x89PNG fake"
    assert [m.items[0].file_name for m in sent[2:]] == ["report.pdf", "blob.bin"]
    with pytest.raises(HttpStatusError):
        await client.send_media_from_url(bot.user_id, f"{remote}/missing")
    assert os.listdir(private_tmp) == []  # every temporary download was removed


async def test_send_media_from_url_is_capped_while_streaming(
    bot: SimBot, remote: str, private_tmp: Path
) -> None:
    async with WeixinClient.from_account(bot, media_max_bytes=100_000) as client:
        with pytest.raises(MediaTooLargeError):
            await client.send_media_from_url(bot.user_id, f"{remote}/endless")
        result = await client.send_media_from_url(bot.user_id, f"{remote}/pic")
    assert result.media.media_type == MediaType.IMAGE
    assert os.listdir(private_tmp) == []


async def test_cdn_4xx_with_a_large_file_source(
    sim: Simulator, bot: SimBot, client: WeixinClient, tmp_path: Path
) -> None:
    sim.add_fault(FaultPlan(kind="status", route="cdn_upload", status=413, error_message="big"))
    path = write(tmp_path, "big.bin", b"q" * (3 << 20))  # several chunks, refused early
    with pytest.raises(MediaError, match="CDN upload client error 413: big"):
        await client.send_file(bot.user_id, path)
    assert len(requests_to(sim, "cdn_upload")) == 1
