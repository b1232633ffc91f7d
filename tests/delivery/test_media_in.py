"""Inbound attachments saved to disk, against the simulator over loopback."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from weixin_gateway.delivery import Attachment, InboundMedia
from weixin_gateway.delivery.media_in import safe_file_name, sniff_image
from weixin_gateway.ilink.client import WeixinClient
from weixin_gateway.ilink.wire import CDNMedia, MessageItem, WeixinMessage
from weixin_gateway.simulator import (
    FaultPlan,
    ItemSpec,
    MediaSpec,
    SimBot,
    Simulator,
    TextSpec,
    generated_bytes,
)

HEX_NAME = r"weixin-inbound-[0-9a-f]{32}"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
GIF = b"GIF89a" + b"\x01\x00\x01\x00" + bytes(200)
WEBP = b"RIFF\x00\x01\x00\x00WEBPVP8 " + bytes(300)
UNKNOWN_IMAGE = b"\x00\x01\x02 no known signature " * 10
DEAD_CDN = "http://127.0.0.1:9/c2c"


@pytest.fixture
def inbound_dir(tmp_path: Path) -> Path:
    return tmp_path / "data" / "inbound"  # does not exist yet: save_all creates it


@pytest.fixture
def media(inbound_dir: Path) -> InboundMedia:
    return InboundMedia(inbound_dir, max_bytes=10 * 1024 * 1024)


async def receive(
    sim: Simulator, bot: SimBot, client: WeixinClient, *items: ItemSpec, text: str | None = None
) -> WeixinMessage:
    sim.inject_message(bot.bot_id, text=text, items=list(items))
    (msg,) = (await client.poll()).msgs
    return msg


def saved_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def read(path: Path) -> bytes:
    return path.read_bytes()


def assert_saved(attachment: Attachment, inbound_dir: Path, data: bytes) -> Path:
    assert attachment.error == ""
    path = Path(attachment.path)
    assert path.is_absolute()
    assert path.parent == inbound_dir
    assert path.name == attachment.filename
    assert path.read_bytes() == data
    assert attachment.size == len(data)
    return path


# --- one kind at a time ---------------------------------------------------------------------


async def test_generated_image_is_saved_as_png(
    sim: Simulator, bot: SimBot, client: WeixinClient, media: InboundMedia, inbound_dir: Path
) -> None:
    msg = await receive(sim, bot, client, MediaSpec("image", size=2000))
    [attachment] = await media.save_all(client, msg)
    assert attachment.kind == "image"
    assert attachment.mime_type == "image/png"
    assert re.fullmatch(HEX_NAME + r"\.png", attachment.filename)
    assert_saved(attachment, inbound_dir, generated_bytes("image", 2000))
    assert attachment.wav_path == ""
    assert saved_files(inbound_dir) == [attachment.filename]  # no .part, no extension-less copy


@pytest.mark.parametrize(
    ("data", "ext", "mime"),
    [
        (JPEG, ".jpg", "image/jpeg"),
        (GIF, ".gif", "image/gif"),
        (WEBP, ".webp", "image/webp"),
        (UNKNOWN_IMAGE, ".jpg", "image/jpeg"),
    ],
)
async def test_image_type_is_sniffed(
    sim: Simulator,
    bot: SimBot,
    client: WeixinClient,
    media: InboundMedia,
    inbound_dir: Path,
    data: bytes,
    ext: str,
    mime: str,
) -> None:
    msg = await receive(sim, bot, client, MediaSpec("image", data=data))
    [attachment] = await media.save_all(client, msg)
    assert attachment.filename.endswith(ext)
    assert attachment.mime_type == mime
    assert_saved(attachment, inbound_dir, data)


async def test_plain_image_without_key(
    sim: Simulator, bot: SimBot, client: WeixinClient, media: InboundMedia, inbound_dir: Path
) -> None:
    msg = await receive(sim, bot, client, MediaSpec("image", data=JPEG, key_encoding="none"))
    [attachment] = await media.save_all(client, msg)
    assert_saved(attachment, inbound_dir, JPEG)


async def test_file_keeps_its_name_and_type(
    sim: Simulator, bot: SimBot, client: WeixinClient, media: InboundMedia, inbound_dir: Path
) -> None:
    data = b"%PDF-1.7\n" + bytes(range(256)) * 20
    msg = await receive(sim, bot, client, MediaSpec("file", data=data, file_name="Q3 report.PDF"))
    [attachment] = await media.save_all(client, msg)
    assert attachment.kind == "file"
    assert re.fullmatch(HEX_NAME + r"-Q3_report\.pdf", attachment.filename)
    assert attachment.mime_type == "application/pdf"
    assert_saved(attachment, inbound_dir, data)


async def test_file_with_chinese_name_and_no_extension(
    sim: Simulator, bot: SimBot, client: WeixinClient, media: InboundMedia, inbound_dir: Path
) -> None:
    msg = await receive(
        sim,
        bot,
        client,
        MediaSpec("file", data=b"a", file_name="季度报告.txt"),
        MediaSpec("file", data=b"b", file_name="README"),
    )
    named, bare = await media.save_all(client, msg)
    assert re.fullmatch(HEX_NAME + r"-季度报告\.txt", named.filename)
    assert named.mime_type == "text/plain"
    assert re.fullmatch(HEX_NAME + r"-README\.bin", bare.filename)
    assert bare.mime_type == "application/octet-stream"
    assert_saved(named, inbound_dir, b"a")
    assert_saved(bare, inbound_dir, b"b")


async def test_video(
    sim: Simulator, bot: SimBot, client: WeixinClient, media: InboundMedia, inbound_dir: Path
) -> None:
    msg = await receive(sim, bot, client, MediaSpec("video", size=300_000, seed=3))
    [attachment] = await media.save_all(client, msg)
    assert attachment.kind == "video"
    assert re.fullmatch(HEX_NAME + r"\.mp4", attachment.filename)
    assert attachment.mime_type == "video/mp4"
    assert_saved(attachment, inbound_dir, generated_bytes("video", 300_000, 3))


async def test_voice_is_saved_and_transcoded(
    sim: Simulator, bot: SimBot, client: WeixinClient, media: InboundMedia, inbound_dir: Path
) -> None:
    pytest.importorskip("pysilk", reason="silk-python (the 'voice' extra) is not installed")
    from weixin_gateway.ilink.voice import pcm_to_silk, silk_to_wav

    silk = pcm_to_silk(b"\x00\x10" * 24_000)
    msg = await receive(sim, bot, client, MediaSpec("voice", data=silk, transcript="你好"))
    [attachment] = await media.save_all(client, msg)
    assert attachment.kind == "voice"
    assert attachment.mime_type == "audio/silk"
    path = assert_saved(attachment, inbound_dir, silk)
    assert re.fullmatch(HEX_NAME + r"\.silk", attachment.filename)
    wav = Path(attachment.wav_path)
    assert wav == path.with_suffix(".wav")
    assert read(wav) == silk_to_wav(silk)
    assert read(wav).startswith(b"RIFF")
    assert saved_files(inbound_dir) == sorted([path.name, wav.name])


async def test_voice_that_does_not_decode_is_kept_as_silk(
    sim: Simulator, bot: SimBot, client: WeixinClient, media: InboundMedia, inbound_dir: Path
) -> None:
    msg = await receive(sim, bot, client, MediaSpec("voice", size=3000))  # random after magic
    [attachment] = await media.save_all(client, msg)
    assert_saved(attachment, inbound_dir, generated_bytes("voice", 3000))
    assert attachment.wav_path == ""
    assert saved_files(inbound_dir) == [attachment.filename]


async def test_voice_without_transcoding(
    sim: Simulator, bot: SimBot, client: WeixinClient, inbound_dir: Path
) -> None:
    pytest.importorskip("pysilk", reason="silk-python (the 'voice' extra) is not installed")
    from weixin_gateway.ilink.voice import pcm_to_silk

    silk = pcm_to_silk(b"\x00\x10" * 2400)
    msg = await receive(sim, bot, client, MediaSpec("voice", data=silk))
    media = InboundMedia(inbound_dir, max_bytes=1 << 20, transcode_voice=False)
    [attachment] = await media.save_all(client, msg)
    assert attachment.wav_path == ""
    assert saved_files(inbound_dir) == [attachment.filename]


# --- whole messages -------------------------------------------------------------------------


async def test_every_media_item_in_order_text_skipped(
    sim: Simulator, bot: SimBot, client: WeixinClient, media: InboundMedia, inbound_dir: Path
) -> None:
    msg = await receive(
        sim,
        bot,
        client,
        MediaSpec("image", size=1000),
        TextSpec("between"),
        MediaSpec("file", size=777, file_name="notes.txt"),
        MediaSpec("video", size=5000),
        MediaSpec("voice", size=800),
        text="look at these",
    )
    attachments = await media.save_all(client, msg)
    assert [a.kind for a in attachments] == ["image", "file", "video", "voice"]
    assert_saved(attachments[0], inbound_dir, generated_bytes("image", 1000))
    assert_saved(attachments[1], inbound_dir, generated_bytes("file", 777))
    assert_saved(attachments[2], inbound_dir, generated_bytes("video", 5000))
    assert_saved(attachments[3], inbound_dir, generated_bytes("voice", 800))
    assert len({a.path for a in attachments}) == 4


async def test_text_only_message_has_no_attachments(
    sim: Simulator, bot: SimBot, client: WeixinClient, media: InboundMedia, inbound_dir: Path
) -> None:
    msg = await receive(sim, bot, client, text="just words")
    assert await media.save_all(client, msg) == []
    assert saved_files(inbound_dir.parent) == []  # nothing to save, nothing created


async def test_media_without_download_location_is_skipped(
    sim: Simulator, bot: SimBot, client: WeixinClient, media: InboundMedia
) -> None:
    msg = await receive(sim, bot, client, MediaSpec("image", size=100))
    item = (msg.item_list or [])[0]
    assert item.image_item is not None
    stripped = item.model_copy(
        update={"image_item": item.image_item.model_copy(update={"media": CDNMedia()})}
    )
    assert await media.save_all(client, msg.model_copy(update={"item_list": [stripped]})) == []


# --- failures -------------------------------------------------------------------------------


async def test_cdn_failure_is_an_attachment_with_error(
    sim: Simulator,
    bot: SimBot,
    client: WeixinClient,
    media: InboundMedia,
    inbound_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    msg = await receive(
        sim, bot, client, MediaSpec("image", size=500), MediaSpec("file", data=b"fine")
    )
    sim.add_fault(FaultPlan("status", route="cdn_download", status=500, error_message="boom"))
    failed, ok = await media.save_all(client, msg)
    assert failed.kind == "image"
    assert failed.error == "CDN answered HTTP 500"
    assert (failed.path, failed.filename, failed.size, failed.wav_path) == ("", "", 0, "")
    assert failed.to_json()["error"] == "CDN answered HTTP 500"
    assert_saved(ok, inbound_dir, b"fine")
    assert saved_files(inbound_dir) == [ok.filename]  # the failed one left nothing behind
    assert "not saved: CDN answered HTTP 500" in caplog.text


def _with_media(item: MessageItem, **changes: object) -> MessageItem:
    body_name = next(
        n for n in ("image_item", "video_item", "file_item", "voice_item") if getattr(item, n)
    )
    body = getattr(item, body_name)
    return item.model_copy(
        update={body_name: body.model_copy(update={"media": body.media.model_copy(update=changes)})}
    )


async def test_bogus_media_param_and_bad_key(
    sim: Simulator,
    bot: SimBot,
    client: WeixinClient,
    media: InboundMedia,
    inbound_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    msg = await receive(sim, bot, client, MediaSpec("video", size=400), MediaSpec("file", size=400))
    video, file = msg.item_list or []
    assert video.media is not None
    assert file.media is not None
    secrets = [bot.bot_token, video.media.aes_key or "", file.media.aes_key or ""]
    bogus = _with_media(video, encrypt_query_param="bogus", full_url=None)
    bad_key = _with_media(file, aes_key="c2hvcnQ=")
    broken = msg.model_copy(update={"item_list": [bogus, bad_key]})
    first, second = await media.save_all(client, broken)
    assert first.error == "CDN answered HTTP 404"
    assert second.error == "aes_key decodes to 5 bytes; expected 16 raw or 32 hex"
    assert saved_files(inbound_dir) == []
    for text in (first.error, second.error, caplog.text):
        for secret in secrets:
            assert secret not in text


async def test_network_failure_and_size_cap(sim: Simulator, bot: SimBot, inbound_dir: Path) -> None:
    sim.configure(inbound_full_url=False)
    async with WeixinClient.from_account(bot, cdn_base_url=DEAD_CDN) as dead:
        msg = await receive(sim, bot, dead, MediaSpec("file", size=100))
        [attachment] = await InboundMedia(inbound_dir, max_bytes=1000).save_all(dead, msg)
        cursor = dead.cursor
    assert attachment.error.startswith("network error (")
    assert "127.0.0.1" not in attachment.error  # no URL (it carries the download parameter)
    async with WeixinClient.from_account(bot, cursor=cursor) as client:
        msg = await receive(sim, bot, client, MediaSpec("file", size=5000))
        [too_big] = await InboundMedia(inbound_dir, max_bytes=4096).save_all(client, msg)
    assert "over the limit of 4096 bytes" in too_big.error
    assert saved_files(inbound_dir) == []


async def test_unwritable_directory_is_an_error_not_an_exception(
    sim: Simulator, bot: SimBot, client: WeixinClient, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"")
    msg = await receive(sim, bot, client, MediaSpec("image", size=100))
    [attachment] = await InboundMedia(blocker / "inbound", max_bytes=1000).save_all(client, msg)
    assert attachment.error.startswith("cannot save the file: ")
    assert attachment.path == ""


# --- file names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../../escape.txt",
        "..\\..\\evil.bat",
        "/etc/passwd",
        "..",
        ".",
        "...",
        "a/../../b.txt",
        ".hidden",
        "nul\x00byte.txt",
        "new\nline.txt",
        "x" * 300 + ".txt",
        "报告" * 100 + ".docx",
    ],
)
async def test_file_names_never_escape_the_directory(
    sim: Simulator,
    bot: SimBot,
    client: WeixinClient,
    media: InboundMedia,
    inbound_dir: Path,
    tmp_path: Path,
    name: str,
) -> None:
    msg = await receive(sim, bot, client, MediaSpec("file", data=b"payload", file_name=name))
    [attachment] = await media.save_all(client, msg)
    path = assert_saved(attachment, inbound_dir, b"payload")
    assert path.name.startswith("weixin-inbound-")
    assert len(path.name.encode()) <= 200
    assert "\x00" not in path.name
    assert "\n" not in path.name
    assert saved_files(tmp_path) == ["data"]
    assert saved_files(tmp_path / "data") == ["inbound"]
    assert saved_files(inbound_dir) == [path.name]


def test_safe_file_name_examples() -> None:
    assert safe_file_name("../../escape.txt") == ("escape", ".txt")
    assert safe_file_name("C:\\Users\\me\\My File.XLSX") == ("My_File", ".xlsx")
    assert safe_file_name("..") == ("", "")
    assert safe_file_name(".bashrc") == ("bashrc", "")
    assert safe_file_name("archive.tar.gz") == ("archive.tar", ".gz")
    assert safe_file_name("weird.ext!") == ("weird.ext", "")
    assert safe_file_name(None) == ("", "")


@given(st.text())
def test_safe_file_name_is_always_one_harmless_component(name: str) -> None:
    stem, ext = safe_file_name(name)
    joined = stem + ext
    assert "/" not in joined
    assert "\\" not in joined
    assert not stem.startswith(".")
    assert joined not in (".", "..")
    assert all(ch.isprintable() and not ch.isspace() for ch in joined)
    assert len(stem.encode()) <= 120
    assert re.fullmatch(r"(\.[a-z0-9]{1,10})?", ext)


def test_sniff_image() -> None:
    assert sniff_image(b"\x89PNG\r\n\x1a\n....") == (".png", "image/png")
    assert sniff_image(JPEG[:16]) == (".jpg", "image/jpeg")
    assert sniff_image(GIF[:16]) == (".gif", "image/gif")
    assert sniff_image(b"GIF87a") == (".gif", "image/gif")
    assert sniff_image(WEBP[:16]) == (".webp", "image/webp")
    assert sniff_image(b"BM\x00\x00") == (".bmp", "image/bmp")
    assert sniff_image(b"") == (".jpg", "image/jpeg")


async def test_cancellation_propagates_and_leaves_no_file(
    sim: Simulator, bot: SimBot, client: WeixinClient, media: InboundMedia, inbound_dir: Path
) -> None:
    msg = await receive(sim, bot, client, MediaSpec("file", size=1000))
    sim.add_fault(FaultPlan("latency", route="cdn_download", delay_ms=5000))
    task = asyncio.create_task(media.save_all(client, msg))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert saved_files(inbound_dir) == []
