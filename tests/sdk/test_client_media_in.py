"""Inbound media against the simulator: URLs, both key encodings, key priority, caps, errors."""

from __future__ import annotations

import io
import os
from pathlib import Path

import aiohttp
import pytest

from weixin_gateway.errors import HttpStatusError, MediaError, MediaTooLargeError
from weixin_gateway.ilink.client import WeixinClient
from weixin_gateway.ilink.crypto import aes_key_b64_raw, decrypt_ecb, parse_aes_key
from weixin_gateway.ilink.media import pick_media_item
from weixin_gateway.ilink.wire import CDNMedia, MessageItem, WeixinMessage
from weixin_gateway.simulator import KeyEncoding, MediaKind, MediaSpec, QuoteSpec, SimBot, Simulator

from .conftest import requests_to

DEAD_CDN = "http://127.0.0.1:9/c2c"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3


async def inbound(
    sim: Simulator, bot: SimBot, client: WeixinClient, *specs: MediaSpec
) -> WeixinMessage:
    sim.inject_message(bot.bot_id, items=list(specs))
    (msg,) = (await client.poll()).msgs
    return msg


def with_media(item: MessageItem, **changes: object) -> MessageItem:
    """A copy of ``item`` whose media body has ``changes`` applied (media or image fields)."""
    body_name = next(n for n in ("image_item", "video_item", "file_item", "voice_item")
                     if getattr(item, n) is not None)  # fmt: skip
    body = getattr(item, body_name)
    media_changes = {k: v for k, v in changes.items() if k in CDNMedia.model_fields}
    body_changes = {k: v for k, v in changes.items() if k not in CDNMedia.model_fields}
    media = body.media.model_copy(update=media_changes)
    return item.model_copy(
        update={body_name: body.model_copy(update={"media": media, **body_changes})}
    )


async def test_image_via_full_url(sim: Simulator, bot: SimBot) -> None:
    async with WeixinClient.from_account(bot, cdn_base_url=DEAD_CDN) as client:
        msg = await inbound(sim, bot, client, MediaSpec(type="image", data=PNG))
        item = pick_media_item(msg)
        assert item is not None
        assert item.image_item is not None
        assert item.image_item.media is not None
        assert item.image_item.media.full_url
        assert await client.download_media(item) == PNG
        assert await client.download_media(msg) == PNG  # picks the item itself


async def test_cdn_fallback_url(sim: Simulator, bot: SimBot, client: WeixinClient) -> None:
    sim.configure(inbound_full_url=False)
    msg = await inbound(sim, bot, client, MediaSpec(type="file", data=b"report", file_name="r.txt"))
    item = pick_media_item(msg)
    assert item is not None
    assert item.media is not None
    assert item.media.full_url is None
    assert await client.download_media(item) == b"report"
    (get,) = requests_to(sim, "cdn_download")
    assert get.method == "GET"
    assert get.path == "/c2c/download"
    assert get.query_param("encrypted_query_param") == item.media.encrypt_query_param
    assert get.header("Authorization") is None


@pytest.mark.parametrize("encoding", ["raw", "hex"])
@pytest.mark.parametrize("kind", ["file", "video", "voice", "image"])
async def test_both_key_encodings(
    sim: Simulator, bot: SimBot, client: WeixinClient, encoding: KeyEncoding, kind: MediaKind
) -> None:
    data = b"\x02#!SILK_V3" + b"payload" * 40 if kind == "voice" else b"media bytes " * 40
    spec = MediaSpec(type=kind, data=data, key_encoding=encoding, image_aeskey=False)
    msg = await inbound(sim, bot, client, spec)
    item = pick_media_item(msg)
    assert item is not None
    assert item.media is not None
    assert item.media.aes_key is not None
    assert len(item.media.aes_key) == (24 if encoding == "raw" else 44)
    assert await client.download_media(item) == data


async def test_image_hex_aeskey_has_priority(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    msg = await inbound(sim, bot, client, MediaSpec(type="image", data=PNG))
    item = pick_media_item(msg)
    assert item is not None
    assert item.image_item is not None
    assert item.image_item.aeskey
    wrong = aes_key_b64_raw(b"\x00" * 16)
    assert await client.download_media(with_media(item, aes_key=wrong)) == PNG
    right_aes_key = item.image_item.media.aes_key if item.image_item.media else None
    bad_hex = with_media(item, aeskey="00" * 16, aes_key=right_aes_key)
    with pytest.raises(MediaError):
        await client.download_media(bad_hex)


async def test_plain_image_without_any_key(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    msg = await inbound(sim, bot, client, MediaSpec(type="image", data=PNG, key_encoding="none"))
    item = pick_media_item(msg)
    assert item is not None
    assert item.image_item is not None
    assert item.image_item.aeskey is None
    assert await client.download_media(item) == PNG


async def test_non_image_without_key_is_an_error(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    msg = await inbound(sim, bot, client, MediaSpec(type="video", data=b"v" * 50))
    item = pick_media_item(msg)
    assert item is not None
    with pytest.raises(MediaError, match="aes_key"):
        await client.download_media(with_media(item, aes_key=None))
    with pytest.raises(MediaError, match="expected 16 raw or 32 hex"):
        await client.download_media(with_media(item, aes_key="c2hvcnQ="))
    assert requests_to(sim, "cdn_download") == []  # refused before any download


async def test_wrong_key_is_bad_padding(sim: Simulator, bot: SimBot, client: WeixinClient) -> None:
    msg = await inbound(sim, bot, client, MediaSpec(type="file", data=b"secret " * 20))
    item = pick_media_item(msg)
    assert item is not None
    assert item.media is not None
    assert item.media.full_url is not None
    async with aiohttp.ClientSession() as http, http.get(item.media.full_url) as resp:
        ciphertext = await resp.read()
    assert decrypt_ecb(parse_aes_key(item.media.aes_key or ""), ciphertext) == b"secret " * 20

    def fails(key: bytes) -> bool:
        try:
            decrypt_ecb(key, ciphertext)
        except MediaError:
            return True
        return False

    wrong = next(k for k in (bytes([i]) * 16 for i in range(256)) if fails(k))
    with pytest.raises(MediaError, match="padding"):
        await client.download_media(with_media(item, aes_key=aes_key_b64_raw(wrong)))


async def test_unknown_param_is_an_http_error(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    sim.configure(inbound_full_url=False)
    msg = await inbound(sim, bot, client, MediaSpec(type="file", data=b"x" * 10))
    item = pick_media_item(msg)
    assert item is not None
    with pytest.raises(HttpStatusError) as info:
        await client.download_media(with_media(item, encrypt_query_param="nope"))
    assert info.value.status == 404


async def test_size_cap(sim: Simulator, bot: SimBot, tmp_path: Path) -> None:
    data = b"c" * 5000
    async with WeixinClient.from_account(bot, media_max_bytes=4999) as client:
        msg = await inbound(sim, bot, client, MediaSpec(type="file", data=data))
        item = pick_media_item(msg)
        assert item is not None
        with pytest.raises(MediaTooLargeError):
            await client.download_media(item)
        assert await client.download_media(item, max_bytes=5000) == data
        with pytest.raises(MediaTooLargeError):
            await client.download_media(item, max_bytes=4096)
        target = tmp_path / "out.bin"
        with pytest.raises(MediaTooLargeError):
            await client.download_media_to(item, target)
        assert not target.exists()  # a failed download leaves no partial file
        assert os.listdir(tmp_path) == []
        plain = await inbound(
            sim, bot, client, MediaSpec(type="image", data=PNG, key_encoding="none")
        )
        with pytest.raises(MediaTooLargeError):
            await client.download_media(plain, max_bytes=len(PNG) - 1)
        assert await client.download_media(plain, max_bytes=len(PNG)) == PNG


async def test_download_to_path_and_file_object(
    sim: Simulator, bot: SimBot, client: WeixinClient, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 4000  # about 1 MiB: several chunks
    msg = await inbound(sim, bot, client, MediaSpec(type="video", data=data))
    target = tmp_path / "video.mp4"
    assert await client.download_media_to(msg, target) == len(data)
    assert target.read_bytes() == data
    sink = io.BytesIO()
    assert await client.download_media_to(msg, sink) == len(data)
    assert sink.getvalue() == data
    assert await client.download_media_to(msg, str(tmp_path / "again.mp4")) == len(data)


async def test_quoted_media_and_messages_without_media(
    sim: Simulator, bot: SimBot, client: WeixinClient
) -> None:
    sim.inject_message(
        bot.bot_id,
        text="what is this?",
        ref_msg=QuoteSpec(item=MediaSpec(type="file", data=b"quoted file", file_name="q.txt")),
    )
    (msg,) = (await client.poll()).msgs
    assert await client.download_media(msg) == b"quoted file"
    sim.inject_message(bot.bot_id, text="just text")
    (text_only,) = (await client.poll()).msgs
    with pytest.raises(MediaError, match="no downloadable media"):
        await client.download_media(text_only)


async def test_inbound_voice_to_wav(sim: Simulator, bot: SimBot, client: WeixinClient) -> None:
    voice = pytest.importorskip("weixin_gateway.ilink.voice")
    pytest.importorskip("pysilk", reason="silk-python (the 'voice' extra) is not installed")
    silk = voice.pcm_to_silk(b"\x00\x10" * 24_000)
    msg = await inbound(sim, bot, client, MediaSpec(type="voice", data=silk))
    wav = voice.silk_to_wav(await client.download_media(msg))
    assert wav.startswith(b"RIFF")
    assert len(wav) == 44 + 48_000
