"""Media: getuploadurl validation, the CDN upload/download, inbound media in every key encoding."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from weixin_gateway.ilink.crypto import (
    aes_key_b64_hex,
    decrypt_ecb,
    encrypt_ecb,
    padded_size,
    parse_aes_key,
    parse_hex_key,
)
from weixin_gateway.simulator import (
    KeyEncoding,
    MediaKind,
    MediaSpec,
    SimBot,
    Simulator,
    generated_bytes,
)

from .conftest import BASE_INFO, ILinkClient, Reply, text_msg

# ilink-vectors.md §8.1 / §10.2: the 100-byte image the 2.4.9 client uploaded.
PLAIN = bytes.fromhex("89504e470d0a1a0a") + b"\x07" * 92
KEY_HEX = "eb3d6b9752ee6190fb7bc1f8fb97e98e"
FILEKEY = "dd6d16d2334f45bd253a774e7b58197a"


def _upload_request(
    user_id: str, plain: bytes = PLAIN, key_hex: str = KEY_HEX, media_type: int = 1
) -> dict[str, object]:
    return {
        "filekey": FILEKEY,
        "media_type": media_type,
        "to_user_id": user_id,
        "rawsize": len(plain),
        "rawfilemd5": hashlib.md5(plain, usedforsecurity=False).hexdigest(),
        "filesize": padded_size(len(plain)),
        "no_need_thumb": True,
        "aeskey": key_hex,
        "base_info": BASE_INFO,
    }


async def _getuploadurl(client: ILinkClient, bot: SimBot, **change: object) -> Reply:
    body = _upload_request("o9cq800kum_x@im.wechat")
    body.update(change)
    return await client.post("/ilink/bot/getuploadurl", body, token=bot.bot_token)


async def _cdn_upload(client: ILinkClient, url: str, data: bytes) -> Reply:
    async with client.http.post(
        url, data=io.BytesIO(data), headers={"Content-Type": "application/octet-stream"}
    ) as resp:
        return Reply(resp.status, await resp.text(), dict(resp.headers))


async def _download(client: ILinkClient, url: str) -> bytes:
    async with client.http.get(url) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.read()


async def test_getuploadurl_answers_full_url_and_param(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    answer = (await _getuploadurl(client, bot)).json()
    assert answer["ret"] == 0
    param = answer["upload_param"]
    assert isinstance(param, str)
    assert answer["upload_full_url"] == (
        f"{sim.cdn_base_url}/upload?encrypted_query_param={quote(param, safe='')}&filekey={FILEKEY}"
    )


async def test_upload_round_trip_through_the_full_url(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    msg = sim.inject_message(bot.bot_id, text="send me a picture")
    answer = (await _getuploadurl(client, bot)).json()
    cipher = encrypt_ecb(bytes.fromhex(KEY_HEX), PLAIN)
    assert len(cipher) == 112
    upload = await _cdn_upload(client, str(answer["upload_full_url"]), cipher)
    assert upload.status == 200, upload.text
    download_param = upload.headers["x-encrypted-param"]
    assert download_param

    fetched = await _download(
        client,
        f"{sim.cdn_base_url}/download?encrypted_query_param={quote(download_param, safe='')}",
    )
    assert fetched == cipher

    image = {
        "type": 2,
        "image_item": {
            "media": {
                "encrypt_query_param": download_param,
                "aes_key": aes_key_b64_hex(bytes.fromhex(KEY_HEX)),
                "encrypt_type": 1,
            },
            "mid_size": 112,
        },
    }
    sent = await client.sendmessage(
        bot.bot_token, text_msg(msg.from_user_id, "", msg.context_token, item_list=[image])
    )
    assert sent.json()["ret"] == 0
    [record] = sim.sent(bot.bot_id)
    assert record.items[0].type == "image"
    assert record.items[0].data == PLAIN
    assert record.items[0].size == 100
    view = (await client.get(f"/_sim/bots/{bot.bot_id}/sent")).json()
    item = view["messages"][0]["items"][0]
    assert item == {"type": "image", "size": 100, "data_base64": base64.b64encode(PLAIN).decode()}


async def test_file_upload_through_the_cdn_base_fallback(
    sim: Simulator, client: ILinkClient
) -> None:
    sim.configure(upload_full_url=False)
    bot = sim.create_bot()
    msg = sim.inject_message(bot.bot_id, text="a file please")
    plain = b"quarterly numbers: 1,2,3,4,5,6\n" * 1000
    key_hex = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    answer = (
        await client.post(
            "/ilink/bot/getuploadurl",
            _upload_request(msg.from_user_id, plain, key_hex, media_type=3),
            token=bot.bot_token,
        )
    ).json()
    assert "upload_full_url" not in answer
    param = str(answer["upload_param"])
    url = (
        f"{sim.cdn_base_url}/upload?encrypted_query_param={quote(param, safe='')}&filekey={FILEKEY}"
    )
    upload = await _cdn_upload(client, url, encrypt_ecb(bytes.fromhex(key_hex), plain))
    assert upload.status == 200
    item = {
        "type": 4,
        "file_item": {
            "media": {
                "encrypt_query_param": upload.headers["x-encrypted-param"],
                "aes_key": aes_key_b64_hex(bytes.fromhex(key_hex)),
                "encrypt_type": 1,
            },
            "file_name": "q3.txt",
            "len": str(len(plain)),
        },
    }
    await client.sendmessage(
        bot.bot_token, text_msg(msg.from_user_id, "", msg.context_token, item_list=[item])
    )
    [record] = sim.sent(bot.bot_id)
    assert (record.items[0].type, record.items[0].file_name) == ("file", "q3.txt")
    assert record.items[0].data == plain


async def test_a_large_upload_streams_to_disk(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    plain = generated_bytes("video", 3 * 1024 * 1024 + 5)
    key_hex = "00112233445566778899aabbccddeeff"
    answer = (
        await client.post(
            "/ilink/bot/getuploadurl",
            _upload_request("u@im.wechat", plain, key_hex, media_type=2),
            token=bot.bot_token,
        )
    ).json()
    cipher = encrypt_ecb(bytes.fromhex(key_hex), plain)
    upload = await _cdn_upload(client, str(answer["upload_full_url"]), cipher)
    assert upload.status == 200
    param = upload.headers["x-encrypted-param"]
    blob = sim.blob_store.blob(param)
    assert blob is not None
    assert blob.path.parent == sim.blob_store.directory
    assert blob.path.stat().st_size == len(cipher)
    url = f"{sim.cdn_base_url}/download?encrypted_query_param={quote(param, safe='')}"
    assert await _download(client, url) == cipher


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"filekey": "xyz"}, "filekey"),
        ({"aeskey": "00" * 15}, "aeskey"),
        ({"rawfilemd5": "nothex"}, "rawfilemd5"),
        ({"media_type": 5}, "media_type"),
        ({"filesize": 100}, "filesize"),
        ({"rawsize": "100"}, "rawsize"),
        ({"rawsize": -1, "filesize": 16}, "rawsize"),
    ],
)
async def test_getuploadurl_validation(
    sim: Simulator, client: ILinkClient, change: dict[str, object], field: str
) -> None:
    bot = sim.create_bot()
    reply = await _getuploadurl(client, bot, **change)
    assert reply.status == 400
    assert reply.json()["field"] == field


async def test_getuploadurl_requires_its_fields(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    body = _upload_request("u@im.wechat")
    del body["aeskey"]
    reply = await client.post("/ilink/bot/getuploadurl", body, token=bot.bot_token)
    assert reply.status == 400
    assert reply.json()["field"] == "aeskey"


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda c: c[:-16], "does not equal filesize"),
        (lambda c: c + b"\x00" * 16, "longer than filesize"),
        (lambda c: encrypt_ecb(bytes(16), PLAIN), "cannot decrypt"),
        (lambda c: encrypt_ecb(bytes.fromhex(KEY_HEX), PLAIN[:-1] + b"\x08"), "md5"),
    ],
    ids=["short", "long", "wrong-key", "wrong-md5"],
)
async def test_cdn_refuses_bad_uploads_with_x_error_message(
    sim: Simulator, client: ILinkClient, tamper: object, message: str
) -> None:
    bot = sim.create_bot()
    answer = (await _getuploadurl(client, bot)).json()
    cipher = encrypt_ecb(bytes.fromhex(KEY_HEX), PLAIN)
    assert callable(tamper)
    upload = await _cdn_upload(client, str(answer["upload_full_url"]), tamper(cipher))
    assert upload.status == 400
    assert message in upload.headers["x-error-message"]
    assert "x-encrypted-param" not in upload.headers
    assert list(sim.blob_store.directory.glob("*.part")) == []


async def test_cdn_refuses_unknown_params_and_filekeys(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    answer = (await _getuploadurl(client, bot)).json()
    cipher = encrypt_ecb(bytes.fromhex(KEY_HEX), PLAIN)
    wrong_key = str(answer["upload_full_url"]).replace(FILEKEY, "0" * 32)
    assert (await _cdn_upload(client, wrong_key, cipher)).headers["x-error-message"] == (
        "invalid filekey"
    )
    unknown = f"{sim.cdn_base_url}/upload?encrypted_query_param=nope&filekey={FILEKEY}"
    assert (await _cdn_upload(client, unknown, cipher)).status == 400
    async with client.http.get(f"{sim.cdn_base_url}/download?encrypted_query_param=nope") as r:
        assert r.status == 404
        assert r.headers["x-error-message"] == "unknown encrypted_query_param"


def _media_of(item: dict[str, Any]) -> Any:
    body = next(v for k, v in item.items() if k.endswith("_item"))
    assert isinstance(body, dict)
    return body


@pytest.mark.parametrize("kind", ["image", "file", "video", "voice"])
@pytest.mark.parametrize("encoding", ["raw", "hex"])
async def test_inbound_media_decrypts_with_either_key_encoding(
    sim: Simulator, client: ILinkClient, kind: MediaKind, encoding: KeyEncoding
) -> None:
    bot = sim.create_bot()
    data = b"hello from the fake CDN: inbound file payload\n" * 3
    spec = MediaSpec(kind, data=data, key_encoding=encoding, image_aeskey=False)
    sim.inject_message(bot.bot_id, items=[spec])
    [msg] = (await client.getupdates(bot.bot_token))["msgs"]
    [item] = msg["item_list"]
    body = _media_of(item)
    media = body["media"]
    assert media["encrypt_type"] == 1
    raw_key = base64.b64decode(media["aes_key"])
    assert len(raw_key) == (16 if encoding == "raw" else 32)
    key = parse_aes_key(media["aes_key"])
    # Both URLs serve the same ciphertext: the full_url and the CDN-base fallback.
    by_full_url = await _download(client, media["full_url"])
    param = quote(media["encrypt_query_param"], safe="")
    by_param = await _download(client, f"{sim.cdn_base_url}/download?encrypted_query_param={param}")
    assert by_full_url == by_param
    assert decrypt_ecb(key, by_param) == data
    if kind == "image":
        assert "aeskey" not in body
        assert body["mid_size"] == len(by_param)
    if kind == "file":
        assert body["file_name"] == "file.bin"
        assert body["md5"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
        assert body["len"] == str(len(data))
    if kind == "video":
        assert body["video_size"] == len(by_param)
        assert body["video_md5"] == hashlib.md5(data, usedforsecurity=False).hexdigest()


async def test_inbound_image_carries_the_hex_aeskey_by_default(
    sim: Simulator, client: ILinkClient
) -> None:
    bot = sim.create_bot()
    sim.inject_message(bot.bot_id, items=[MediaSpec("image", size=20)])
    [msg] = (await client.getupdates(bot.bot_token))["msgs"]
    image = msg["item_list"][0]["image_item"]
    assert len(base64.b64decode(image["media"]["aes_key"])) == 16  # raw by default for images
    cipher = await _download(client, image["media"]["full_url"])
    plain = decrypt_ecb(parse_hex_key(image["aeskey"]), cipher)
    assert plain == generated_bytes("image", 20)
    assert plain.startswith(b"\x89PNG")


async def test_inbound_plain_image_without_keys(sim: Simulator, client: ILinkClient) -> None:
    sim.configure(inbound_full_url=False)
    bot = sim.create_bot()
    sim.inject_message(
        bot.bot_id, items=[MediaSpec("image", data=b"plain pixels", key_encoding="none")]
    )
    [msg] = (await client.getupdates(bot.bot_token))["msgs"]
    image = msg["item_list"][0]["image_item"]
    assert "aeskey" not in image
    assert "aes_key" not in image["media"]
    assert "full_url" not in image["media"]
    param = quote(image["media"]["encrypt_query_param"], safe="")
    assert await _download(
        client, f"{sim.cdn_base_url}/download?encrypted_query_param={param}"
    ) == (b"plain pixels")


async def test_inbound_voice_fields_and_generated_silk(sim: Simulator, client: ILinkClient) -> None:
    bot = sim.create_bot()
    sim.inject_message(
        bot.bot_id,
        items=[
            MediaSpec("voice", size=3596, transcript="明天早上八点提醒我开会"),
            MediaSpec("voice", size=100, playtime_ms=2300),
        ],
    )
    [msg] = (await client.getupdates(bot.bot_token))["msgs"]
    first, second = (item["voice_item"] for item in msg["item_list"])
    assert first["encode_type"] == 6
    assert first["sample_rate"] == 24000
    assert first["bits_per_sample"] == 16
    assert first["playtime"] == 1000
    assert first["text"] == "明天早上八点提醒我开会"
    assert second["playtime"] == 2300
    assert "text" not in second
    plain = decrypt_ecb(
        parse_aes_key(first["media"]["aes_key"]),
        await _download(client, first["media"]["full_url"]),
    )
    assert plain.startswith(b"\x02#!SILK_V3")
    assert plain == generated_bytes("voice", 3596)
    assert generated_bytes("voice", 3596) == generated_bytes("voice", 3596)
    assert generated_bytes("voice", 3596, seed=1) != generated_bytes("voice", 3596)


async def test_inbound_media_from_a_path(
    sim: Simulator, client: ILinkClient, tmp_path: Path
) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.4 not really")
    bot = sim.create_bot()
    sim.inject_message(bot.bot_id, text="see attached", items=[MediaSpec("file", path=str(path))])
    [msg] = (await client.getupdates(bot.bot_token))["msgs"]
    text, file = msg["item_list"]
    assert text["text_item"]["text"] == "see attached"
    body = file["file_item"]
    assert body["file_name"] == "report.pdf"
    cipher = await _download(client, body["media"]["full_url"])
    assert decrypt_ecb(parse_aes_key(body["media"]["aes_key"]), cipher) == path.read_bytes()


async def test_cdn_files_are_removed_on_close() -> None:
    async with Simulator() as sim:
        bot = sim.create_bot()
        sim.inject_message(bot.bot_id, items=[MediaSpec("file", size=10)])
        directory = sim.blob_store.directory
        assert any(directory.iterdir())
    assert not directory.exists()
