"""The :class:`OfficialAccountSimulator`: WeChat's side of an Official Account, on loopback.

::

    async with OfficialAccountSimulator(clock=FakeClock()) as wx:
        app = wx.create_app(mode="safe", push_url="http://127.0.0.1:8080/wx")
        user = wx.add_user(app.appid)
        result = await wx.push(app.appid, user.openid, messages.text("hi"))
        assert result.verdict == "reply"
        ...  # point the gateway's API base URL at wx.api_base_url

It plays three roles (docs/simulator-official-account.md):

* an **API server** standing in for ``api.weixin.qq.com`` (tokens, users, QR codes, OAuth,
  template / subscription / customer-service messages, media, JS-SDK tickets, shorturl, shop),
  ``mp.weixin.qq.com/cgi-bin/showqrcode`` and ``open.weixin.qq.com/connect/oauth2/authorize``;
* a **push client** that signs, encrypts, POSTs and retries pushes like WeChat and validates the
  passive reply;
* a **control API** under ``/_sim/mp/``, the HTTP twin of the Python methods.

Every expiry and quota rule reads the injected clock (plus the offset that ``advance`` /
``POST /_sim/mp/clock`` adds); push deadlines and fault latencies are real time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, Literal, TypedDict, Unpack

import aiohttp
from aiohttp import web

from weixin_gateway._clock import Clock, SystemClock
from weixin_gateway._resource import Service
from weixin_gateway.mp.signature import jsapi_signature, url_signature
from weixin_gateway.simulator._errors import SimulatorError, SimulatorNotFoundError
from weixin_gateway.simulator._http import serve

from . import messages
from ._ids import MpIds
from .api import ApiRoutes
from .config import AppConfig, Mode, MpSimulatorConfig, update_config
from .control import ControlRoutes
from .faults import ApiFault, ApiFaultBook, ApiFaultPlan
from .messages import PushSpec, ShopEvent
from .pusher import with_query
from .pushing import NOTICE, PUSH_HEADERS, PushEngine
from .records import (
    AfterSaleOrder,
    ApiCall,
    BrowseHit,
    BrowseResult,
    CustomMessage,
    IssuedToken,
    JsSdkCheck,
    MediaItem,
    MpUser,
    OAuthCode,
    PushResult,
    QrCode,
    ShopOrder,
    SubscribeMessage,
    TemplateMessage,
    TranscriptEntry,
    TranscriptSource,
    UrlVerification,
)
from .state import AppState, Quotas, Trigger, UserState
from .tokens import TokenBook

__all__ = ["NOTICE", "OfficialAccountSimulator", "PushOptions", "ShopPushOptions"]

log = logging.getLogger(__name__)

_ORDER_STATUS_AFTER = {
    "channels_ec_order_new": 10,
    "channels_ec_order_pay": 20,
    "channels_ec_order_wait_shipping": 20,
    "channels_ec_order_deliver": 30,
    "channels_ec_order_confirm": 100,
    "channels_ec_order_settle": 100,
    "channels_ec_order_cancel": 250,
}
_MAX_BODY = 64 << 20


class PushOptions(TypedDict, total=False):
    """Options of every push helper (see :meth:`OfficialAccountSimulator.push`)."""

    url: str | None
    mode: Mode | None
    timeout_s: float | None
    attempts: int | None
    resign: bool | None
    overlap_after_s: float | None


class ShopPushOptions(TypedDict, total=False):
    """Options of the shop push helpers (see :meth:`OfficialAccountSimulator.push_shop`)."""

    url: str | None
    mode: Mode | None
    format: Literal["json", "xml"] | None
    timeout_s: float | None
    attempts: int | None


class OfficialAccountSimulator(Service):
    """WeChat's side of Official Accounts and Channels shops, for tests (see module docstring).

    ``port=0`` picks a free port. Use ``async with`` (or :meth:`start` / :meth:`close`).
    """

    def __init__(
        self,
        config: MpSimulatorConfig | None = None,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        apps: Sequence[AppConfig] = (),
    ) -> None:
        self._config = config or MpSimulatorConfig()
        self.clock: Clock = clock or SystemClock()
        self.ids = MpIds(self._config.seed)
        self.token_book = TokenBook(self.ids)
        self.quotas = Quotas()
        self.fault_book = ApiFaultBook()
        self._host = host
        self._port = port
        self._offset = 0.0
        self._apps: dict[str, AppState] = {}
        self._calls: list[ApiCall] = []
        self._call_seq = 0
        self._templates: list[TemplateMessage] = []
        self._subscribe_msgs: list[SubscribeMessage] = []
        self._custom: list[CustomMessage] = []
        self._transcript: list[TranscriptEntry] = []
        self._pushes: list[PushResult] = []
        self._seq = 0
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._mounted = False
        self._engine = PushEngine(self)
        for app in apps:
            self._add_app(app)

    # --- lifecycle ------------------------------------------------------------------------------

    def register(self, router: web.UrlDispatcher) -> None:
        """Add the WeChat API routes and the ``/_sim/mp/`` control routes to ``router``."""
        ApiRoutes(self).register(router)
        ControlRoutes(self).register(router)

    def mount(self, router: web.UrlDispatcher) -> None:
        """Serve from another aiohttp application (e.g. the iLink simulator's) instead of
        binding a port of our own: add our routes to its ``router`` before it starts, then call
        :meth:`start` with the ``base_url`` it is reachable at (start then only opens the push
        client). Our paths (``/cgi-bin``, ``/sns``, ``/connect``, ``/channels``, ``/_sim/mp``)
        do not collide with the iLink ones."""
        if self._session is not None or self._mounted:
            raise RuntimeError("simulator already started or mounted")
        self.register(router)
        self._mounted = True

    async def start(self, *, base_url: str | None = None) -> None:
        """Bind and serve, and open the push client. When :meth:`mount` ed, only open the
        push client; ``base_url`` is then required."""
        if self._session is not None:
            raise RuntimeError("simulator already started")
        if self._mounted and not base_url:
            raise RuntimeError("a mounted simulator needs base_url")
        if not self._mounted and base_url:
            raise RuntimeError("base_url is only for a mounted simulator")
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=True),
            timeout=aiohttp.ClientTimeout(total=None),
        )
        if base_url:
            self._base_url = base_url.rstrip("/")
            return
        app = web.Application(client_max_size=_MAX_BODY)
        self.register(app.router)
        try:
            runner, self._base_url = await serve(app, self._host, self._port)
        except BaseException:
            await self._session.close()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        log.info("Official Account simulator listening on %s", self._base_url)

    async def close(self) -> None:
        """Cancel background pushes, stop serving, close the push client."""
        if self._closing:
            return
        self._closing = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: the one origin serving every host WeChat has."""
        if self._base_url is None:
            raise RuntimeError("simulator not started")
        return self._base_url

    @property
    def api_base_url(self) -> str:
        """Stands in for ``https://api.weixin.qq.com``."""
        return self.base_url

    @property
    def mp_base_url(self) -> str:
        """Stands in for ``https://mp.weixin.qq.com`` (``/cgi-bin/showqrcode``)."""
        return self.base_url

    @property
    def open_base_url(self) -> str:
        """Stands in for ``https://open.weixin.qq.com`` (``/connect/oauth2/authorize``)."""
        return self.base_url

    @property
    def control_url(self) -> str:
        return self.base_url + "/_sim/mp"

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise RuntimeError("simulator not started")
        return self._session

    # --- config and clock -----------------------------------------------------------------------

    @property
    def config(self) -> MpSimulatorConfig:
        return self._config

    def configure(
        self, changes: Mapping[str, object] | None = None, /, **kwargs: object
    ) -> MpSimulatorConfig:
        """Change switches at runtime: ``wx.configure(enforce_custom_window=False)``."""
        self._config = update_config(
            self._config, {**(changes or {}), **kwargs}, frozen=frozenset({"seed"})
        )
        return self._config

    def now(self) -> float:
        """The simulated time: the clock's plus the offset of :meth:`advance`."""
        return self.clock.time() + self._offset

    def advance(self, seconds: float) -> float:
        """Move simulated time forward (tokens, codes, windows, QR codes and media age)."""
        if seconds < 0:
            raise SimulatorError("advance_s must not be negative", field="advance_s")
        self._offset += seconds
        return self.now()

    def set_time(self, timestamp: float) -> float:
        """Set the simulated time (it may go backwards: use with care)."""
        self._offset = timestamp - self.clock.time()
        return self.now()

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._closing:
            coro.close()
            return
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- apps -----------------------------------------------------------------------------------

    def _add_app(self, config: AppConfig) -> AppState:
        if config.appid in self._apps:
            raise SimulatorError(f"app {config.appid} exists already", field="appid")
        state = AppState(config, self.ids)
        self._apps[config.appid] = state
        return state

    def create_app(self, **fields: object) -> AppConfig:
        """A new account; every field of :class:`AppConfig` may be given, the rest is random."""
        base = AppConfig(
            appid=self.ids.appid(),
            secret=self.ids.secret(),
            token=self.ids.token(),
            encoding_aes_key=self.ids.encoding_aes_key(),
            gh_id=self.ids.gh_id(),
        )
        config = update_config(base, fields)
        return self._add_app(config).config

    def apps(self) -> tuple[AppConfig, ...]:
        return tuple(a.config for a in self._apps.values())

    def app(self, appid: str) -> AppConfig:
        return self._state(appid).config

    def _state(self, appid: str) -> AppState:
        state = self._apps.get(appid)
        if state is None:
            raise SimulatorNotFoundError(f"no app {appid!r}", field="appid")
        return state

    def update_app(self, appid: str, /, **changes: object) -> AppConfig:
        """Change an account's switches (``appid`` itself cannot change)."""
        state = self._state(appid)
        state.config = update_config(state.config, changes, frozen=frozenset({"appid"}))
        state.rebuild()
        return state.config

    # --- users ----------------------------------------------------------------------------------

    def add_user(
        self,
        appid: str,
        /,
        openid: str | None = None,
        *,
        subscribed: bool = True,
        unionid: str | None = None,
        nickname: str | None = None,
        **fields: object,
    ) -> MpUser:
        """A user of ``appid`` (an existing ``openid`` is updated with ``fields``)."""
        state = self._state(appid)
        user = state.add_user(
            self.now(), openid, subscribed=subscribed, unionid=unionid, nickname=nickname
        )
        if fields:
            self._update_user(user, fields)
        return user.snapshot_record()

    def update_user(self, appid: str, openid: str, /, **fields: object) -> MpUser:
        """Change ``subscribed``, ``blocked``, ``tagid_list``, ``remark``, ``language`` …"""
        user = self._state(appid).find_user(openid)
        self._update_user(user, fields)
        return user.snapshot_record()

    _USER_FIELDS: Mapping[str, type] = {
        "subscribed": bool,
        "blocked": bool,
        "snapshot": bool,
        "subscribe_time": int,
        "qr_scene": int,
        "groupid": int,
        "subscribe_scene": str,
        "qr_scene_str": str,
        "remark": str,
        "language": str,
        "nickname": str,
        "headimgurl": str,
        "unionid": str,
        "tagid_list": list,
    }

    def _update_user(self, user: UserState, fields: Mapping[str, object]) -> None:
        for name, value in fields.items():
            kind = self._USER_FIELDS.get(name)
            if kind is None:
                raise SimulatorError(f"unknown user field {name!r}", field=name)
            if kind is list:
                if not isinstance(value, list | tuple) or not all(
                    isinstance(v, int) and not isinstance(v, bool) for v in value
                ):
                    raise SimulatorError(f"{name} must be a list of integers", field=name)
                value = list(value)
            elif not (name == "unionid" and value is None) and (
                not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))
            ):
                raise SimulatorError(f"{name} must be {kind.__name__}", field=name)
            setattr(user, name, value)
            if name == "subscribed" and value is False:
                user.windows.clear()

    def user(self, appid: str, openid: str) -> MpUser:
        return self._state(appid).find_user(openid).snapshot_record()

    def users(self, appid: str) -> tuple[MpUser, ...]:
        return tuple(u.snapshot_record() for u in self._state(appid).users.values())

    def open_window(self, appid: str, openid: str, trigger: Trigger = "message") -> MpUser:
        """Open a customer-service window as if the user had acted (``message``: 5 / 48 h)."""
        user = self._state(appid).find_user(openid)
        user.grant(trigger, self.now())
        return user.snapshot_record()

    # --- templates and subscriptions -------------------------------------------------------

    def add_template(
        self, appid: str, template_id: str | None = None, *, banned: bool = False
    ) -> str:
        """Register a template for ``template/send`` (``banned``: 43116)."""
        value = template_id or self.ids.hex(8) + "-" + self.ids.token()
        self._state(appid).templates[value] = banned
        return value

    def add_subscribe_template(self, appid: str, template_id: str | None = None) -> str:
        """Register a template for ``subscribe/bizsend``."""
        value = template_id or self.ids.token() + self.ids.token()
        self._state(appid).subscribe_templates.add(value)
        return value

    def grant_subscription(
        self, appid: str, openid: str, template_id: str, count: int = 1
    ) -> MpUser:
        """Give a one-time subscription quota without a popup push."""
        state = self._state(appid)
        user = state.find_user(openid)
        state.subscribe_templates.add(template_id)
        user.subscriptions[template_id] = user.subscriptions.get(template_id, 0) + count
        return user.snapshot_record()

    # --- tokens ---------------------------------------------------------------------------------

    def tokens(self, appid: str | None = None) -> tuple[IssuedToken, ...]:
        """Every token issued (classic, stable, web), oldest first."""
        return self.token_book.list(appid)

    def token_state(self, token: str) -> str:
        """``valid``, ``invalidated``, ``expired`` or ``unknown``."""
        issued = self.token_book.tokens.get(token)
        return "unknown" if issued is None else issued.state(self.now())

    def invalidate_tokens(self, appid: str) -> int:
        """Kill every classic and stable token of ``appid`` now (40001 from now on)."""
        self._state(appid)
        return self.token_book.invalidate_all(appid, self.now())

    def expire_token(self, token: str) -> IssuedToken:
        """Make one token expired now (42001 from now on)."""
        expired = self.token_book.expire_now(token, self.now())
        if expired is None:
            raise SimulatorNotFoundError("no such token", field="token")
        return expired

    def issue_token(
        self, appid: str, kind: Literal["classic", "stable"] = "classic"
    ) -> IssuedToken:
        """A token as if ``/cgi-bin/token`` (or a normal ``stable_token``) had been called."""
        self._state(appid)
        config = self._config
        if kind == "stable":
            return self.token_book.issue_stable(
                appid, self.now(), ttl=config.token_ttl_s, roll=config.stable_roll_s, force=False
            )
        return self.token_book.issue_classic(
            appid, self.now(), ttl=config.token_ttl_s, grace=config.token_grace_s
        )

    # --- media, QR codes, tickets ---------------------------------------------------------------

    def add_media(
        self,
        appid: str,
        type: str = "image",
        data: bytes = b"\xff\xd8\xff\xe0simulated\xff\xd9",
        *,
        filename: str = "media.jpg",
        content_type: str = "image/jpeg",
        media_id: str | None = None,
    ) -> MediaItem:
        """Put media in the store, as ``media/upload`` would (valid 3 days)."""
        state = self._state(appid)
        now = self.now()
        item = MediaItem(
            media_id or self.ids.media_id(),
            appid,
            type,
            len(data),
            filename,
            content_type,
            now,
            now + self._config.media_ttl_s,
            data,
        )
        state.media[item.media_id] = item
        return item

    def media(self, appid: str) -> tuple[MediaItem, ...]:
        return tuple(self._state(appid).media.values())

    def qrcodes(self, appid: str) -> tuple[QrCode, ...]:
        return tuple(self._state(appid).qrcodes.values())

    def qrcode(self, ticket: str) -> QrCode:
        for state in self._apps.values():
            if ticket in state.qrcodes:
                return state.qrcodes[ticket]
        raise SimulatorNotFoundError("no such QR ticket", field="ticket")

    def create_qrcode(
        self,
        appid: str,
        scene: int | str,
        *,
        permanent: bool = False,
        expire_seconds: int = 60,
    ) -> QrCode:
        """A QR code as ``qrcode/create`` would make it (no quota, no validation)."""
        state = self._state(appid)
        return self._new_qrcode(state, scene, permanent=permanent, expire_seconds=expire_seconds)

    def _new_qrcode(
        self, state: AppState, scene: int | str, *, permanent: bool, expire_seconds: int
    ) -> QrCode:
        is_str = isinstance(scene, str)
        key = f"{'s' if is_str else 'i'}:{scene}"
        if permanent and key in state.permanent_scenes:
            return state.qrcodes[state.permanent_scenes[key]]
        action = ("QR_LIMIT_" if permanent else "QR_") + ("STR_SCENE" if is_str else "SCENE")
        now = self.now()
        code = QrCode(
            ticket=self.ids.qr_ticket(),
            appid=state.appid,
            action_name=action,
            scene_id=None if is_str else int(scene),
            scene_str=str(scene) if is_str else None,
            expire_seconds=None if permanent else expire_seconds,
            url=self.ids.qr_url(),
            created_at=now,
            expires_at=None if permanent else now + expire_seconds,
        )
        state.qrcodes[code.ticket] = code
        if permanent:
            state.permanent_scenes[key] = code.ticket
        return code

    def issue_ticket(
        self,
        appid: str,
        type: str = "jsapi",
        ticket: str | None = None,
    ) -> str:
        """The current JS-SDK (``jsapi``) or card (``wx_card``) ticket; a new one when none is
        alive, or exactly ``ticket`` when given (for the official-example vectors)."""
        state = self._state(appid)
        now = self.now()
        issued = state.tickets.setdefault(type, [])
        if ticket is None and issued and issued[-1][1] > now:
            return issued[-1][0]
        value = ticket or self.ids.ticket()
        issued.append((value, now + self._config.ticket_ttl_s))
        return value

    def verify_jssdk(
        self,
        *,
        url: str,
        noncestr: str,
        timestamp: int | str,
        signature: str,
        appid: str | None = None,
    ) -> JsSdkCheck:
        """Play ``wx.config``: recompute the signature over the URL without its fragment, with
        every jsapi ticket issued (of ``appid``, or of any app)."""
        now = self.now()
        states = [self._state(appid)] if appid is not None else list(self._apps.values())
        raw_string = "jsapi_ticket={}&noncestr=" + noncestr + f"&timestamp={timestamp}&url={url}"
        with_fragment = False
        for state in states:
            for ticket, expires_at in reversed(state.tickets.get("jsapi", [])):
                expected = jsapi_signature(
                    jsapi_ticket=ticket, noncestr=noncestr, timestamp=timestamp, url=url
                )
                if expected == signature:
                    if now >= expires_at:
                        return JsSdkCheck(False, "stale ticket", False, ticket)
                    return JsSdkCheck(True, "ok", False, ticket)
                if "#" in url:
                    digest = hashlib.sha1(raw_string.format(ticket).encode()).hexdigest()  # noqa: S324
                    with_fragment = with_fragment or digest == signature
        return JsSdkCheck(False, "invalid signature", with_fragment)

    # --- OAuth ---------------------------------------------------------------------------------

    def oauth_codes(self, appid: str | None = None) -> tuple[OAuthCode, ...]:
        states = [self._state(appid)] if appid is not None else list(self._apps.values())
        return tuple(code for state in states for code in state.codes.values())

    def issue_oauth_code(
        self,
        appid: str,
        openid: str | None = None,
        *,
        scope: str = "snsapi_base",
        redirect_uri: str = "",
        state: str = "",
        snapshot: bool = False,
    ) -> OAuthCode:
        """What the browser gets after consent: a single-use code for ``openid`` (created, not
        subscribed, when unknown). ``snapshot``: a virtual snapshot-page user instead."""
        app = self._state(appid)
        if scope not in ("snsapi_base", "snsapi_userinfo"):
            raise SimulatorError("scope must be snsapi_base or snsapi_userinfo", field="scope")
        now = self.now()
        if snapshot:
            user = app.add_user(now, subscribed=False)
            user.snapshot = True
        elif openid is not None and openid in app.users:
            user = app.users[openid]
        else:
            user = app.add_user(now, openid, subscribed=False)
        code = OAuthCode(
            code=self.ids.oauth_code(),
            appid=appid,
            openid=user.openid,
            scope=scope,
            state=state,
            redirect_uri=redirect_uri,
            issued_at=now,
            expires_at=now + self._config.oauth_code_ttl_s,
            snapshot=user.snapshot,
        )
        app.codes[code.code] = code
        return code

    async def browse_oauth(
        self,
        appid: str,
        redirect_uri: str,
        *,
        openid: str | None = None,
        scope: str = "snsapi_base",
        state: str = "",
        refuse: bool = False,
        snapshot: bool = False,
        double: bool = False,
        double_delay_s: float = 0.1,
        timeout_s: float | None = None,
    ) -> BrowseResult:
        """A browser doing the whole web authorization against the gateway: consent, then a GET
        of ``redirect_uri?code=…&state=…`` (not following further redirects). ``double``
        delivers the same code twice, ``double_delay_s`` apart (the cause of 40163);
        ``refuse`` declines a ``snsapi_userinfo`` prompt (no code)."""
        code: OAuthCode | None = None
        query = {"state": state}
        if not refuse:
            code = self.issue_oauth_code(
                appid,
                openid,
                scope=scope,
                redirect_uri=redirect_uri,
                state=state,
                snapshot=snapshot,
            )
            query = {"code": code.code, "state": state}
        location = with_query(redirect_uri, query)
        hits = [await self._browse(location, timeout_s)]
        if double:
            await asyncio.sleep(double_delay_s)
            hits.append(await self._browse(location, timeout_s))
        return BrowseResult(code.code if code else None, location, tuple(hits))

    async def _browse(self, url: str, timeout_s: float | None) -> BrowseHit:
        try:
            async with asyncio.timeout(timeout_s or self._config.push_timeout_s):
                async with self.session.get(url, allow_redirects=False) as resp:
                    body = await resp.text(errors="replace")
                    return BrowseHit(url, resp.status, dict(resp.headers), body)
        except TimeoutError:
            return BrowseHit(url, None, {}, "", "timeout")
        except aiohttp.ClientError as exc:
            return BrowseHit(url, None, {}, "", f"connection error: {type(exc).__name__}")

    # --- shop -------------------------------------------------------------------------------

    def create_order(
        self,
        appid: str,
        openid: str | None = None,
        *,
        order_id: int | None = None,
        status: int = 10,
        price: int = 990,
    ) -> ShopOrder:
        """A shop order (id above 2**53 unless given)."""
        state = self._state(appid)
        user = state.add_user(self.now(), openid)
        now = int(self.now())
        order = ShopOrder(
            appid=appid,
            order_id=order_id if order_id is not None else self.ids.order_id(),
            openid=user.openid,
            status=status,
            create_time=now,
            update_time=now,
            product_id=self.ids.order_id() // 1000,
            sku_id=self.ids.order_id() // 100,
            price=price,
        )
        state.orders[order.order_id] = order
        return order

    def create_aftersale(
        self,
        appid: str,
        order_id: int,
        *,
        status: str = "MERCHANT_PROCESSING",
        type: str = "REFUND",
        after_sale_order_id: int | None = None,
    ) -> AfterSaleOrder:
        state = self._state(appid)
        order = state.orders.get(order_id)
        if order is None:
            raise SimulatorNotFoundError(f"no order {order_id}", field="order_id")
        if status not in messages.AFTERSALE_STATUSES:
            raise SimulatorError("status is not an after-sale status", field="status")
        now = int(self.now())
        value = after_sale_order_id if after_sale_order_id is not None else self.ids.order_id()
        existing = state.aftersales.get(value)
        aftersale = AfterSaleOrder(
            appid=appid,
            after_sale_order_id=value,
            order_id=order_id,
            openid=order.openid,
            status=status,
            type=type,
            create_time=existing.create_time if existing else now,
            update_time=now,
            amount=order.price,
        )
        state.aftersales[value] = aftersale
        return aftersale

    def orders(self, appid: str) -> tuple[ShopOrder, ...]:
        return tuple(self._state(appid).orders.values())

    def aftersales(self, appid: str) -> tuple[AfterSaleOrder, ...]:
        return tuple(self._state(appid).aftersales.values())

    # --- records ----------------------------------------------------------------------------

    def _record_call(self, call: ApiCall) -> None:
        if not self._config.record_calls:
            return
        self._calls.append(call)
        overflow = len(self._calls) - self._config.max_records
        if overflow > 0:
            del self._calls[:overflow]

    def next_call_seq(self) -> int:
        self._call_seq += 1
        return self._call_seq

    def calls(
        self, path: str | None = None, *, since: int = 0, appid: str | None = None
    ) -> tuple[ApiCall, ...]:
        """API calls received (optionally of one path, after sequence number ``since``)."""
        return tuple(
            c
            for c in self._calls
            if c.seq > since
            and (path is None or c.path == path)
            and (appid is None or c.appid == appid)
        )

    def clear_calls(self) -> None:
        self._calls.clear()

    def template_messages(
        self, appid: str | None = None, openid: str | None = None
    ) -> tuple[TemplateMessage, ...]:
        return tuple(
            m for m in self._templates if appid in (None, m.appid) and openid in (None, m.openid)
        )

    def subscribe_messages(
        self, appid: str | None = None, openid: str | None = None
    ) -> tuple[SubscribeMessage, ...]:
        return tuple(
            m
            for m in self._subscribe_msgs
            if appid in (None, m.appid) and openid in (None, m.openid)
        )

    def custom_messages(
        self, appid: str | None = None, openid: str | None = None
    ) -> tuple[CustomMessage, ...]:
        return tuple(
            m for m in self._custom if appid in (None, m.appid) and openid in (None, m.openid)
        )

    def transcript(self, appid: str, openid: str) -> tuple[TranscriptEntry, ...]:
        """What the user saw in the chat with ``appid``, in order."""
        return tuple(e for e in self._transcript if e.appid == appid and e.openid == openid)

    def pushes(self, appid: str | None = None) -> tuple[PushResult, ...]:
        return tuple(p for p in self._pushes if appid in (None, p.appid))

    def push_result(self, push_id: int) -> PushResult:
        for result in self._pushes:
            if result.id == push_id:
                return result
        raise SimulatorNotFoundError(f"no push {push_id}", field="id")

    def _say(
        self,
        app: AppState,
        openid: str,
        source: TranscriptSource,
        msg_type: str,
        content: Mapping[str, object],
    ) -> TranscriptEntry:
        entry = TranscriptEntry(
            self._next_seq(), self.now(), app.appid, openid, source, msg_type, dict(content)
        )
        self._transcript.append(entry)
        return entry

    def leaks(self, text: str) -> tuple[str, ...]:
        """Which of the simulator's secrets appear in ``text`` (captured gateway logs, an error
        body, a forwarded JSON): descriptions like ``"wx… secret"`` or ``"wx… access_token
        (classic)"``, never the secret itself (checklist §8.9)."""
        found: list[str] = []
        for state in self._apps.values():
            config = state.config
            named = (
                ("secret", config.secret),
                ("EncodingAESKey", config.encoding_aes_key),
                ("token", config.token),
            )
            found += [f"{config.appid} {name}" for name, value in named if value in text]
            for kind, issued in state.tickets.items():
                found += [f"{config.appid} {kind} ticket" for value, _ in issued if value in text]
            found += [
                f"{config.appid} refresh_token" for value in state.refresh_tokens if value in text
            ]
        found += [
            f"{token.appid} access_token ({token.kind})"
            for token in self.token_book.list()
            if token.token in text
        ]
        return tuple(dict.fromkeys(found))

    def _record_push(self, result: PushResult) -> None:
        self._pushes.append(result)

    def _record_template(self, message: TemplateMessage) -> None:
        self._templates.append(message)

    def _record_subscribe(self, message: SubscribeMessage) -> None:
        self._subscribe_msgs.append(message)

    def _record_custom(self, message: CustomMessage) -> None:
        self._custom.append(message)

    # --- faults ---------------------------------------------------------------------------------

    def add_fault(self, plan: ApiFaultPlan) -> ApiFault:
        return self.fault_book.add(plan)

    def faults(self) -> tuple[ApiFault, ...]:
        return self.fault_book.list()

    def remove_fault(self, fault_id: int) -> None:
        self.fault_book.remove(fault_id)

    def clear_faults(self) -> None:
        self.fault_book.clear()

    def reset(self) -> None:
        """Forget every app, user, token, record and fault (the config and clock stay)."""
        self._apps.clear()
        self.token_book.clear()
        self.quotas.clear()
        self.fault_book.clear()
        for store in (
            self._calls,
            self._templates,
            self._subscribe_msgs,
            self._custom,
            self._transcript,
            self._pushes,
        ):
            store.clear()

    async def push(
        self,
        appid: str,
        openid: str,
        spec: PushSpec,
        *,
        url: str | None = None,
        mode: Mode | None = None,
        timeout_s: float | None = None,
        attempts: int | None = None,
        resign: bool | None = None,
        overlap_after_s: float | None = None,
    ) -> PushResult:
        """Push a message or event from ``openid`` (created when unknown) to the gateway.

        Signed and, in compat/safe ``mode`` (default: the app's), encrypted; retried like
        WeChat (``attempts``, ``timeout_s`` per attempt, ``resign`` retries with a fresh
        timestamp/nonce, ``overlap_after_s`` starts a retry while the previous attempt is still
        in flight); the reply is validated. The user action takes effect first (a subscribe
        subscribes, a message opens the customer-service window ...).
        """
        prepared = self._engine.prepare(self._state(appid), openid, spec, url=url, mode=mode)
        return await self._engine.deliver(
            prepared,
            timeout_s=timeout_s,
            attempts=attempts,
            resign=resign,
            overlap_after_s=overlap_after_s,
        )

    async def push_duplicate(
        self,
        appid: str,
        openid: str,
        spec: PushSpec,
        *,
        times: int = 2,
        concurrent: bool = False,
        url: str | None = None,
        mode: Mode | None = None,
        timeout_s: float | None = None,
    ) -> tuple[PushResult, ...]:
        """Deliver one push ``times`` times — same body, same MsgId and CreateTime — one after
        the other or all at once (a duplicate delivery; the gateway must deduplicate)."""
        if times < 1:
            raise SimulatorError("times must be at least 1", field="times")
        prepared = self._engine.prepare(self._state(appid), openid, spec, url=url, mode=mode)
        if concurrent:
            return tuple(
                await asyncio.gather(
                    *(
                        self._engine.deliver(prepared, timeout_s=timeout_s, attempts=1)
                        for _ in range(times)
                    )
                )
            )
        return tuple(
            [
                await self._engine.deliver(prepared, timeout_s=timeout_s, attempts=1)
                for _ in range(times)
            ]
        )

    async def push_shop(
        self,
        appid: str,
        event: ShopEvent,
        *,
        openid: str | None = None,
        url: str | None = None,
        mode: Mode | None = None,
        format: Literal["json", "xml"] | None = None,
        timeout_s: float | None = None,
        attempts: int | None = None,
    ) -> PushResult:
        """Push a Channels-shop event (JSON by default) with the shop retry schedule: up to 10
        pushes, the delays slept on the injected clock; success is ``success`` or empty."""
        prepared = self._engine.prepare_shop(
            self._state(appid), event, openid=openid, url=url, mode=mode, format=format
        )
        return await self._engine.deliver(prepared, timeout_s=timeout_s, attempts=attempts)

    async def verify_url(
        self,
        appid: str,
        *,
        url: str | None = None,
        echostr: str | None = None,
        bad_signature: bool = False,
        timeout_s: float | None = None,
    ) -> UrlVerification:
        """The GET WeChat sends when the admin saves the server URL. Passes when the answer is
        200 and exactly ``echostr`` (plaintext in every mode). ``bad_signature`` sends a wrong
        signature (the gateway must then refuse)."""
        app = self._state(appid)
        target = self._engine.push_url(app, url)
        timestamp = str(int(self.now()))
        nonce = self.ids.nonce()
        echo = echostr or self.ids.echostr()
        signature = url_signature(app.config.token, timestamp, nonce)
        if bad_signature:
            signature = hashlib.sha1(signature.encode()).hexdigest()  # noqa: S324
        query = {"signature": signature, "echostr": echo, "timestamp": timestamp, "nonce": nonce}
        full = with_query(target, query)
        try:
            async with asyncio.timeout(timeout_s or self._config.push_timeout_s):
                async with self.session.get(full, headers=PUSH_HEADERS) as resp:
                    body = await resp.text(errors="replace")
                    ok = resp.status == 200 and body == echo
                    return UrlVerification(ok, resp.status, body, echo, full)
        except TimeoutError:
            return UrlVerification(False, None, "", echo, full, "timeout")
        except aiohttp.ClientError as exc:
            return UrlVerification(
                False, None, "", echo, full, f"connection error: {type(exc).__name__}"
            )

    # --- scenarios (checklist §1.7) ---------------------------------------------------------

    async def user_says(
        self, appid: str, openid: str, content: str, **options: Unpack[PushOptions]
    ) -> PushResult:
        """The user sends a text message (opens the 5 / 48 h window)."""
        return await self.push(appid, openid, messages.text(content), **options)

    async def follow(
        self,
        appid: str,
        openid: str | None = None,
        *,
        scene: str | int | None = None,
        **options: Unpack[PushOptions],
    ) -> PushResult:
        """The user follows (``scene``: through a parametric QR code): subscribed, 3 / 1 min."""
        state = self._state(appid)
        user = state.add_user(self.now(), openid, subscribed=False)
        return await self.push(appid, user.openid, messages.subscribe(scene), **options)

    async def unfollow(self, appid: str, openid: str, **options: Unpack[PushOptions]) -> PushResult:
        return await self.push(appid, openid, messages.unsubscribe(), **options)

    async def scan_qr(
        self, appid: str, ticket: str, openid: str | None = None, **options: Unpack[PushOptions]
    ) -> PushResult | None:
        """The user scans a QR code: ``SCAN`` when following, else ``subscribe`` +
        ``qrscene_``. An expired (or unknown) ticket pushes nothing (``None``)."""
        state = self._state(appid)
        code = state.qrcodes.get(ticket)
        if code is None or (code.expires_at is not None and self.now() >= code.expires_at):
            return None
        user = state.add_user(self.now(), openid, subscribed=False)
        spec = (
            messages.scan(code.scene, ticket=ticket)
            if user.subscribed
            else messages.subscribe(code.scene, ticket=ticket)
        )
        return await self.push(appid, user.openid, spec, **options)

    async def click_menu(
        self, appid: str, openid: str, key: str, **options: Unpack[PushOptions]
    ) -> PushResult:
        """A ``click`` menu (3 / 1 min window)."""
        return await self.push(appid, openid, messages.click(key), **options)

    async def answer_popup(
        self,
        appid: str,
        openid: str,
        decisions: Mapping[str, Literal["accept", "reject"]],
        *,
        popup_scene: int = 2,
        **options: Unpack[PushOptions],
    ) -> PushResult:
        """The user answers a subscription popup; each ``accept`` allows one ``bizsend``."""
        spec = messages.subscribe_msg_popup(list(decisions.items()), popup_scene=popup_scene)
        return await self.push(appid, openid, spec, **options)

    async def mass_send_finished(
        self, appid: str, msg_id: int | None = None, **options: Unpack[PushOptions]
    ) -> PushResult:
        """MASSSENDJOBFINISH from the system account."""
        state = self._state(appid)
        spec = dataclasses.replace(
            messages.mass_send_job_finish(msg_id or self.ids.template_msgid()),
            from_user=state.system_openid,
        )
        return await self.push(appid, state.system_openid, spec, **options)

    async def order_scenario(
        self,
        appid: str,
        event: str = "channels_ec_order_new",
        *,
        order_id: int | None = None,
        openid: str | None = None,
        ids_as_strings: bool = False,
        **options: Unpack[ShopPushOptions],
    ) -> tuple[ShopOrder, PushResult]:
        """Create (or update) an order and push the matching ``channels_ec_order_*`` event."""
        state = self._state(appid)
        order = state.orders.get(order_id) if order_id is not None else None
        if order is None:
            order = self.create_order(appid, openid, order_id=order_id)
        info: dict[str, messages.JsonLike] = {}
        now = int(self.now())
        if event == "channels_ec_order_pay":
            info["pay_time"] = now
        elif event == "channels_ec_order_cancel":
            info["cancel_type"] = 1
        elif event == "channels_ec_order_confirm":
            info["confirm_type"] = 1
        elif event == "channels_ec_order_settle":
            info["settle_time"] = now
        elif event == "channels_ec_order_deliver":
            info["finish_delivery"] = 1
        elif event == "channels_ec_order_ext_info_update":
            info["type"] = 1
        if event in _ORDER_STATUS_AFTER:
            order = dataclasses.replace(order, status=_ORDER_STATUS_AFTER[event], update_time=now)
            state.orders[order.order_id] = order
        spec = messages.order_event(event, order.order_id, ids_as_strings=ids_as_strings, **info)
        result = await self.push_shop(appid, spec, openid=order.openid, **options)
        return order, result

    async def aftersale_scenario(
        self,
        appid: str,
        order_id: int,
        status: str = "MERCHANT_PROCESSING",
        *,
        after_sale_order_id: int | None = None,
        ids_as_strings: bool = False,
        **options: Unpack[ShopPushOptions],
    ) -> tuple[AfterSaleOrder, PushResult]:
        """Create (or update) an after-sale order and push ``channels_ec_aftersale_update``."""
        aftersale = self.create_aftersale(
            appid, order_id, status=status, after_sale_order_id=after_sale_order_id
        )
        spec = messages.aftersale_event(
            status, aftersale.after_sale_order_id, order_id, ids_as_strings=ids_as_strings
        )
        result = await self.push_shop(appid, spec, openid=aftersale.openid, **options)
        return aftersale, result

    # --- asynchronous job events ------------------------------------------------------------

    def _job_push(self, app: AppState, openid: str, spec: PushSpec) -> None:
        if not self._config.auto_job_events or not app.config.push_url:
            return

        async def run() -> None:
            try:
                await self.push(app.appid, openid, spec)
            except (SimulatorError, aiohttp.ClientError, OSError):  # pragma: no cover - logged
                log.warning("job event %s to app %s not delivered", spec.event, app.appid)

        self._spawn(run())

    async def wait_idle(self, timeout_s: float = 10.0) -> None:
        """Wait until background pushes (job-result events) are done."""
        async with asyncio.timeout(timeout_s):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
