"""The Official Account (公众号) API client: one app's view of ``api.weixin.qq.com``.

::

    async with MpApiClient("wx…", secret, session=session, token_store=store) as client:
        info = await client.user.info(openid)
        qr = await client.qrcode.create("invite-42", expire_seconds=600)
        await client.message.send_text(openid, "hello")
        config = await client.jsapi.sign("https://example.com/page?x=1#frag")

API groups (official-account.md §5): :attr:`~MpApiClient.user`, :attr:`~MpApiClient.qrcode`,
:attr:`~MpApiClient.message` (template, subscription notice, customer-service),
:attr:`~MpApiClient.oauth`, :attr:`~MpApiClient.jsapi`, :attr:`~MpApiClient.shop`,
:attr:`~MpApiClient.media`; :meth:`MpApiClient.call` reaches any other access_token API.

Transport (the one aiohttp seam of this side, :class:`MpTransport`): the session is passed in
(borrowed, never closed here) or created and owned; every request has a finite timeout; the API
base URL is configurable so a simulator stands in. Failures are kept apart
(:mod:`weixin_gateway.errors`): the network (:class:`~weixin_gateway.errors.NetworkError`,
:class:`~weixin_gateway.errors.RequestTimeoutError`), a non-2xx status
(:class:`~weixin_gateway.errors.HttpStatusError`), an undecodable body
(:class:`~weixin_gateway.errors.DecodeError`), and WeChat's refusal inside HTTP 200, checked in
exactly one place (:func:`raise_for_errcode`) and raised as :class:`WeChatApiError`.

Tokens (:mod:`.tokens`): the access_token comes from ``stable_token`` by default (``classic``
mode uses ``/cgi-bin/token``), is shared through a :class:`~.tokens.TokenStore` and refreshed by
a single holder shortly before expiry (:class:`~.tokens.TokenPolicy`). A protected call
answered with 40001 / 40014 / 42001 refreshes once and is retried once; a second refusal is
raised. The jsapi_ticket is cached the same way. The AppSecret, access tokens, tickets and web
tokens never appear in a ``repr``, a log line or an error message.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, NoReturn
from urllib.parse import quote

import aiohttp

from weixin_gateway._bodies import read_capped
from weixin_gateway._clock import Clock, SystemClock
from weixin_gateway._ints import as_int
from weixin_gateway._resource import Closeable
from weixin_gateway.errors import (
    DecodeError,
    HttpStatusError,
    MediaTooLargeError,
    NetworkError,
    RequestTimeoutError,
)
from weixin_gateway.mp.config import Secret
from weixin_gateway.mp.errors import TOKEN_ERRCODES, ApiDiscontinuedError, WeChatApiError
from weixin_gateway.mp.gojson import JsonObject, JsonValue
from weixin_gateway.mp.oauth import DEFAULT_OPEN_BASE_URL, OAuthApi
from weixin_gateway.mp.signature import jsapi_signature, new_nonce, strip_fragment
from weixin_gateway.mp.tokens import (
    ACCESS_TOKEN,
    JSAPI_TICKET,
    MemoryTokenStore,
    TokenManager,
    TokenPolicy,
    TokenStore,
)

__all__ = [
    "DEFAULT_API_BASE_URL",
    "DEFAULT_MP_BASE_URL",
    "TOKEN_ERRCODES",
    "ApiDiscontinuedError",
    "JsapiApi",
    "JsapiSignature",
    "MediaApi",
    "MediaUpload",
    "MessageApi",
    "MpApiClient",
    "MpClientConfig",
    "MpTimeouts",
    "MpTransport",
    "QrCode",
    "QrCodeApi",
    "ShopApi",
    "TemplateValue",
    "UserApi",
    "WeChatApiError",
    "raise_for_errcode",
]

log = logging.getLogger(__name__)

DEFAULT_API_BASE_URL: Final = "https://api.weixin.qq.com"
DEFAULT_MP_BASE_URL: Final = "https://mp.weixin.qq.com"

"""Refusals of a protected call that mean "this access_token is dead": refresh once, retry once."""

TokenMode = Literal["stable", "classic"]
MediaType = Literal["image", "voice", "video", "thumb"]

MEDIA_LIMITS: Final[Mapping[str, int]] = {
    "image": 10 * 1024 * 1024,
    "voice": 2 * 1024 * 1024,
    "video": 10 * 1024 * 1024,
    "thumb": 64 * 1024,
}
"""Upload size caps of ``media/upload`` (§5.12), checked before anything is sent."""

QR_MAX_EXPIRE_S: Final = 2_592_000
QR_MAX_PERMANENT_ID: Final = 100_000
QR_MAX_SCENE_STR: Final = 64

_SECRET_PARAMS = re.compile(
    r"(?<![A-Za-z0-9_])((?:access_token|secret|refresh_token|code|ticket)=)[^&\s'\"#]+"
)


def _scrub(text: str) -> str:
    """``text`` with the values of credential-bearing query parameters replaced by ``***``."""
    return _SECRET_PARAMS.sub(r"\1***", text)


# --- errors ------------------------------------------------------------------------------------


def raise_for_errcode(endpoint: str, body: Mapping[str, object]) -> None:
    """Raise :class:`WeChatApiError` if ``body`` carries a non-zero ``errcode``.

    An absent ``errcode`` is success (token, qrcode, user/info and media/upload omit it).
    This is the only place that inspects ``errcode``.
    """
    raw = body.get("errcode")
    if raw is None:
        return
    errcode = as_int(raw)
    if errcode == 0:
        return
    errmsg = body.get("errmsg")
    raise WeChatApiError(
        endpoint,
        errcode=errcode if errcode is not None else -1,
        errmsg=_scrub(errmsg) if isinstance(errmsg, str) else None,
    )


# --- transport ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MpTimeouts:
    """Finite timeouts in seconds: ``connect`` for the TCP+TLS setup, ``request`` for a whole
    ordinary call, ``upload`` for ``media/upload``."""

    connect: float = 5.0
    request: float = 10.0
    upload: float = 60.0

    def __post_init__(self) -> None:
        for name in ("connect", "request", "upload"):
            value = getattr(self, name)
            if not 0 < value < float("inf"):
                raise ValueError(f"timeout {name} must be positive and finite")


@dataclass(frozen=True, slots=True)
class MpClientConfig:
    """How an :class:`MpApiClient` behaves.

    * ``token_mode``: ``"stable"`` (``POST /cgi-bin/stable_token``, the default) or
      ``"classic"`` (``GET /cgi-bin/token``, which rotates the token on every call).
    * ``token_policy``: refresh margin (280 s) and the re-fetch guard.
    * ``oauth_code_ttl_s``: how long an OAuth code's answer is remembered (double redirects).
    * ``max_response_bytes``: cap on a JSON reply.
    """

    token_mode: TokenMode = "stable"  # noqa: S105 - a mode name, not a secret
    timeouts: MpTimeouts = field(default_factory=MpTimeouts)
    token_policy: TokenPolicy = field(default_factory=TokenPolicy)
    oauth_code_ttl_s: float = 300.0
    max_response_bytes: int = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.token_mode not in ("stable", "classic"):
            raise ValueError("token_mode must be 'stable' or 'classic'")


FormFactory = Callable[[], aiohttp.FormData]


class MpTransport:
    """The aiohttp seam: one request in, a decoded and errcode-checked JSON object out."""

    def __init__(
        self,
        api_base_url: str = DEFAULT_API_BASE_URL,
        *,
        session: aiohttp.ClientSession | None = None,
        timeouts: MpTimeouts | None = None,
        max_response_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self.api_base_url = api_base_url.rstrip("/")
        self.timeouts = timeouts or MpTimeouts()
        self.max_response_bytes = max_response_bytes
        self._session = session
        self._owned: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"MpTransport({self.api_base_url!r})"

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session passed in, or one created (and owned) on first use."""
        if self._session is not None and not self._session.closed:
            return self._session
        if self._owned is None or self._owned.closed:
            self._owned = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, ttl_dns_cache=300)
            )
        return self._owned

    async def close(self) -> None:
        """Close the session this transport created; a borrowed one stays open."""
        owned, self._owned = self._owned, None
        if owned is not None:
            await owned.close()

    async def call(
        self,
        label: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, JsonValue] | None = None,
        form: FormFactory | None = None,
        timeout: float | None = None,
    ) -> JsonObject:
        """One API call: send, decode the JSON object, check ``errcode``.

        ``label`` names the call in errors and logs; it must not contain credentials.
        """
        raw = await self.fetch(
            label,
            method,
            f"{self.api_base_url}{path}",
            params=params,
            json_body=json_body,
            form=form,
            timeout=timeout,
        )
        data = self._decode(label, raw)
        raise_for_errcode(label, data)
        return data

    async def fetch(
        self,
        label: str,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, JsonValue] | None = None,
        form: FormFactory | None = None,
        timeout: float | None = None,
    ) -> bytes:
        """Send one request and return the body of a 2xx answer (no decoding)."""
        total = timeout if timeout is not None else self.timeouts.request
        headers: dict[str, str] = {}
        data: bytes | aiohttp.FormData | None = None
        if json_body is not None:
            data = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json; charset=utf-8"
        elif form is not None:
            data = form()
        try:
            async with self.session.request(
                method,
                url,
                params=dict(params) if params else None,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=total, connect=self.timeouts.connect),
                allow_redirects=False,
            ) as resp:
                body = await read_capped(label, resp, self.max_response_bytes)
                if not 200 <= resp.status < 300:
                    text = body.decode("utf-8", "replace")
                    raise HttpStatusError(label, resp.status, _scrub(text))
                return body
        except TimeoutError as exc:
            raise RequestTimeoutError(f"{label} timed out after {total:g} s") from exc
        except aiohttp.ClientError as exc:
            # Not chained: some aiohttp errors carry the request URL, whose query may hold
            # ``secret=`` or ``access_token=``, and a logged traceback would print it.
            detail = _scrub(str(exc))
            raise NetworkError(f"{label} failed: {exc.__class__.__name__}: {detail}") from None

    @staticmethod
    def _decode(label: str, raw: bytes) -> JsonObject:
        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise DecodeError(f"{label}: reply is not JSON ({len(raw)} bytes)") from exc
        if not isinstance(data, dict):
            raise DecodeError(f"{label}: reply is not a JSON object")
        return data


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _require_str(label: str, data: JsonObject, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise DecodeError(f"{label}: reply lacks a string {key!r}")
    return value


def _require_int(label: str, data: JsonObject, key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DecodeError(f"{label}: reply lacks an integer {key!r}")
    return value


def _object(label: str, data: JsonObject, key: str) -> JsonObject:
    value = data.get(key)
    if not isinstance(value, dict):
        raise DecodeError(f"{label}: reply lacks an object {key!r}")
    return value


def _exact_id(name: str, value: int | str) -> str:
    """A 64-bit shop id as the exact decimal string WeChat wants (never through a float)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"{name} must be an int or a decimal string")
    text = str(value).strip()
    if not text.isdigit() or not text.isascii():
        raise ValueError(f"{name} must be a non-negative decimal integer")
    return text


# --- records -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QrCode:
    """A parametric QR code (§5.4): ``url`` is what the code encodes; ``image_url`` shows it."""

    ticket: str
    url: str
    image_url: str
    expire_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class MediaUpload:
    """A temporary media upload (§5.12): ``media_id`` lives 3 days."""

    type: str
    media_id: str
    created_at: int


@dataclass(frozen=True, slots=True)
class JsapiSignature:
    """What a page passes to ``wx.config`` (§5.9); ``url`` is the signed URL (no fragment)."""

    app_id: str
    noncestr: str
    timestamp: int
    url: str
    signature: str

    def wx_config(self) -> dict[str, str | int]:
        """The ``wx.config`` fields with their camelCase names."""
        return {
            "appId": self.app_id,
            "timestamp": self.timestamp,
            "nonceStr": self.noncestr,
            "signature": self.signature,
        }


# --- API groups --------------------------------------------------------------------------------


class _Group:
    def __init__(self, client: MpApiClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"{type(self).__name__}(app_id={self._client.app_id!r})"


class UserApi(_Group):
    """``client.user``: user information (§5.3)."""

    async def info(self, openid: str, *, lang: str = "zh_CN") -> JsonObject:
        """``cgi-bin/user/info``: the user's record, verbatim (40003 = invalid openid)."""
        return await self._client.call(
            "GET", "/cgi-bin/user/info", params={"openid": openid, "lang": lang}
        )

    async def batch_info(self, openids: Sequence[str], *, lang: str = "zh_CN") -> list[JsonObject]:
        """``cgi-bin/user/info/batchget`` for at most 100 users: their records, in order."""
        if not 1 <= len(openids) <= 100:
            raise ValueError("batch_info takes 1 to 100 openids")
        label = "cgi-bin/user/info/batchget"
        data = await self._client.call(
            "POST",
            "/cgi-bin/user/info/batchget",
            json_body={"user_list": [{"openid": o, "lang": lang} for o in openids]},
        )
        items = data.get("user_info_list")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise DecodeError(f"{label}: reply lacks a list 'user_info_list'")
        return [i for i in items if isinstance(i, dict)]


class QrCodeApi(_Group):
    """``client.qrcode``: parametric QR codes (§5.4)."""

    async def create(
        self,
        scene: int | str,
        *,
        permanent: bool = False,
        expire_seconds: int | None = None,
    ) -> QrCode:
        """``cgi-bin/qrcode/create``.

        An ``int`` scene makes ``QR_SCENE`` (non-zero 32-bit) or ``QR_LIMIT_SCENE``
        (1..100000); a ``str`` scene (1–64 characters) makes ``QR_STR_SCENE`` or
        ``QR_LIMIT_STR_SCENE``. ``expire_seconds`` (temporary codes only, at most 30 days)
        defaults to WeChat's 60 s when omitted.
        """
        body: dict[str, JsonValue]
        if isinstance(scene, bool) or not isinstance(scene, int | str):
            raise TypeError("scene must be an int or a str")
        if isinstance(scene, int):
            if permanent and not 1 <= scene <= QR_MAX_PERMANENT_ID:
                raise ValueError(f"a permanent scene id must be 1..{QR_MAX_PERMANENT_ID}")
            if not permanent and (scene == 0 or not -(2**31) <= scene < 2**31):
                raise ValueError("a temporary scene id must be a non-zero 32-bit integer")
            action = "QR_LIMIT_SCENE" if permanent else "QR_SCENE"
            scene_obj: JsonObject = {"scene_id": scene}
        else:
            if not 1 <= len(scene) <= QR_MAX_SCENE_STR:
                raise ValueError(f"a scene string must be 1..{QR_MAX_SCENE_STR} characters")
            action = "QR_LIMIT_STR_SCENE" if permanent else "QR_STR_SCENE"
            scene_obj = {"scene_str": scene}
        body = {"action_name": action, "action_info": {"scene": scene_obj}}
        if expire_seconds is not None:
            if permanent:
                raise ValueError("permanent QR codes do not expire")
            if not 1 <= expire_seconds <= QR_MAX_EXPIRE_S:
                raise ValueError(f"expire_seconds must be 1..{QR_MAX_EXPIRE_S}")
            body["expire_seconds"] = expire_seconds
        label = "cgi-bin/qrcode/create"
        data = await self._client.call("POST", "/cgi-bin/qrcode/create", json_body=body)
        ticket = _require_str(label, data, "ticket")
        expires = data.get("expire_seconds")
        return QrCode(
            ticket=ticket,
            url=_require_str(label, data, "url"),
            image_url=self.showqrcode_url(ticket),
            expire_seconds=expires if isinstance(expires, int) and not permanent else None,
        )

    def showqrcode_url(self, ticket: str) -> str:
        """``mp.weixin.qq.com/cgi-bin/showqrcode?ticket=…`` with the ticket URL-encoded (D20)."""
        return f"{self._client.mp_base_url}/cgi-bin/showqrcode?ticket={quote(ticket, safe='')}"

    async def image(self, ticket: str) -> bytes:
        """The QR code picture (JPEG) for ``ticket``; no token needed (404 = bad ticket)."""
        transport = self._client.transport
        return await transport.fetch("cgi-bin/showqrcode", "GET", self.showqrcode_url(ticket))


TemplateValue = str | int | float | Mapping[str, JsonValue]


def _template_data(data: Mapping[str, TemplateValue]) -> JsonObject:
    """``{key: {"value": "…"}}``; a mapping (e.g. ``{"value":…, "color":…}``) passes through."""
    out: JsonObject = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out[key] = dict(value)
        elif isinstance(value, bool):
            raise TypeError(f"template value {key!r} must be text or a number, not a bool")
        elif isinstance(value, float):
            out[key] = {"value": str(int(value)) if value.is_integer() else repr(value)}
        else:
            out[key] = {"value": str(value)}
    return out


def _miniprogram(appid: str | None, pagepath: str | None) -> JsonObject | None:
    if appid is None and pagepath is None:
        return None
    if not appid:
        raise ValueError("miniprogram needs an appid")
    mp: JsonObject = {"appid": appid}
    if pagepath:
        mp["pagepath"] = pagepath
    return mp


@dataclass(frozen=True, slots=True)
class Article:
    """One article of a customer-service ``news`` message."""

    title: str
    description: str = ""
    url: str = ""
    picurl: str = ""


class MessageApi(_Group):
    """``client.message``: template messages, subscription notices, customer-service messages."""

    async def send_template(
        self,
        touser: str,
        template_id: str,
        data: Mapping[str, TemplateValue],
        *,
        url: str | None = None,
        miniprogram_appid: str | None = None,
        miniprogram_pagepath: str | None = None,
        client_msg_id: str | None = None,
    ) -> int:
        """``cgi-bin/message/template/send`` (§5.6); returns WeChat's ``msgid``.

        ``data`` values are text or numbers (sent as ``{"value": "…"}``) or whole objects such as
        ``{"value": "…", "color": "#f00"}``. ``client_msg_id`` makes the send idempotent.
        """
        body: dict[str, JsonValue] = {
            "touser": touser,
            "template_id": template_id,
            "data": _template_data(data),
        }
        if url:
            body["url"] = url
        mp = _miniprogram(miniprogram_appid, miniprogram_pagepath)
        if mp is not None:
            body["miniprogram"] = mp
        if client_msg_id:
            body["client_msg_id"] = client_msg_id
        result = await self._client.call("POST", "/cgi-bin/message/template/send", json_body=body)
        return _require_int("cgi-bin/message/template/send", result, "msgid")

    async def send_template_body(self, body: Mapping[str, JsonValue]) -> JsonObject:
        """``template/send`` with a complete body as given; the whole reply comes back."""
        return await self._client.call(
            "POST", "/cgi-bin/message/template/send", json_body=dict(body)
        )

    async def send_subscribe(
        self,
        touser: str,
        template_id: str,
        data: Mapping[str, TemplateValue],
        *,
        page: str | None = None,
        miniprogram_appid: str | None = None,
        miniprogram_pagepath: str | None = None,
    ) -> None:
        """``cgi-bin/message/subscribe/bizsend`` (§5.7): a one-time subscription notice.

        43101 means the user has no unused "accept" for this template.
        """
        body: dict[str, JsonValue] = {
            "touser": touser,
            "template_id": template_id,
            "data": _template_data(data),
        }
        if page:
            body["page"] = page
        mp = _miniprogram(miniprogram_appid, miniprogram_pagepath)
        if mp is not None:
            body["miniprogram"] = mp
        await self._client.call("POST", "/cgi-bin/message/subscribe/bizsend", json_body=body)

    # --- customer-service messages (§5.8) -------------------------------------------------------

    async def send_custom(
        self,
        touser: str,
        msgtype: str,
        content: Mapping[str, JsonValue],
        *,
        kf_account: str | None = None,
    ) -> None:
        """``cgi-bin/message/custom/send``: ``{"touser", "msgtype", <msgtype>: content}``.

        45015 = the user's window is closed (or they unfollowed); 45047 = its quota is used.
        """
        body: dict[str, JsonValue] = {"touser": touser, "msgtype": msgtype, msgtype: dict(content)}
        if kf_account:
            body["customservice"] = {"kf_account": kf_account}
        await self.send_custom_body(body)

    async def send_custom_body(self, body: Mapping[str, JsonValue]) -> None:
        """``custom/send`` with a complete body (e.g. from :func:`~.reply.custom_message`)."""
        await self._client.call("POST", "/cgi-bin/message/custom/send", json_body=dict(body))

    async def send_text(self, touser: str, content: str, *, kf_account: str | None = None) -> None:
        await self.send_custom(touser, "text", {"content": content}, kf_account=kf_account)

    async def send_image(
        self, touser: str, media_id: str, *, kf_account: str | None = None
    ) -> None:
        await self.send_custom(touser, "image", {"media_id": media_id}, kf_account=kf_account)

    async def send_voice(
        self, touser: str, media_id: str, *, kf_account: str | None = None
    ) -> None:
        await self.send_custom(touser, "voice", {"media_id": media_id}, kf_account=kf_account)

    async def send_video(
        self,
        touser: str,
        media_id: str,
        *,
        thumb_media_id: str | None = None,
        title: str = "",
        description: str = "",
        kf_account: str | None = None,
    ) -> None:
        video: JsonObject = {"media_id": media_id}
        if thumb_media_id:
            video["thumb_media_id"] = thumb_media_id
        video.update(title=title, description=description)
        await self.send_custom(touser, "video", video, kf_account=kf_account)

    async def send_music(
        self,
        touser: str,
        *,
        thumb_media_id: str,
        music_url: str,
        hq_music_url: str = "",
        title: str = "",
        description: str = "",
        kf_account: str | None = None,
    ) -> None:
        music: JsonObject = {
            "title": title,
            "description": description,
            "musicurl": music_url,
            "hqmusicurl": hq_music_url or music_url,
            "thumb_media_id": thumb_media_id,
        }
        await self.send_custom(touser, "music", music, kf_account=kf_account)

    async def send_news(
        self, touser: str, article: Article, *, kf_account: str | None = None
    ) -> None:
        """A link card: customer-service ``news`` carries exactly one article."""
        item: JsonObject = {
            "title": article.title,
            "description": article.description,
            "url": article.url,
            "picurl": article.picurl,
        }
        await self.send_custom(touser, "news", {"articles": [item]}, kf_account=kf_account)

    async def send_mpnews(
        self, touser: str, media_id: str, *, kf_account: str | None = None
    ) -> None:
        await self.send_custom(touser, "mpnews", {"media_id": media_id}, kf_account=kf_account)

    async def send_mpnewsarticle(
        self, touser: str, article_id: str, *, kf_account: str | None = None
    ) -> None:
        await self.send_custom(
            touser, "mpnewsarticle", {"article_id": article_id}, kf_account=kf_account
        )

    async def send_msgmenu(
        self,
        touser: str,
        items: Sequence[tuple[str, str]],
        *,
        head_content: str = "",
        tail_content: str = "",
        kf_account: str | None = None,
    ) -> None:
        """A menu message: ``items`` are ``(id, content)`` pairs the user can tap."""
        menu: JsonObject = {
            "head_content": head_content,
            "list": [{"id": item_id, "content": text} for item_id, text in items],
            "tail_content": tail_content,
        }
        await self.send_custom(touser, "msgmenu", menu, kf_account=kf_account)

    async def send_wxcard(
        self, touser: str, card_id: str, *, kf_account: str | None = None
    ) -> None:
        await self.send_custom(touser, "wxcard", {"card_id": card_id}, kf_account=kf_account)

    async def send_miniprogrampage(
        self,
        touser: str,
        *,
        title: str,
        appid: str,
        pagepath: str,
        thumb_media_id: str,
        kf_account: str | None = None,
    ) -> None:
        page: JsonObject = {
            "title": title,
            "appid": appid,
            "pagepath": pagepath,
            "thumb_media_id": thumb_media_id,
        }
        await self.send_custom(touser, "miniprogrampage", page, kf_account=kf_account)


class JsapiApi(_Group):
    """``client.jsapi``: the jsapi_ticket and JS-SDK page signatures (§5.9)."""

    async def ticket(self) -> str:
        """The jsapi_ticket, cached and shared like the access_token."""
        return await self._client.tickets.get()

    async def sign(
        self, url: str, *, noncestr: str | None = None, timestamp: int | None = None
    ) -> JsapiSignature:
        """The ``wx.config`` signature for the page at ``url`` (its ``#fragment`` dropped, D19).

        ``noncestr`` defaults to 16 random characters, ``timestamp`` to the clock's now.
        """
        page = strip_fragment(url)
        nonce = noncestr if noncestr is not None else new_nonce()
        ts = timestamp if timestamp is not None else int(self._client.clock.time())
        ticket = await self.ticket()
        return JsapiSignature(
            app_id=self._client.app_id,
            noncestr=nonce,
            timestamp=ts,
            url=page,
            signature=jsapi_signature(jsapi_ticket=ticket, noncestr=nonce, timestamp=ts, url=page),
        )


class ShopApi(_Group):
    """``client.shop``: Channels shop orders and after-sales (§5.11). Ids are exact decimals."""

    async def order_detail(
        self, order_id: int | str, *, encode_sensitive_info: bool | None = None
    ) -> JsonObject:
        """``channels/ec/order/get``: the ``order`` object, verbatim (48001 = not a shop)."""
        body: dict[str, JsonValue] = {"order_id": _exact_id("order_id", order_id)}
        if encode_sensitive_info is not None:
            body["encode_sensitive_info"] = encode_sensitive_info
        data = await self._client.call("POST", "/channels/ec/order/get", json_body=body)
        return _object("channels/ec/order/get", data, "order")

    async def refund_detail(self, after_sale_order_id: int | str) -> JsonObject:
        """``channels/ec/aftersale/getaftersaleorder``: the ``after_sale_order``, verbatim."""
        path = "/channels/ec/aftersale/getaftersaleorder"
        body: JsonObject = {
            "after_sale_order_id": _exact_id("after_sale_order_id", after_sale_order_id)
        }
        data = await self._client.call("POST", path, json_body=body)
        return _object(path.lstrip("/"), data, "after_sale_order")


class MediaApi(_Group):
    """``client.media``: temporary media (§5.12)."""

    async def upload(
        self,
        media_type: MediaType,
        data: bytes,
        *,
        filename: str,
        content_type: str = "application/octet-stream",
    ) -> MediaUpload:
        """``cgi-bin/media/upload``: multipart field ``media``; the media_id lives 3 days."""
        limit = MEDIA_LIMITS.get(media_type)
        if limit is None:
            raise ValueError(f"media_type must be one of {sorted(MEDIA_LIMITS)}")
        if not data:
            raise ValueError("media is empty")
        if len(data) > limit:
            raise MediaTooLargeError(len(data), limit)

        def form() -> aiohttp.FormData:
            fd = aiohttp.FormData()
            fd.add_field("media", data, filename=filename, content_type=content_type)
            return fd

        label = "cgi-bin/media/upload"
        result = await self._client.call(
            "POST",
            "/cgi-bin/media/upload",
            params={"type": media_type},
            form=form,
            timeout=self._client.config.timeouts.upload,
        )
        media_id = result.get("media_id") or result.get("thumb_media_id")
        if not isinstance(media_id, str) or not media_id:
            raise DecodeError(f"{label}: reply lacks a string 'media_id'")
        kind = result.get("type")
        created = result.get("created_at")
        return MediaUpload(
            type=kind if isinstance(kind, str) else media_type,
            media_id=media_id,
            created_at=as_int(created) or 0,
        )


# --- the client --------------------------------------------------------------------------------


class MpApiClient(Closeable):
    """One Official Account's API client.

    ``session`` is borrowed (never closed here); without one a session is created on first use
    and closed by :meth:`close` / ``async with``. ``token_store`` is shared by every client (in
    any process) that should share tokens; the default keeps them in this object's memory.
    """

    def __init__(
        self,
        app_id: str,
        app_secret: str | Secret,
        *,
        api_base_url: str = DEFAULT_API_BASE_URL,
        mp_base_url: str = DEFAULT_MP_BASE_URL,
        open_base_url: str = DEFAULT_OPEN_BASE_URL,
        session: aiohttp.ClientSession | None = None,
        token_store: TokenStore | None = None,
        clock: Clock | None = None,
        config: MpClientConfig | None = None,
    ) -> None:
        if not app_id:
            raise ValueError("app_id must not be empty")
        self.app_id = app_id
        self._secret = app_secret if isinstance(app_secret, Secret) else Secret(app_secret)
        self.config = config or MpClientConfig()
        self.clock: Clock = clock or SystemClock()
        self.mp_base_url = mp_base_url.rstrip("/")
        self.token_store: TokenStore = (
            token_store if token_store is not None else (MemoryTokenStore())
        )
        self.transport = MpTransport(
            api_base_url,
            session=session,
            timeouts=self.config.timeouts,
            max_response_bytes=self.config.max_response_bytes,
        )
        self.tokens = TokenManager(
            app_id,
            ACCESS_TOKEN,
            self._fetch_access_token,
            store=self.token_store,
            clock=self.clock,
            policy=self.config.token_policy,
        )
        self.tickets = TokenManager(
            app_id,
            JSAPI_TICKET,
            self._fetch_jsapi_ticket,
            store=self.token_store,
            clock=self.clock,
            policy=self.config.token_policy,
        )
        self.user = UserApi(self)
        self.qrcode = QrCodeApi(self)
        self.message = MessageApi(self)
        self.jsapi = JsapiApi(self)
        self.shop = ShopApi(self)
        self.media = MediaApi(self)
        self.oauth = OAuthApi(
            self.transport,
            app_id=app_id,
            app_secret=self._secret,
            clock=self.clock,
            code_ttl_s=self.config.oauth_code_ttl_s,
            open_base_url=open_base_url,
        )

    def __repr__(self) -> str:
        return (
            f"MpApiClient(app_id={self.app_id!r}, api_base_url={self.api_base_url!r}, "
            f"token_mode={self.config.token_mode!r}, token_store={self.token_store!r})"
        )

    @property
    def api_base_url(self) -> str:
        return self.transport.api_base_url

    # --- lifecycle ------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the session this client created; a borrowed one stays open."""
        await self.transport.close()

    # --- tokens ---------------------------------------------------------------------------------

    async def access_token(self) -> str:
        """The current access_token (refreshed by the single holder when needed)."""
        return await self.tokens.get()

    async def _fetch_access_token(self, *, force: bool) -> tuple[str, float]:
        if self.config.token_mode == "stable":  # noqa: S105 - a mode name
            label = "cgi-bin/stable_token"
            body: dict[str, JsonValue] = {
                "grant_type": "client_credential",
                "appid": self.app_id,
                "secret": self._secret.reveal(),
                "force_refresh": force,
            }
            data = await self.transport.call(label, "POST", "/cgi-bin/stable_token", json_body=body)
        else:
            label = "cgi-bin/token"
            params = {
                "grant_type": "client_credential",
                "appid": self.app_id,
                "secret": self._secret.reveal(),
            }
            data = await self.transport.call(label, "GET", "/cgi-bin/token", params=params)
        return _require_str(label, data, "access_token"), _require_int(label, data, "expires_in")

    async def _fetch_jsapi_ticket(self, *, force: bool) -> tuple[str, float]:
        label = "cgi-bin/ticket/getticket"
        data = await self.call("GET", "/cgi-bin/ticket/getticket", params={"type": "jsapi"})
        return _require_str(label, data, "ticket"), _require_int(label, data, "expires_in")

    # --- protected calls ------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, JsonValue] | None = None,
        form: FormFactory | None = None,
        timeout: float | None = None,
    ) -> JsonObject:
        """Call any access_token API at ``path`` (e.g. ``/cgi-bin/menu/get``).

        The token is added as the ``access_token`` query parameter. If WeChat answers 40001,
        40014 or 42001, the token is refreshed once (the store is consulted first: another holder
        may already have replaced it) and the call is sent once more; a second refusal is raised.
        ``form`` builds a fresh multipart body for each attempt.
        """
        label = path.lstrip("/")
        token = await self.tokens.get()
        try:
            return await self._send(label, method, path, token, params, json_body, form, timeout)
        except WeChatApiError as exc:
            if not exc.token_invalid:
                raise
            log.info(
                "%s (app %s): access_token refused with errcode %s; refreshing once",
                label,
                self.app_id,
                exc.errcode,
            )
        token = await self.tokens.get(rejected=token)
        return await self._send(label, method, path, token, params, json_body, form, timeout)

    async def _send(
        self,
        label: str,
        method: str,
        path: str,
        token: str,
        params: Mapping[str, str] | None,
        json_body: Mapping[str, JsonValue] | None,
        form: FormFactory | None,
        timeout: float | None,
    ) -> JsonObject:
        query = {"access_token": token, **(params or {})}
        return await self.transport.call(
            label, method, path, params=query, json_body=json_body, form=form, timeout=timeout
        )

    # --- discontinued ---------------------------------------------------------------------------

    async def short_url(self, long_url: str) -> NoReturn:
        """Always raises :class:`ApiDiscontinuedError`: ``cgi-bin/shorturl`` is gone (§5.10).

        Since 2021-03-15 WeChat no longer shortens anything: the answer echoes ``long_url`` or,
        on some accounts, is 45103 ``This API has been unsupported``. The replacement,
        ``cgi-bin/shorten/gen``, returns a key rather than a URL.
        """
        raise ApiDiscontinuedError(
            "cgi-bin/shorturl",
            "WeChat discontinued long2short on 2021-03-15 (it now echoes the long URL or answers "
            "45103); use the long URL as it is, or cgi-bin/shorten/gen for a short key",
        )
