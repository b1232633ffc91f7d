"""``POST /send``'s work (gateway.outbound) against the in-process simulator over loopback."""

from __future__ import annotations

import asyncio
import gc
import math
import struct
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from weixin_gateway.errors import SEND_REJECTED_CAUSES
from weixin_gateway.gateway.outbound import FilePart, Outbound, OutboundError, SendPart, TextPart
from weixin_gateway.ilink.client import WeixinClient
from weixin_gateway.simulator import FaultPlan, SimBot, Simulator

ACCOUNT = "acct-1"
CONTEXT = "ctx-1"
PNG = bytes.fromhex("89504e470d0a1a0a") + bytes(range(256)) * 3
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x01\x02\x03" * 500
PDF = b"%PDF-1.4\n" + b"report body\n" * 200
MP3 = b"ID3\x03\x00\x00\x00" + b"\xff\xfb" * 300
TIMEOUT = 20.0  # bound on anything awaited in a test


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    path = tmp_path / "media"
    path.mkdir()
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret.txt").write_bytes(b"not for WeChat")
    return path


@pytest.fixture
def outbound(media_dir: Path) -> Outbound:
    return Outbound(media_dirs=[media_dir], media_max_bytes=1 << 20, fetch_timeout_s=10.0)


@dataclass
class FileServer:
    base_url: str
    release: asyncio.Event

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


@pytest.fixture
async def files() -> AsyncIterator[FileServer]:
    """A tiny HTTP server on 127.0.0.1 serving media, a 404, a stall and oversize bodies."""
    release = asyncio.Event()

    async def photo(_: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def report(_: web.Request) -> web.Response:
        return web.Response(body=PDF, content_type="application/octet-stream")

    async def missing(_: web.Request) -> web.Response:
        raise web.HTTPNotFound(text="nope")

    async def stall(_: web.Request) -> web.Response:
        await release.wait()
        return web.Response(body=b"too late")

    async def big(_: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000)

    async def big_chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            for _ in range(10):
                await resp.write(b"x" * 1000)
            await resp.write_eof()
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            pass  # the client gave up at the cap, as it should
        return resp

    app = web.Application()
    app.router.add_get("/media/photo", photo)
    app.router.add_get("/media/report.pdf", report)
    app.router.add_get("/missing.png", missing)
    app.router.add_get("/stall.png", stall)
    app.router.add_get("/big.bin", big)
    app.router.add_get("/big-chunked.bin", big_chunked)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield FileServer(f"http://127.0.0.1:{port}", release)
    finally:
        release.set()
        await runner.cleanup()


async def send(
    outbound: Outbound,
    client: WeixinClient,
    to: str,
    *parts: SendPart,
    context_token: str | None = CONTEXT,
) -> list[dict[str, object]]:
    return await asyncio.wait_for(
        outbound.send(
            client, account_id=ACCOUNT, to_user_id=to, context_token=context_token, parts=parts
        ),
        TIMEOUT,
    )


async def refused(
    outbound: Outbound, client: WeixinClient, to: str, *parts: SendPart, **kw: str | None
) -> OutboundError:
    with pytest.raises(OutboundError) as info:
        await send(outbound, client, to, *parts, **kw)
    return info.value


def write(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.write_bytes(data)
    return path


# --- text ---------------------------------------------------------------------------------------


async def test_short_text(
    sim: Simulator, bot: SimBot, client: WeixinClient, outbound: Outbound
) -> None:
    [result] = await send(outbound, client, bot.user_id, TextPart("你好,我收到了。"))
    [message] = sim.sent(bot.bot_id)
    assert message.text == "你好,我收到了。"
    assert message.to_user_id == bot.user_id
    assert message.context_token == "ctx-1"
    assert result == {"type": "text", "messages": 1, "message_ids": [message.message_id]}


async def test_long_text_goes_out_in_chunks_in_order(
    sim: Simulator, bot: SimBot, client: WeixinClient, media_dir: Path
) -> None:
    outbound = Outbound(
        media_dirs=[media_dir], media_max_bytes=1000, fetch_timeout_s=5, text_chunk_limit=40
    )
    paragraphs = [f"paragraph {n} " + "word " * 5 for n in range(6)]
    [result] = await send(outbound, client, bot.user_id, TextPart("\n\n".join(paragraphs)))
    sent = sim.sent(bot.bot_id)
    assert len(sent) >= 3
    assert all(len(m.text) <= 40 for m in sent)
    assert " ".join(m.text for m in sent).split() == " ".join(paragraphs).split()
    assert result == {
        "type": "text",
        "messages": len(sent),
        "message_ids": [m.message_id for m in sent],
    }


async def test_every_part_goes_out_in_order(
    sim: Simulator, bot: SimBot, client: WeixinClient, outbound: Outbound, media_dir: Path
) -> None:
    photo = write(media_dir, "photo.png", PNG)
    report = write(media_dir, "report.pdf", PDF)
    clip = write(media_dir, "clip.mp4", MP4)
    results = await send(
        outbound,
        client,
        bot.user_id,
        TextPart("first"),
        FilePart(1, str(photo)),
        TextPart("third"),
        FilePart(4, report.as_uri()),
        FilePart(2, str(clip)),
    )
    sent = sim.sent(bot.bot_id)
    assert [m.items[0].type for m in sent] == ["text", "image", "text", "file", "video"]
    assert [sent[0].text, sent[2].text] == ["first", "third"]
    assert [sent[1].items[0].data, sent[3].items[0].data, sent[4].items[0].data] == [
        PNG,
        PDF,
        MP4,
    ]
    assert [r["type"] for r in results] == ["text", "file", "text", "file", "file"]
    assert [r.get("kind") for r in results] == [None, "image", None, "file", "video"]
    assert results[3]["message_id"] == sent[3].message_id
    assert all(m.context_token == "ctx-1" for m in sent)


async def test_blank_and_missing_items_are_400_before_anything_goes_out(
    sim: Simulator, bot: SimBot, client: WeixinClient, outbound: Outbound
) -> None:
    error = await refused(outbound, client, bot.user_id)
    assert (error.status, error.field, error.sent) == (400, "items", 0)
    assert error.message == "items must hold at least one item"
    error = await refused(outbound, client, bot.user_id, TextPart("ok"), TextPart(" \n "))
    assert (error.status, error.field, error.item_index, error.sent) == (400, "items[1].text", 1, 0)
    assert sim.sent(bot.bot_id) == ()


# --- local media --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_type", "name", "data", "kind"),
    [(1, "photo.png", PNG, "image"), (2, "clip.mp4", MP4, "video"), (4, "report.pdf", PDF, "file")],
)
async def test_local_media_arrive_intact(
    sim: Simulator,
    bot: SimBot,
    client: WeixinClient,
    outbound: Outbound,
    media_dir: Path,
    file_type: int,
    name: str,
    data: bytes,
    kind: str,
) -> None:
    path = write(media_dir, name, data)
    [result] = await send(outbound, client, bot.user_id, FilePart(file_type, str(path)))
    [message] = sim.sent(bot.bot_id)
    [item] = message.items
    assert item.type == kind
    assert item.error is None
    assert item.data == data
    assert result == {
        "type": "file",
        "file_type": file_type,
        "kind": kind,
        "file_name": name,
        "size": len(data),
        "message_id": message.message_id,
    }


async def test_file_url_and_file_name(
    sim: Simulator, bot: SimBot, client: WeixinClient, outbound: Outbound, media_dir: Path
) -> None:
    path = write(media_dir, "年度 report.pdf", PDF)
    assert "%20" in path.as_uri()
    [result] = await send(
        outbound, client, bot.user_id, FilePart(4, path.as_uri(), file_name="Q3.pdf")
    )
    [message] = sim.sent(bot.bot_id)
    assert message.items[0].file_name == "Q3.pdf"
    assert message.items[0].data == PDF
    assert result["file_name"] == "Q3.pdf"


async def test_symlink_and_dots_that_stay_inside_are_fine(
    sim: Simulator, bot: SimBot, client: WeixinClient, outbound: Outbound, media_dir: Path
) -> None:
    (media_dir / "sub").mkdir()
    write(media_dir, "photo.png", PNG)
    (media_dir / "link.png").symlink_to(media_dir / "photo.png")
    await send(
        outbound,
        client,
        bot.user_id,
        FilePart(1, str(media_dir / "link.png")),
        FilePart(1, f"{media_dir}/sub/../photo.png"),
    )
    assert [m.items[0].data for m in sim.sent(bot.bot_id)] == [PNG, PNG]


def escapes(media_dir: Path, outside: Path) -> list[str]:
    (media_dir / "escape.txt").symlink_to(outside / "secret.txt")
    (media_dir / "escape-dir").symlink_to(outside, target_is_directory=True)
    return [
        str(outside / "secret.txt"),
        (outside / "secret.txt").as_uri(),
        str(media_dir / "escape.txt"),
        str(media_dir / "escape-dir" / "secret.txt"),
        f"{media_dir}/../outside/secret.txt",
        f"file://{media_dir}/../outside/secret.txt",
        f"{media_dir}-evil/secret.txt",  # a sibling that merely shares the prefix
        "/etc/passwd",
    ]


async def test_paths_outside_media_dirs_are_400(
    sim: Simulator,
    bot: SimBot,
    client: WeixinClient,
    outbound: Outbound,
    media_dir: Path,
    outside: Path,
) -> None:
    for url in escapes(media_dir, outside):
        error = await refused(outbound, client, bot.user_id, TextPart("hi"), FilePart(4, url))
        assert error.status == 400, url
        assert error.field == "items[1].url"
        assert error.sent == 0
        assert error.message == "path not allowed: files must be under WEIXIN_GATEWAY_MEDIA_DIRS"
        assert str(media_dir) not in error.message
    assert sim.sent(bot.bot_id) == ()


async def test_no_media_dirs_means_no_local_files(
    sim: Simulator, bot: SimBot, client: WeixinClient, media_dir: Path
) -> None:
    outbound = Outbound(media_dirs=[], media_max_bytes=1 << 20, fetch_timeout_s=5)
    path = write(media_dir, "photo.png", PNG)
    error = await refused(outbound, client, bot.user_id, FilePart(1, str(path)))
    assert error.status == 400
    assert error.message.startswith("path not allowed")


@pytest.mark.parametrize(
    "url",
    [
        "media/photo.png",
        "./photo.png",
        "photo.png",
        "",
        "ftp://127.0.0.1/photo.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "file://example.com/etc/passwd",
        "file:relative/photo.png",
        "http:///no-host.png",
        "http://[::1/broken.png",
        "javascript:alert(1)",
    ],
)
async def test_bad_urls_are_400(
    sim: Simulator, bot: SimBot, client: WeixinClient, outbound: Outbound, url: str
) -> None:
    error = await refused(outbound, client, bot.user_id, FilePart(1, url))
    assert (error.status, error.field, error.item_index) == (400, "items[0].url", 0)
    assert sim.sent(bot.bot_id) == ()


async def test_missing_file_and_directory_are_400(
    sim: Simulator, bot: SimBot, client: WeixinClient, outbound: Outbound, media_dir: Path
) -> None:
    error = await refused(outbound, client, bot.user_id, FilePart(4, f"{media_dir}/nope.pdf"))
    assert error.status == 400
    assert error.message == f"file not found: {media_dir}/nope.pdf"
    error = await refused(outbound, client, bot.user_id, FilePart(4, str(media_dir)))
    assert error.status == 400
    assert error.message.startswith("not a regular file")


async def test_local_file_over_the_cap_is_413(
    sim: Simulator, bot: SimBot, client: WeixinClient, media_dir: Path
) -> None:
    outbound = Outbound(media_dirs=[media_dir], media_max_bytes=1000, fetch_timeout_s=5)
    path = write(media_dir, "big.pdf", b"x" * 1001)
    error = await refused(outbound, client, bot.user_id, FilePart(4, str(path)))
    assert (error.status, error.field) == (413, "items[0].url")
    write(media_dir, "fits.pdf", b"x" * 1000)
    await send(outbound, client, bot.user_id, FilePart(4, str(media_dir / "fits.pdf")))
    assert len(sim.sent(bot.bot_id)) == 1


@pytest.mark.parametrize("file_type", [0, 5, -1])
async def test_bad_file_type_is_400_with_its_field(
    sim: Simulator,
    bot: SimBot,
    client: WeixinClient,
    outbound: Outbound,
    media_dir: Path,
    file_type: int,
) -> None:
    path = write(media_dir, "photo.png", PNG)
    error = await refused(
        outbound, client, bot.user_id, TextPart("hi"), FilePart(file_type, str(path))
    )
    assert (error.status, error.field, error.item_index) == (400, "items[1].file_type", 1)
    assert error.message == f"unsupported file_type: {file_type}"
    assert sim.sent(bot.bot_id) == ()


# --- voice --------------------------------------------------------------------------------------


async def test_voice_goes_as_a_file_by_default(
    sim: Simulator, bot: SimBot, client: WeixinClient, outbound: Outbound, media_dir: Path
) -> None:
    path = write(media_dir, "voice.mp3", MP3)
    [result] = await send(outbound, client, bot.user_id, FilePart(3, str(path)))
    [message] = sim.sent(bot.bot_id)
    [item] = message.items
    assert item.type == "file"
    assert item.file_name == "voice.mp3"
    assert item.data == MP3
    assert result["kind"] == "file"
    assert result["file_type"] == 3


def silk_tone() -> bytes:
    pytest.importorskip("pysilk", reason="silk-python (the 'voice' extra) is not installed")
    from weixin_gateway.ilink.voice import pcm_to_silk

    rate = 24_000
    samples = [int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(rate // 2)]
    return pcm_to_silk(struct.pack(f"<{len(samples)}h", *samples))


async def test_as_voice_with_silk_sends_a_voice_item(
    sim: Simulator, bot: SimBot, client: WeixinClient, outbound: Outbound, media_dir: Path
) -> None:
    silk = silk_tone()
    path = write(media_dir, "hello.silk", silk)
    [result] = await send(outbound, client, bot.user_id, FilePart(3, str(path), as_voice=True))
    [message] = sim.sent(bot.bot_id)
    [item] = message.items
    assert item.type == "voice"
    assert item.data == silk
    voice_item = item.raw["voice_item"]
    assert isinstance(voice_item, dict)
    assert voice_item["playtime"] == 500
    assert result["kind"] == "voice"
    assert result["size"] == len(silk)


async def test_as_voice_needs_silk(
    sim: Simulator, bot: SimBot, client: WeixinClient, outbound: Outbound, media_dir: Path
) -> None:
    path = write(media_dir, "voice.mp3", MP3)
    error = await refused(
        outbound, client, bot.user_id, TextPart("hi"), FilePart(3, str(path), as_voice=True)
    )
    assert error.status == 400
    assert error.message == (
        "unsupported voice format: .mp3; a voice bubble needs SILK audio (.silk)"
    )
    assert (error.field, error.item_index, error.sent) == ("items[1].url", 1, 1)
    assert [m.text for m in sim.sent(bot.bot_id)] == ["hi"]


async def test_as_voice_only_applies_to_voice(
    bot: SimBot, client: WeixinClient, outbound: Outbound, media_dir: Path
) -> None:
    path = write(media_dir, "report.pdf", PDF)
    error = await refused(outbound, client, bot.user_id, FilePart(4, str(path), as_voice=True))
    assert (error.status, error.field) == (400, "items[0].as_voice")


# --- remote media -------------------------------------------------------------------------------


async def test_http_media_are_fetched_sent_and_cleaned_up(
    sim: Simulator,
    bot: SimBot,
    client: WeixinClient,
    outbound: Outbound,
    files: FileServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    results = await send(
        outbound,
        client,
        bot.user_id,
        FilePart(1, files.url("/media/photo")),
        FilePart(4, files.url("/media/report.pdf")),
    )
    image, report = sim.sent(bot.bot_id)
    assert image.items[0].type == "image"
    assert image.items[0].data == PNG
    assert report.items[0].type == "file"
    assert report.items[0].file_name == "report.pdf"  # octet-stream: the name comes from the URL
    assert report.items[0].data == PDF
    assert results[0]["file_name"] == "photo.png"  # from Content-Type
    assert results[1]["size"] == len(PDF)
    assert not [p for p in scratch.iterdir() if p.name.startswith("weixin-send-")]


async def test_http_fetch_with_an_own_session(
    sim: Simulator, bot: SimBot, client: WeixinClient, media_dir: Path, files: FileServer
) -> None:
    async with aiohttp.ClientSession() as session:
        outbound = Outbound(
            media_dirs=[media_dir],
            media_max_bytes=1 << 20,
            fetch_timeout_s=5,
            fetch_session=session,
        )
        await send(outbound, client, bot.user_id, FilePart(1, files.url("/media/photo")))
    assert sim.sent(bot.bot_id)[0].items[0].data == PNG


async def test_http_404_is_502_after_earlier_items(
    sim: Simulator, bot: SimBot, client: WeixinClient, outbound: Outbound, files: FileServer
) -> None:
    error = await refused(
        outbound, client, bot.user_id, TextPart("before"), FilePart(1, files.url("/missing.png"))
    )
    assert (error.status, error.field, error.item_index, error.sent) == (502, "items[1].url", 1, 1)
    assert "404" in error.message
    assert [m.text for m in sim.sent(bot.bot_id)] == ["before"]


async def test_slow_server_is_504(
    sim: Simulator, bot: SimBot, client: WeixinClient, media_dir: Path, files: FileServer
) -> None:
    outbound = Outbound(media_dirs=[media_dir], media_max_bytes=1 << 20, fetch_timeout_s=0.3)
    error = await refused(outbound, client, bot.user_id, FilePart(1, files.url("/stall.png")))
    assert (error.status, error.field) == (504, "items[0].url")
    assert "timed out" in error.message
    assert sim.sent(bot.bot_id) == ()


@pytest.mark.parametrize("path", ["/big.bin", "/big-chunked.bin"])
async def test_oversize_download_is_413(
    sim: Simulator,
    bot: SimBot,
    client: WeixinClient,
    media_dir: Path,
    files: FileServer,
    path: str,
) -> None:
    outbound = Outbound(media_dirs=[media_dir], media_max_bytes=1000, fetch_timeout_s=5)
    error = await refused(outbound, client, bot.user_id, FilePart(4, files.url(path)))
    assert (error.status, error.field) == (413, "items[0].url")
    assert sim.sent(bot.bot_id) == ()


# --- WeChat refusals ----------------------------------------------------------------------------


async def test_ret_minus_2_is_502_with_causes_and_sent_count(
    sim: Simulator, bot: SimBot, client: WeixinClient, outbound: Outbound
) -> None:
    sim.configure(
        require_context_token=True,
        check_context_token=True,
        reply_window_seconds=86400,
        max_replies_per_inbound=2,
    )
    inbound = sim.inject_message(bot.bot_id, text="hello bot")
    error = await refused(
        outbound,
        client,
        bot.user_id,
        TextPart("one"),
        TextPart("two"),
        TextPart("three"),
        context_token=inbound.context_token,
    )
    assert (error.status, error.item_index, error.sent) == (502, 2, 2)
    assert "WeChat rejected the send" in error.message
    for cause in SEND_REJECTED_CAUSES:
        assert cause in error.message
    assert [m.text for m in sim.sent(bot.bot_id)] == ["one", "two"]

    error = await refused(outbound, client, bot.user_id, TextPart("no token"), context_token=None)
    assert (error.status, error.sent) == (502, 0)
    assert "context_token" in error.message


async def test_expired_session_is_502_without_the_token(
    sim: Simulator, bot: SimBot, client: WeixinClient, outbound: Outbound
) -> None:
    sim.expire_bot(bot.bot_id)
    error = await refused(outbound, client, bot.user_id, TextPart("hi"))
    assert error.status == 502
    assert error.message == "account session expired; log in again"


async def test_other_wechat_failures_are_502_without_the_token(
    sim: Simulator, bot: SimBot, client: WeixinClient, outbound: Outbound, media_dir: Path
) -> None:
    sim.add_fault(FaultPlan("status", route="sendmessage", status=500, error_message="boom"))
    error = await refused(outbound, client, bot.user_id, TextPart("hi"))
    assert (error.status, error.field) == (502, "items[0]")
    assert "500" in error.message
    assert bot.bot_token not in error.message
    assert bot.bot_token.split(":")[-1] not in error.message

    sim.add_fault(FaultPlan("status", route="cdn_upload", status=400, error_message="bad"))
    path = write(media_dir, "photo.png", PNG)
    error = await refused(outbound, client, bot.user_id, FilePart(1, str(path)))
    assert error.status == 502
    assert bot.bot_token not in error.message


# --- ordering and locks -------------------------------------------------------------------------


async def test_two_requests_to_one_user_never_interleave(
    sim: Simulator, bot: SimBot, client: WeixinClient, outbound: Outbound
) -> None:
    # every sendmessage takes a while, so unserialised requests would interleave
    sim.add_fault(FaultPlan("latency", route="sendmessage", delay_ms=30, count=None))
    first = [TextPart(f"a{n}") for n in range(4)]
    second = [TextPart(f"b{n}") for n in range(4)]
    await asyncio.gather(
        send(outbound, client, bot.user_id, *first), send(outbound, client, bot.user_id, *second)
    )
    texts = [m.text for m in sim.sent(bot.bot_id)]
    a_then_b = [p.text for p in first + second]
    b_then_a = [p.text for p in second + first]
    assert texts in (a_then_b, b_then_a)


async def test_different_users_do_not_wait_for_each_other(
    sim: Simulator, bot: SimBot, client: WeixinClient, outbound: Outbound
) -> None:
    alice = sim.create_user("alice").user_id
    bob = sim.create_user("bob").user_id
    async with outbound.conversation_lock(ACCOUNT, alice):
        to_alice = asyncio.create_task(send(outbound, client, alice, TextPart("for alice")))
        await send(outbound, client, bob, TextPart("for bob"))  # alice's lock is no obstacle
        assert not to_alice.done()
        assert [m.to_user_id for m in sim.sent(bot.bot_id)] == [bob]
    await asyncio.wait_for(to_alice, TIMEOUT)
    assert [m.to_user_id for m in sim.sent(bot.bot_id)] == [bob, alice]


async def test_one_lock_per_conversation_and_none_left_behind(
    sim: Simulator, bot: SimBot, client: WeixinClient, outbound: Outbound
) -> None:
    lock = outbound.conversation_lock(ACCOUNT, "u1")
    assert outbound.conversation_lock(ACCOUNT, "u1") is lock
    assert outbound.conversation_lock("acct-2", "u1") is not lock
    assert outbound.conversation_lock(ACCOUNT, "u2") is not lock
    del lock
    gc.collect()
    assert outbound.conversation_count == 0

    users = [f"user-{n}@im.wechat" for n in range(50)]
    await asyncio.gather(*(send(outbound, client, u, TextPart("hi")) for u in users))
    assert len(sim.sent(bot.bot_id)) == 50
    with pytest.raises(OutboundError):
        await send(outbound, client, "user-x@im.wechat", FilePart(9, "/nope"))
    gc.collect()
    assert outbound.conversation_count == 0
