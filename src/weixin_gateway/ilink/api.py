"""Low-level async iLink API: one method per endpoint, exactly as the 2.4.9 client calls it.

This module and :mod:`.cdn` are the only places the SDK touches aiohttp. Every request has a
finite timeout (:class:`~.protocol.Timeouts`); the ``getupdates`` long poll runs on its own
connection so a 35 s hold can never starve sends: a kept-alive connection of this object's own
(:mod:`.keepalive`, 0.4× the CPU of aiohttp per poll), or the ``poll_session`` given.
Errors follow :mod:`weixin_gateway.errors`: network failures, non-2xx statuses, undecodable
replies and ``ret``/``errcode`` refusals are different exceptions.

Sessions passed in are borrowed (never closed here); sessions and connections created here are
closed by :meth:`ILinkApi.close` / ``async with``. Pass one shared ``session`` to many
``ILinkApi`` objects to serve many accounts from one connection pool; pass a ``poll_session``
only to route the long polls through aiohttp too (e.g. for its proxy support).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import aiohttp
from pydantic import BaseModel, ValidationError

from weixin_gateway._bodies import read_capped
from weixin_gateway._resource import Closeable
from weixin_gateway.errors import DecodeError, HttpStatusError, NetworkError, RequestTimeoutError

from .envelope import raise_for_envelope
from .keepalive import ConnectionFailed, KeepAliveConnection, ReplyTooLarge
from .protocol import (
    APP_ID,
    BOT_TYPE,
    CHANNEL_VERSION,
    DEFAULT_BASE_URL,
    DEFAULT_BOT_AGENT,
    MAX_LOCAL_TOKENS,
    Paths,
    Timeouts,
    build_url,
    client_version_number,
    random_wechat_uin,
    sanitize_bot_agent,
)
from .wire import (
    BaseInfo,
    GetConfigRequest,
    GetConfigResponse,
    GetUpdatesResponse,
    GetUploadUrlRequest,
    GetUploadUrlResponse,
    NotifyRequest,
    NotifyResponse,
    QrCodeRequest,
    QrCodeResponse,
    QrStatusResponse,
    SendMessageRequest,
    SendMessageResponse,
    SendTypingRequest,
    TypingStatus,
    WeixinMessage,
    dump_wire,
    dumps_wire,
)

__all__ = ["ILinkApi", "ILinkConfig", "redact_token"]

log = logging.getLogger(__name__)

#: Bounds on the server's ``longpolling_timeout_ms`` (seconds).
MIN_LONG_POLL = 1.0
MAX_LONG_POLL = 120.0
#: The largest JSON reply accepted (a full ``getupdates`` batch is far smaller).
MAX_REPLY_BYTES = 16 * 1024 * 1024

_M = TypeVar("_M", bound=BaseModel)


def redact_token(token: str | None) -> str:
    """A token shown safely: its bot-id part at most, never the secret."""
    if not token:
        return "<none>"
    head = token.split(":", 1)[0] if ":" in token else token[:4]
    return f"{head}:***"


@dataclass(frozen=True, slots=True)
class ILinkConfig:
    """How the client presents itself and how long it waits.

    The defaults reproduce the official client 2.4.9 byte for byte: ``iLink-App-Id: bot``,
    ``iLink-App-ClientVersion: 132105``, ``base_info = {"channel_version": "2.4.9",
    "bot_agent": "OpenClaw"}``. ``bot_agent`` is cleaned as the official client cleans it.
    """

    channel_version: str = CHANNEL_VERSION
    bot_agent: str = DEFAULT_BOT_AGENT
    app_id: str = APP_ID
    client_version: str = CHANNEL_VERSION
    route_tag: str | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)

    @property
    def base_info(self) -> BaseInfo:
        return BaseInfo(
            channel_version=self.channel_version,
            bot_agent=sanitize_bot_agent(self.bot_agent),
        )

    def app_headers(self) -> dict[str, str]:
        """``iLink-App-Id``, ``iLink-App-ClientVersion`` and, if set, ``SKRouteTag``."""
        headers = {
            "iLink-App-Id": self.app_id,
            "iLink-App-ClientVersion": str(client_version_number(self.client_version)),
        }
        if self.route_tag:
            headers["SKRouteTag"] = str(self.route_tag)
        return headers


class ILinkApi(Closeable):
    """One bot's view of the iLink API (or no bot, for QR login)."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        token: str | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
        poll_session: aiohttp.ClientSession | None = None,
        config: ILinkConfig | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = (token or "").strip() or None
        self.config = config or ILinkConfig()
        self._session = session
        self._poll_session = poll_session
        self._owned: list[aiohttp.ClientSession] = []
        self._long_poll: KeepAliveConnection | None = None
        self._poll_body: tuple[str, bytes] | None = None
        self._idle_reply: tuple[bytes, GetUpdatesResponse] | None = None
        self._headers_cache: tuple[str | None, ILinkConfig, dict[str, str]] | None = None
        self._base_info = _shared_base_info(self.config)
        self._long_poll_timeout = self.config.timeouts.long_poll

    def __repr__(self) -> str:
        return f"ILinkApi(base_url={self.base_url!r}, token={redact_token(self._token)!r})"

    @property
    def token(self) -> str | None:
        return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        self._token = (value or "").strip() or None

    @property
    def long_poll_timeout(self) -> float:
        """Seconds the next ``getupdates`` waits: 35, then ``longpolling_timeout_ms``."""
        return self._long_poll_timeout

    # --- lifecycle ------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the sessions this object created; borrowed sessions stay open."""
        owned, self._owned = self._owned, []
        for session in owned:
            await session.close()
        if self._long_poll is not None:
            await self._long_poll.close()

    def _new_session(self, *, limit: int) -> aiohttp.ClientSession:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=limit, ttl_dns_cache=300),
            skip_auto_headers=("User-Agent",),
        )
        self._owned.append(session)
        return session

    @property
    def session(self) -> aiohttp.ClientSession:
        """The pool for ordinary calls (created on first use when none was given)."""
        if self._session is None or self._session.closed:
            self._session = self._new_session(limit=100)
        return self._session

    @property
    def poll_session(self) -> aiohttp.ClientSession:
        """An aiohttp pool for long polls: the one given, else created on first use (and then
        used by :meth:`getupdates` instead of the kept-alive connection)."""
        if self._poll_session is None or self._poll_session.closed:
            self._poll_session = self._new_session(limit=0)
        return self._poll_session

    # --- transport ------------------------------------------------------------------------------

    def _post_headers(self, *, auth: bool) -> dict[str, str]:
        """A POST's headers: a copy of the fixed ones with a fresh ``X-WECHAT-UIN``.

        The fixed headers are built once per token and config (an idle gateway sends 286 long
        polls a second with 10,000 accounts; building them for each was measurable there).
        """
        token = self._token if auth else None
        fixed = self._headers_cache
        if fixed is None or fixed[0] is not token or fixed[1] is not self.config:
            fixed = self._headers_cache = (token, self.config, _fixed_headers(self.config, token))
        headers = fixed[2].copy()
        headers["X-WECHAT-UIN"] = random_wechat_uin()  # keeps its place among the fixed ones
        return headers

    async def _request(
        self,
        label: str,
        method: str,
        url: str,
        *,
        timeout: float,
        headers: Mapping[str, str],
        body: bytes | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> dict[str, Any]:
        """Send one request; return the decoded JSON object or raise a transport/decode error."""
        status, raw = await self._exchange(
            label, method, url, timeout=timeout, headers=headers, body=body, session=session
        )
        return _json_object(label, status, raw)

    async def _long_poll_post(
        self, label: str, url: str, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> tuple[int, bytes]:
        """A long poll's POST: on the poll session if there is one, else on the kept-alive
        connection."""
        poll_session = self._poll_session
        if poll_session is None or poll_session.closed:
            return await self._kept_alive(label, url, headers, body, timeout)
        return await self._exchange(
            label, "POST", url, timeout=timeout, headers=headers, body=body, session=poll_session
        )

    async def _exchange(
        self,
        label: str,
        method: str,
        url: str,
        *,
        timeout: float,
        headers: Mapping[str, str],
        body: bytes | None,
        session: aiohttp.ClientSession | None,
    ) -> tuple[int, bytes]:
        """One request through aiohttp: the status and the body (its first 500 bytes when
        the status is not 2xx)."""
        http = session or self.session
        try:
            async with http.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=_client_timeout(timeout),
                allow_redirects=False,
            ) as resp:
                if not 200 <= resp.status < 300:
                    return resp.status, await resp.content.read(500)
                if resp.content_length is not None and resp.content_length <= MAX_REPLY_BYTES:
                    return resp.status, await resp.read()  # the usual reply: one read
                return resp.status, await read_capped(label, resp, MAX_REPLY_BYTES)
        except TimeoutError as exc:
            raise RequestTimeoutError(f"{label} timed out after {timeout:g} s") from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"{label} failed: {exc.__class__.__name__}: {exc}") from exc

    async def _kept_alive(
        self, label: str, url: str, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> tuple[int, bytes]:
        """One POST on this object's kept-alive connection (:mod:`.keepalive`)."""
        if self._long_poll is None:
            self._long_poll = KeepAliveConnection(max_body=MAX_REPLY_BYTES)
        try:
            return await self._long_poll.post(url, headers, body, timeout=timeout)
        except TimeoutError as exc:
            raise RequestTimeoutError(f"{label} timed out after {timeout:g} s") from exc
        except ReplyTooLarge as exc:
            raise DecodeError(f"{label}: {exc}") from None
        except ConnectionFailed as exc:
            raise NetworkError(f"{label} failed: {exc}") from exc

    async def _call(
        self,
        label: str,
        path: str,
        payload: BaseModel | dict[str, Any] | bytes,
        response: type[_M],
        *,
        timeout: float,
        session: aiohttp.ClientSession | None = None,
        check: bool = True,
    ) -> _M:
        data = await self._request(
            label,
            "POST",
            _url(self.base_url, path),
            timeout=timeout,
            headers=self._post_headers(auth=True),
            body=payload if isinstance(payload, bytes) else dumps_wire(payload),
            session=session,
        )
        if check:
            raise_for_envelope(label, data)
        return _decode(label, response, data)

    # --- QR login -------------------------------------------------------------------------------

    async def get_bot_qrcode(
        self,
        local_token_list: Iterable[str] = (),
        *,
        method: str = "POST",
        bot_type: str = BOT_TYPE,
    ) -> QrCodeResponse:
        """Create a QR login session.

        ``POST`` (2.3.1+) sends ``{"local_token_list": [...]}`` (at most 10 non-blank tokens,
        newest first) without ``Authorization`` and without ``base_info``; ``GET`` is the legacy
        form with no body. ``ret`` is not checked, as in the official client.
        """
        url = (
            build_url(self.base_url, Paths.GET_BOT_QRCODE) + "?" + urlencode({"bot_type": bot_type})
        )
        timeout = self.config.timeouts.qr_create
        if method.upper() == "GET":
            data = await self._request(
                "get_bot_qrcode",
                "GET",
                url,
                timeout=timeout,
                headers=self._post_headers(auth=False),
            )
        else:
            tokens = [t.strip() for t in local_token_list if t and t.strip()][:MAX_LOCAL_TOKENS]
            data = await self._request(
                "get_bot_qrcode",
                "POST",
                url,
                timeout=timeout,
                headers=self._post_headers(auth=False),
                body=dumps_wire(QrCodeRequest(local_token_list=tokens)),
            )
        result = _decode("get_bot_qrcode", QrCodeResponse, data)
        if not result.qrcode or not result.qrcode_img_content:
            raise DecodeError("get_bot_qrcode: reply has no qrcode / qrcode_img_content")
        return result

    async def get_qrcode_status(
        self,
        qrcode: str,
        *,
        verify_code: str | None = None,
        base_url: str | None = None,
    ) -> QrStatusResponse:
        """Long-poll a QR session's status (``GET``, only the app headers, 35 s timeout).

        ``base_url`` overrides the host after a ``scaned_but_redirect``. Errors are raised here;
        the login loop (:mod:`.login`) treats every one of them as ``wait``.
        """
        query = {"qrcode": qrcode}
        if verify_code:
            query["verify_code"] = verify_code
        url = build_url(base_url or self.base_url, Paths.GET_QRCODE_STATUS) + "?" + urlencode(query)
        data = await self._request(
            "get_qrcode_status",
            "GET",
            url,
            timeout=self.config.timeouts.qr_status,
            headers=self.config.app_headers(),
        )
        return _decode("get_qrcode_status", QrStatusResponse, data)

    # --- bot endpoints --------------------------------------------------------------------------

    async def getupdates(self, get_updates_buf: str = "") -> GetUpdatesResponse:
        """Long-poll for inbound messages after cursor ``get_updates_buf``.

        If the client timeout passes first, this returns ``{ret: 0, msgs: [], get_updates_buf:
        <the cursor sent>}`` exactly as the official client does: an idle poll is not an error.
        A positive ``longpolling_timeout_ms`` in a reply becomes the timeout of the next poll.

        An answer without messages that is byte for byte the last such answer (an idle account's
        poll, again and again) is not decoded again: the same response object is returned, so
        treat it as read-only. An idle gateway re-arms 286 polls a second with 10,000 accounts;
        decoding each cost more than keeping the last one (about 1 KB per account).
        """
        # what GetUpdatesRequest(get_updates_buf=..., base_info=...) dumps to, without building
        # and dumping a model for every poll (the body is kept while the cursor stays)
        body = self._poll_body
        if body is None or body[0] != get_updates_buf:
            body = (get_updates_buf, _getupdates_body(get_updates_buf, self.config))
            self._poll_body = body
        timeout = self._long_poll_timeout + self.config.timeouts.long_poll_margin
        try:
            status, raw = await self._long_poll_post(
                "getupdates",
                _url(self.base_url, Paths.GETUPDATES),
                self._post_headers(auth=True),
                body[1],
                timeout,
            )
        except RequestTimeoutError:
            log.debug("getupdates: client timeout after %.1f s; treating as idle", timeout)
            return GetUpdatesResponse(ret=0, msgs=[], get_updates_buf=get_updates_buf)
        idle = self._idle_reply
        if idle is not None and idle[0] == raw and 200 <= status < 300:
            result = idle[1]
        else:
            result = _getupdates_reply(status, raw)
            if 200 <= status < 300 and not result.msgs:
                self._idle_reply = (raw, result)
        if result.longpolling_timeout_ms and result.longpolling_timeout_ms > 0:
            # the server's value, kept finite and not so short that idle polls spin
            seconds = result.longpolling_timeout_ms / 1000
            self._long_poll_timeout = min(max(seconds, MIN_LONG_POLL), MAX_LONG_POLL)
        return result

    async def sendmessage(self, msg: WeixinMessage) -> SendMessageResponse:
        """Send one message; ``ret:-2`` raises :class:`~weixin_gateway.errors.SendRejectedError`."""
        payload = SendMessageRequest(msg=msg, base_info=self._base_info)
        return await self._call(
            "sendmessage",
            Paths.SENDMESSAGE,
            payload,
            SendMessageResponse,
            timeout=self.config.timeouts.send,
        )

    async def getuploadurl(self, request: GetUploadUrlRequest) -> GetUploadUrlResponse:
        """Ask where to upload one encrypted file; fails unless an upload URL comes back."""
        payload = request.model_copy(update={"base_info": self._base_info})
        result = await self._call(
            "getuploadurl",
            Paths.GETUPLOADURL,
            payload,
            GetUploadUrlResponse,
            timeout=self.config.timeouts.upload_url,
        )
        if not (result.upload_full_url or "").strip() and not result.upload_param:
            raise DecodeError("getuploadurl returned no upload URL")
        return result

    async def getconfig(
        self, ilink_user_id: str, context_token: str | None = None
    ) -> GetConfigResponse:
        """Fetch the per-user config (the ``typing_ticket``)."""
        payload = GetConfigRequest(
            ilink_user_id=ilink_user_id, context_token=context_token, base_info=self._base_info
        )
        return await self._call(
            "getconfig",
            Paths.GETCONFIG,
            payload,
            GetConfigResponse,
            timeout=self.config.timeouts.config,
        )

    async def sendtyping(
        self,
        ilink_user_id: str,
        typing_ticket: str,
        status: TypingStatus | int = TypingStatus.TYPING,
    ) -> None:
        """Show (``1``) or cancel (``2``) the typing indicator. Only HTTP failures raise.

        The official client ignores the body of this reply; so do we, except that a stale-token
        ``-14`` is still reported, since it means every later call will fail too.
        """
        payload = SendTypingRequest(
            ilink_user_id=ilink_user_id,
            typing_ticket=typing_ticket,
            status=int(status),
            base_info=self._base_info,
        )
        data = await self._request(
            "sendtyping",
            "POST",
            build_url(self.base_url, Paths.SENDTYPING),
            timeout=self.config.timeouts.typing,
            headers=self._post_headers(auth=True),
            body=payload if isinstance(payload, bytes) else dumps_wire(payload),
        )
        if -14 in (data.get("ret"), data.get("errcode")):
            raise_for_envelope("sendtyping", data)

    async def notify_start(self) -> NotifyResponse:
        """Tell the server this bot's poll loop starts (``msg/notifystart``)."""
        return await self._notify("notifystart", Paths.NOTIFY_START)

    async def notify_stop(self) -> NotifyResponse:
        """Tell the server this bot stops (``msg/notifystop``)."""
        return await self._notify("notifystop", Paths.NOTIFY_STOP)

    async def _notify(self, label: str, path: str) -> NotifyResponse:
        return await self._call(
            label,
            path,
            NotifyRequest(base_info=self._base_info),
            NotifyResponse,
            timeout=self.config.timeouts.notify,
        )


# Per-request work that depends only on the base URL or the (frozen) config is done once: an
# idle account sends a getupdates every 35 s, 286 a second with 10,000 accounts (benchmarks/idle).


@functools.lru_cache(maxsize=64)
def _client_timeout(total: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=total)  # immutable: one per distinct value


@functools.lru_cache(maxsize=256)
def _url(base_url: str, path: str) -> str:
    return build_url(base_url, path)


def _fixed_headers(config: ILinkConfig, token: str | None) -> dict[str, str]:
    """Every header of a POST but the per-request ``X-WECHAT-UIN`` (an empty placeholder
    here, so it keeps the official client's order)."""
    headers = {
        "Content-Type": "application/json",
        "AuthorizationType": "ilink_bot_token",
        "X-WECHAT-UIN": "",
        **config.app_headers(),
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


@functools.lru_cache(maxsize=16)
def _shared_base_info(config: ILinkConfig) -> BaseInfo:
    """One ``base_info`` per config, shared by every account's client (a model per account
    cost memory for nothing: it is only ever serialized)."""
    return config.base_info


@functools.lru_cache(maxsize=16)
def _base_info_json(config: ILinkConfig) -> dict[str, Any]:
    """``base_info`` as JSON-ready data, shared: callers only serialize it, never change it."""
    return dump_wire(_shared_base_info(config))


@functools.lru_cache(maxsize=16)
def _base_info_bytes(config: ILinkConfig) -> bytes:
    return dumps_wire(_base_info_json(config))


def _getupdates_body(get_updates_buf: str, config: ILinkConfig) -> bytes:
    """``dumps_wire({"get_updates_buf": ..., "base_info": ...})``, byte for byte, with the
    ``base_info`` part serialized once per config instead of once per poll."""
    cursor = json.dumps(get_updates_buf, ensure_ascii=False).encode()
    return b'{"get_updates_buf":' + cursor + b',"base_info":' + _base_info_bytes(config) + b"}"


def _json_object(label: str, status: int, raw: bytes) -> dict[str, Any]:
    """The JSON object of a 2xx reply, else :class:`HttpStatusError` or :class:`DecodeError`."""
    if not 200 <= status < 300:
        raise HttpStatusError(label, status, raw[:500].decode("utf-8", "replace"))
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"{label}: reply is not JSON: {raw[:200]!r}") from exc
    if not isinstance(data, dict):
        raise DecodeError(f"{label}: reply is not a JSON object: {raw[:200]!r}")
    return data


def _getupdates_reply(status: int, raw: bytes) -> GetUpdatesResponse:
    """A ``getupdates`` reply, validated straight from its bytes when it is a plain success
    (a third of the CPU of ``json.loads`` and then validating, at every idle re-arm);
    anything else takes the general path, which names what is wrong."""
    if 200 <= status < 300:
        try:
            result = GetUpdatesResponse.model_validate_json(raw)
        except ValidationError:
            pass
        else:
            if not result.ret and not result.errcode:
                return result
    data = _json_object("getupdates", status, raw)
    raise_for_envelope("getupdates", data)
    return _decode("getupdates", GetUpdatesResponse, data)


def _decode(label: str, model: type[_M], data: Mapping[str, Any]) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # Name the fields, never their values: a reply may carry a token in the wrong type.
        where = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)[:3]
        )
        raise DecodeError(f"{label}: unexpected reply shape: {where}") from None


def host_of(url: str) -> str:
    """The ``host[:port]`` of a URL (used to compare API hosts in logs and tests)."""
    return urlsplit(url).netloc
