"""The iLink bot API routes (ilink.md §4-§10), answering like the real server.

Bot routes check ``Authorization: Bearer <bot_token>`` first and answer a bad, missing or
revoked token with HTTP 200 ``{"ret":-14,"errcode":-14,"errmsg":"session timeout"}``. The QR
routes need no token. iLink headers are never required. A body that is not a JSON object, or has
a field of the wrong type, gets HTTP 400 with ``{"ret":-1,"errcode":-1,"errmsg","field"}``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler

from weixin_gateway.ilink.crypto import padded_size, parse_hex_key
from weixin_gateway.ilink.protocol import Paths
from weixin_gateway.ilink.wire import (
    GetConfigRequest,
    GetUpdatesRequest,
    GetUploadUrlRequest,
    MessageType,
    NotifyRequest,
    QrCodeRequest,
    QrStatus,
    SendMessageRequest,
    SendTypingRequest,
    TypingStatus,
)

from ._errors import SimulatorError
from ._http import (
    SESSION_TIMEOUT,
    bearer_token,
    json_bytes,
    json_response,
    read_json_object,
    validate,
)
from .records import Notification, TypingEvent
from .state import BotState

if TYPE_CHECKING:
    from .server import Simulator

__all__ = ["ILinkRoutes"]

log = logging.getLogger(__name__)

_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")


def _hex32(value: str, field: str) -> str:
    if not _HEX32.match(value):
        raise SimulatorError(f"{field} must be 32 hex characters", field=field)
    return value


def _session_timeout() -> web.Response:
    return json_response(SESSION_TIMEOUT)


class ILinkRoutes:
    """Handlers for ``/ilink/bot/*``."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim

    def register(self, router: web.UrlDispatcher) -> None:
        def add(path: str, name: str, methods: dict[str, Handler]) -> None:
            resource = router.add_resource("/" + path, name=name)
            for method, handler in methods.items():
                resource.add_route(method, handler)

        add(
            Paths.GET_BOT_QRCODE,
            "get_bot_qrcode",
            {"GET": self.get_bot_qrcode, "POST": self.get_bot_qrcode},
        )
        add(Paths.GET_QRCODE_STATUS, "get_qrcode_status", {"GET": self.get_qrcode_status})
        add(Paths.GETUPDATES, "getupdates", {"POST": self.getupdates})
        add(Paths.SENDMESSAGE, "sendmessage", {"POST": self.sendmessage})
        add(Paths.GETUPLOADURL, "getuploadurl", {"POST": self.getuploadurl})
        add(Paths.GETCONFIG, "getconfig", {"POST": self.getconfig})
        add(Paths.SENDTYPING, "sendtyping", {"POST": self.sendtyping})
        add(Paths.NOTIFY_START, "notifystart", {"POST": self.notifystart})
        add(Paths.NOTIFY_STOP, "notifystop", {"POST": self.notifystop})

    def _bot(self, request: web.Request) -> BotState | None:
        bot = self._sim.world.bot_for_token(bearer_token(request))
        return None if bot is None or bot.expired else bot

    # --- QR login -------------------------------------------------------------------------------

    async def get_bot_qrcode(self, request: web.Request) -> web.Response:
        tokens: tuple[str, ...] = ()
        if request.method == "POST":
            body = validate(QrCodeRequest, await read_json_object(request))
            tokens = tuple(body.local_token_list)
        state = self._sim.qr.create(bot_type=request.query.get("bot_type"), local_tokens=tokens)
        return json_response({"qrcode": state.qrcode, "qrcode_img_content": state.img, "ret": 0})

    async def get_qrcode_status(self, request: web.Request) -> web.Response:
        qrcode = request.query.get("qrcode")
        if not qrcode:
            raise SimulatorError("query parameter qrcode is required", field="qrcode")
        state = self._sim.qr.sessions.get(qrcode)
        if state is None:
            return json_response({"ret": 0, "status": QrStatus.EXPIRED})
        config = self._sim.config
        answer = await self._sim.qr.poll(
            state,
            verify_code=request.query.get("verify_code"),
            hold=config.qr_hold_seconds,
            ttl=config.qr_ttl_seconds,
            attempts=config.verify_code_attempts,
            closing=lambda: self._sim.closing,
        )
        return json_response(answer)

    # --- long poll ------------------------------------------------------------------------------

    async def getupdates(self, request: web.Request) -> web.Response:
        bot = self._bot(request)
        if bot is None:
            return _session_timeout()
        body = validate(GetUpdatesRequest, await read_json_object(request))
        config = self._sim.config
        mailbox = bot.mailbox
        seq = mailbox.parse_cursor(body.get_updates_buf)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + config.hold_seconds
        timed_out = False
        while True:
            batch = mailbox.after(seq, config.max_batch)
            if batch or timed_out or bot.expired or self._sim.closing:
                break
            self._sim.held_polls += 1
            try:
                timed_out = not await mailbox.waiters.wait(deadline - loop.time())
            finally:
                self._sim.held_polls -= 1
        if bot.expired:
            return _session_timeout()
        last = batch[-1].seq if batch else (seq if seq is not None else mailbox.last_seq)
        strings = self._sim.config.ids_as_strings
        payload = b"".join(
            (
                b'{"ret":0,"msgs":[',
                b",".join(m.json(ids_as_strings=strings) for m in batch),
                b'],"get_updates_buf":',
                json_bytes(mailbox.cursor(last)),
                b',"longpolling_timeout_ms":',
                str(config.longpolling_timeout_ms).encode(),
                b"}",
            )
        )
        return json_response(payload)

    # --- sending --------------------------------------------------------------------------------

    async def sendmessage(self, request: web.Request) -> web.Response:
        bot = self._bot(request)
        if bot is None:
            return _session_timeout()
        msg = validate(SendMessageRequest, await read_json_object(request)).msg
        if not msg.to_user_id:
            raise SimulatorError("msg.to_user_id is required", field="msg.to_user_id")
        if msg.item_list is not None and len(msg.item_list) > 1:
            raise SimulatorError("msg.item_list must hold one item at most", field="msg.item_list")
        if msg.message_type != MessageType.BOT:
            raise SimulatorError("msg.message_type must be 2 (BOT)", field="msg.message_type")
        sim = self._sim
        config = sim.config
        now = sim.clock.time()
        rule = sim.world.refusal(bot, msg, now=now, config=config)
        if rule is not None:
            log.info("sendmessage of bot %s refused with ret -2 by rule %s", bot.bot_id, rule)
            return json_response({"ret": -2, "errmsg": ""})
        message_id = sim.ids.message_id()
        sim.world.record_send(bot, msg, message_id=message_id, now=now, cap=config.retention)
        wire_id: int | str = str(message_id) if config.ids_as_strings else message_id
        return json_response({"ret": 0, "message_id": wire_id})

    async def getuploadurl(self, request: web.Request) -> web.Response:
        bot = self._bot(request)
        if bot is None:
            return _session_timeout()
        body = validate(GetUploadUrlRequest, await read_json_object(request))
        _hex32(body.filekey, "filekey")
        _hex32(body.rawfilemd5, "rawfilemd5")
        aes_key = parse_hex_key(_hex32(body.aeskey, "aeskey"))
        if body.media_type not in (1, 2, 3, 4):
            raise SimulatorError("media_type must be 1, 2, 3 or 4", field="media_type")
        if body.rawsize < 0:
            raise SimulatorError("rawsize must not be negative", field="rawsize")
        if body.filesize != padded_size(body.rawsize):
            raise SimulatorError(
                f"filesize must be {padded_size(body.rawsize)} for rawsize {body.rawsize}",
                field="filesize",
            )
        sim = self._sim
        pending = sim.blob_store.register_upload(
            filekey=body.filekey,
            aes_key=aes_key,
            media_type=body.media_type,
            rawsize=body.rawsize,
            rawfilemd5=body.rawfilemd5,
            filesize=body.filesize,
            to_user_id=body.to_user_id,
            bot_id=bot.bot_id,
        )
        answer: dict[str, object] = {"ret": 0, "upload_param": pending.upload_param}
        if sim.config.upload_full_url:
            answer["upload_full_url"] = (
                f"{sim.cdn_base_url}/upload?encrypted_query_param="
                f"{quote(pending.upload_param, safe='')}&filekey={quote(body.filekey, safe='')}"
            )
        return json_response(answer)

    # --- typing ---------------------------------------------------------------------------------

    async def getconfig(self, request: web.Request) -> web.Response:
        bot = self._bot(request)
        if bot is None:
            return _session_timeout()
        body = validate(GetConfigRequest, await read_json_object(request))
        ticket = self._sim.ids.typing_ticket(bot.bot_id, body.ilink_user_id)
        return json_response({"ret": 0, "typing_ticket": ticket})

    async def sendtyping(self, request: web.Request) -> web.Response:
        bot = self._bot(request)
        if bot is None:
            return _session_timeout()
        body = validate(SendTypingRequest, await read_json_object(request))
        if body.status not in (TypingStatus.TYPING, TypingStatus.CANCEL):
            raise SimulatorError("status must be 1 (typing) or 2 (cancel)", field="status")
        sim = self._sim
        if body.typing_ticket != sim.ids.typing_ticket(bot.bot_id, body.ilink_user_id):
            return json_response({"ret": -1, "errmsg": "invalid typing_ticket"})
        event = TypingEvent(bot.bot_id, body.ilink_user_id, body.status, sim.clock.time())
        sim.world.record_typing(bot, event, cap=sim.config.retention)
        return json_response({"ret": 0})

    # --- lifecycle ------------------------------------------------------------------------------

    async def notifystart(self, request: web.Request) -> web.Response:
        return await self._notify(request, "start")

    async def notifystop(self, request: web.Request) -> web.Response:
        return await self._notify(request, "stop")

    async def _notify(self, request: web.Request, kind: Literal["start", "stop"]) -> web.Response:
        bot = self._bot(request)
        if bot is None:
            return _session_timeout()
        validate(NotifyRequest, await read_json_object(request))
        sim = self._sim
        event = Notification(bot.bot_id, kind, sim.clock.time())
        sim.world.record_notification(bot, event, cap=sim.config.retention)
        return json_response({"ret": 0, "errmsg": ""})
