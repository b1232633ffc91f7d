"""One configured Official Account (or Channels shop) service: go-wx-gateway's per-service logic.

Framework-free: every handler takes the request's parts and returns an :class:`HttpAnswer`; the
HTTP layer (:mod:`weixin_gateway.api.mp_app`) only reads requests and writes answers.

**URL verification** (``GET service-path``, §1.4, §6.2): the signature middleware's answers
(``argument expected``, ``invalid timestamp``, ``signature expired``, ``invalid signanure``
with go-wx-gateway's typo, all 400), then the plain ``echostr``.

**A push** (``POST service-path``) goes through these steps:

1. verify the query (as above), then open the body (:func:`~weixin_gateway.mp.envelope.open_push`:
   plaintext, compat or safe mode, ``msg_signature`` and AppID checked in constant time, size
   capped, XML parsed with defusedxml) and parse it (:func:`~weixin_gateway.mp.push.parse_push`).
   Bad input gets a short fixed 4xx body (never a stack trace, defect D4); see :func:`_refusal`.
2. **single-flight** on the push's dedupe key (MsgId, or FromUserName + CreateTime + Event … for
   events, §4.4): every delivery of one push shares one job, kept ``dedupe_ttl_s`` after it ends.
   The upstream sees a push **once**, however often WeChat re-sends it (defect D6).
3. the job (unless ``dont-append-userinfo``) reads ``user/info``, POSTs go-wx-gateway's JSON to
   ``<msg-proxy-pass>/msg/<MsgType>`` or ``/event/<Event>`` and turns the upstream's
   ``{"type","msg",…}`` into a passive reply. Jobs run concurrently: ``workerNum`` (the number
   of goroutines in go-wx-gateway, there a hard cap of ``workerNum`` ÷ upstream latency on
   throughput) only bounds how many pushes may be in progress, ``workerNum ×
   max_backlog_per_worker``; past that a push gets ``503`` and WeChat retries it.
4. the request waits for the job only until the **reply budget** (``reply-budget-ms``, default
   4.5 s, counted from the arrival of the request) runs out. A finished job's reply is answered
   (sealed in safe and compat mode); otherwise the answer is ``success`` at once and the flight
   is marked *late*.
5. a job that finishes *late* hands its reply to the customer-service API
   (``message/custom/send``) when the service sets ``late-reply-via-custom-send`` (defect D6b);
   otherwise the late reply is logged and dropped, as go-wx-gateway dropped it.

Every delivery of a push gets the same outcome: the same reply while the job's result is
answered in time, and ``success`` for every delivery once the flight went late (the user then
gets the reply exactly once, as a customer-service message). An upstream that is down, slow past
its timeout, or answers something that is not a reply gives ``success`` (§6.6, §6.11); the XML
is always well-formed (defect D3). Channels-shop services always answer ``success`` (the only
answers WeChat accepts there, §3.4) after the upstream has had its say.

Without ``msg-proxy-pass`` the service is go-wx-gateway's echo bot (§6.12).

**OAuth** (``GET redirect-path``, §6.8): code → openid (a code used twice is answered from the
client's cache instead of failing with 40163), the user's record, then go-wx-gateway's JSON
POSTed with the browser's headers and cookies to ``redirect-url``, whose answer is relayed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl

from weixin_gateway._clock import Clock, SystemClock
from weixin_gateway.errors import RequestTimeoutError, WeixinError
from weixin_gateway.gateway.singleflight import Flight, SingleFlight
from weixin_gateway.gateway.upstream import Upstream, connection_headers, describe_url
from weixin_gateway.gateway.userinfo import error_text, user_info_object
from weixin_gateway.mp.client import MpApiClient
from weixin_gateway.mp.config import ServiceConfig
from weixin_gateway.mp.crypto import MsgCrypto
from weixin_gateway.mp.envelope import PushQuery, open_push, seal_response, verify_request
from weixin_gateway.mp.errors import (
    DecryptError,
    MissingSignatureError,
    MpError,
    PayloadError,
    PayloadTooLargeError,
    ReplyError,
    SignatureError,
    TimestampError,
    UnsupportedEncryptionError,
)
from weixin_gateway.mp.gojson import JsonObject, JsonValue, go_json
from weixin_gateway.mp.push import (
    Push,
    append_user_info,
    encode_forward_body,
    forward_body,
    parse_push,
)
from weixin_gateway.mp.reply import (
    ImageReply,
    NoReply,
    Reply,
    TextReply,
    VideoReply,
    VoiceReply,
    custom_message,
    parse_reply,
    passive_reply,
)

__all__ = [
    "NO_REPLY",
    "TEXT_PLAIN",
    "HttpAnswer",
    "OfficialAccountService",
    "Outcome",
    "ServiceTuning",
]

log = logging.getLogger(__name__)

NO_REPLY: Final = "success"
TEXT_PLAIN: Final = "text/plain; charset=utf-8"
_NOSNIFF: Final = (("X-Content-Type-Options", "nosniff"),)


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """An HTTP answer: status, body, content type (``None``: given in ``headers``), headers."""

    status: int
    body: bytes = b""
    content_type: str | None = TEXT_PLAIN
    headers: tuple[tuple[str, str], ...] = ()


def _text(status: int, text: str) -> HttpAnswer:
    """go-wx-gateway's ``http.Error``: the text plus a newline, ``nosniff``."""
    return HttpAnswer(status, (text + "\n").encode(), TEXT_PLAIN, _NOSNIFF)


_SUCCESS: Final = HttpAnswer(200, NO_REPLY.encode())
_HELLO: Final = HttpAnswer(200, b"hello, this is handler view")
_BUSY: Final = _text(503, "server busy")
_BAD_BODY: Final = _text(400, "invalid message body")


@dataclass(frozen=True, slots=True)
class ServiceTuning:
    """Settings of a service that go-wx-gateway's file has no key for.

    * ``reply_budget_s``: time to produce a passive reply (the file's ``reply-budget-ms``).
    * ``dedupe_ttl_s`` / ``dedupe_max_entries``: how long and how many outcomes are remembered.
    * ``max_backlog_per_worker``: pushes allowed in progress per ``workerNum`` before new ones
      are refused with 503 (WeChat then retries); bounds memory and the calls in flight to the
      upstream (go-wx-gateway queued without bound, D24).
    * ``user_info_ttl_s``: how long a ``user/info`` answer is reused (0 = never; D32).
    """

    reply_budget_s: float = 4.5
    dedupe_ttl_s: float = 60.0
    dedupe_max_entries: int = 10_000
    max_backlog_per_worker: int = 100
    user_info_ttl_s: float = 60.0
    user_info_max_entries: int = 10_000
    max_body_bytes: int = 64 * 1024
    append_user_info: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.reply_budget_s < 5:
            raise ValueError("reply_budget_s must be between 0 and 5 s (WeChat waits 5 s)")
        if self.dedupe_ttl_s < 0 or self.user_info_ttl_s < 0:
            raise ValueError("TTLs must not be negative")
        if self.max_backlog_per_worker < 1 or self.max_body_bytes < 1:
            raise ValueError("max_backlog_per_worker and max_body_bytes must be positive")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a push's job produced: the upstream's reply and its passive XML (or ``success``)."""

    reply: Reply
    xml: str


_NO_OUTCOME: Final = Outcome(NoReply(), NO_REPLY)


# --------------------------------------------------------------------------------- helpers


def _refusal(exc: MpError) -> HttpAnswer:
    """The short, fixed 4xx answer for a push or verification that cannot be accepted."""
    if isinstance(exc, MissingSignatureError):
        return _text(400, "argument expected")
    if isinstance(exc, TimestampError):
        return _text(400, "signature expired" if exc.expired else str(exc))
    if isinstance(exc, SignatureError):
        return _text(400, "invalid signanure")
    if isinstance(exc, UnsupportedEncryptionError):
        return _text(403, "unsupported encrypted method")
    if isinstance(exc, PayloadTooLargeError):
        return _text(413, "request body too large")
    if isinstance(exc, DecryptError):
        return _text(400, "invalid encrypted message")
    if isinstance(exc, PayloadError):
        return _text(400, "invalid message body")
    return _text(400, "bad request")


def _str_field(fields: Mapping[str, JsonValue], key: str) -> str:
    value = fields.get(key)
    return value if isinstance(value, str) else ""


def echo_reply(push: Push) -> Reply:
    """go-wx-gateway's built-in echo bot, used when ``msg-proxy-pass`` is empty (§6.12).

    ``video`` is echoed like ``shortvideo`` (go-wx-gateway dropped video, defect D2).
    """
    if push.channels_ec:
        return NoReply()
    f = forward_body(push)
    if push.event is None:
        kind = push.msg_type
        if kind == "text":
            return TextReply(_str_field(f, "Content")) if _str_field(f, "Content") else NoReply()
        if kind in ("image", "voice") and _str_field(f, "MediaId"):
            media = _str_field(f, "MediaId")
            return ImageReply(media) if kind == "image" else VoiceReply(media)
        if kind in ("shortvideo", "video") and _str_field(f, "MediaId"):
            return VideoReply(_str_field(f, "MediaId"), title="echo", description="thank you")
        if kind == "link":
            return TextReply(f"your link {_str_field(f, 'Title')} received")
        return NoReply()
    event = push.event
    if event == "CLICK":
        return TextReply(f"event key {_str_field(f, 'EventKey')} clicked")
    if event == "scancode_waitmsg":
        return TextReply(f"scan result: {_str_field(f, 'ScanType')}, {_str_field(f, 'ScanResult')}")
    if event == "subscribe":
        return TextReply("welcome")
    if event in ("MASSSENDJOBFINISH", "TEMPLATESENDJOBFINISH") and _str_field(f, "Status"):
        return TextReply(_str_field(f, "Status"))
    return NoReply()


def _wants_sns_userinfo(flag: str, path: str, query: Sequence[tuple[str, str]]) -> bool:
    """Whether the OAuth request asks for ``snsapi_userinfo`` (``redirect-userinfo-flag``).

    go-wx-gateway looked for the flag anywhere in the raw URI, so a ``code`` or ``state``
    containing it flipped the scope (defect D26). Here it must be in the path, or be the name
    or the whole value of a query parameter other than ``code`` and ``state``.
    """
    if not flag:
        return False
    if flag in path:
        return True
    return any(name not in ("code", "state") and flag in (name, value) for name, value in query)


_NOT_FORWARDED: Final = frozenset(
    {"content-length", "content-type", "accept-encoding", "expect", "x-forwarded-for"}
)


def _forward_headers(
    headers: Sequence[tuple[str, str]], client_ip: str | None
) -> list[tuple[str, str]]:
    """The browser's headers for the redirect-url, as go's ReverseProxy sends them (§6.8).

    Kept unchanged (``Host`` and ``Cookie`` included), hop-by-hop ones removed, the client's
    address appended to ``X-Forwarded-For``. ``Accept-Encoding`` is not passed on, so that the
    body relayed back is never one the browser cannot decode.
    """
    drop = connection_headers(headers) | _NOT_FORWARDED
    out = [(name, value) for name, value in headers if name.lower() not in drop]
    forwarded = [v for name, v in headers if name.lower() == "x-forwarded-for"]
    if client_ip:
        forwarded.append(client_ip)
    if forwarded:
        out.append(("X-Forwarded-For", ", ".join(forwarded)))
    out.append(("Content-Type", "application/json"))
    return out


# --------------------------------------------------------------------------------- service


class OfficialAccountService:
    """One entry of ``services``: verification, pushes and the OAuth redirect.

    ``client`` is the account's API client (``None`` when the service has no ``app-id``: then
    no ``userInfo``, no late replies and no OAuth). ``upstream`` is ``None`` in echo mode.
    """

    def __init__(
        self,
        config: ServiceConfig,
        *,
        client: MpApiClient | None,
        upstream: Upstream | None,
        oauth_upstream: Upstream | None = None,
        tuning: ServiceTuning | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.client = client
        self.tuning = tuning or ServiceTuning()
        self._upstream = upstream if config.msg_proxy_pass else None
        self._oauth_upstream = oauth_upstream
        self._clock: Clock = clock or SystemClock()
        self._token = config.wx_params.token.reveal()
        self._crypto: MsgCrypto | None = config.wx_params.msg_crypto()
        self._app_key = config.wx_params.app_id or config.name
        self._max_backlog = config.worker_num * self.tuning.max_backlog_per_worker
        self._flights: SingleFlight[tuple[str, ...], Outcome] = SingleFlight(
            ttl_s=self.tuning.dedupe_ttl_s,
            max_entries=self.tuning.dedupe_max_entries,
            clock=self._clock,
            name=f"service {config.name}",
        )
        self._user_infos: OrderedDict[str, tuple[float, JsonObject]] = OrderedDict()
        self.forwarded = 0
        """How many pushes were sent to the upstream (for tests and metrics)."""

    def __repr__(self) -> str:
        mode = "echo" if self._upstream is None else describe_url(self.config.msg_proxy_pass)
        return f"OfficialAccountService({self.config.name!r}, {mode})"

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def echo_mode(self) -> bool:
        """No ``msg-proxy-pass``: the built-in echo bot answers (§6.12)."""
        return self._upstream is None

    # ------------------------------------------------------------------ verification (GET)

    def verify(self, query: Mapping[str, str] | PushQuery) -> HttpAnswer:
        """The GET verification: the plain ``echostr`` when the signature is right."""
        q = query if isinstance(query, PushQuery) else PushQuery.from_mapping(query)
        try:
            verify_request(
                q, token=self._token, now=self._clock.time(), timeout_s=self.config.timeout
            )
        except MpError as exc:
            return _refusal(exc)
        if q.echostr is None:
            return _HELLO
        return HttpAnswer(200, q.echostr.encode(), TEXT_PLAIN, _NOSNIFF)

    # ------------------------------------------------------------------------ pushes (POST)

    async def handle_push(
        self,
        query: Mapping[str, str] | PushQuery,
        body: bytes,
        *,
        received_at: float | None = None,
    ) -> HttpAnswer:
        """Answer one push (see the module docstring). ``received_at`` is the monotonic time
        the request arrived; the reply budget counts from it."""
        started = received_at if received_at is not None else self._clock.monotonic()
        q = query if isinstance(query, PushQuery) else PushQuery.from_mapping(query)
        now = self._clock.time()
        config = self.config
        try:
            verify_request(q, token=self._token, now=now, timeout_s=config.timeout)
        except MpError as exc:
            return _refusal(exc)
        try:
            opened = open_push(
                body,
                q,
                token=self._token,
                crypto=self._crypto,
                now=now,
                timeout_s=config.timeout,
                max_size=self.tuning.max_body_bytes,
                channels_ec=config.is_channels_ec,
                require_encryption=config.require_encryption,
            )
            push = parse_push(opened.fields, channels_ec=config.is_channels_ec)
        except SignatureError:  # the URL signature passed above: this is msg_signature
            log.info("service %s: push refused: bad msg_signature", config.name)
            return _text(403, "bad signature")
        except MpError as exc:
            log.info("service %s: push refused: %s", config.name, exc)
            return _refusal(exc)
        except (ValueError, RecursionError) as exc:  # a backstop: parsing must never 500
            log.info("service %s: push refused: %s", config.name, type(exc).__name__)
            return _BAD_BODY

        if self._upstream is None:
            outcome = self._outcome(push, echo_reply(push))
        else:
            got = await self._await_job(push, started)
            if isinstance(got, HttpAnswer):
                return got
            outcome = got
        if outcome.xml == NO_REPLY:
            return _SUCCESS
        sealed = seal_response(
            outcome.xml,
            crypto=self._crypto,
            encrypted=opened.encrypted,
            timestamp=q.timestamp,
            nonce=q.nonce,
        )
        return HttpAnswer(200, sealed.encode())

    async def _await_job(self, push: Push, started: float) -> Outcome | HttpAnswer:
        key = push.dedupe_key(self._app_key)
        flights = self._flights
        flight = flights.get(key)
        if flight is None:
            if flights.running >= self._max_backlog:
                log.error(
                    "service %s: %d pushes in progress, refusing more (WeChat will retry)",
                    self.config.name,
                    flights.running,
                )
                return _BUSY
            flight, _ = flights.join(key, lambda f: self._job(push, f))
        else:
            log.info(
                "service %s: repeated delivery of %s %s joins the first one",
                self.config.name,
                push.kind,
                push.forward_path,
            )
        if flight.late:  # an earlier delivery already answered success; so does this one
            return _NO_OUTCOME
        remaining = self.tuning.reply_budget_s - (self._clock.monotonic() - started)
        try:
            finished = await flight.wait(remaining)
        except asyncio.CancelledError:
            if not flight.done:
                flight.late = True
            raise
        if finished and not flight.late:
            return flight.outcome() or _NO_OUTCOME
        if not finished and not flight.late:
            flight.late = True
            log.info(
                "service %s: %s %s not answered within %.0f ms; answering success",
                self.config.name,
                push.kind,
                push.forward_path,
                self.tuning.reply_budget_s * 1000,
            )
        return _NO_OUTCOME

    def _outcome(self, push: Push, reply: Reply) -> Outcome:
        if isinstance(reply, NoReply) or push.channels_ec:
            return Outcome(reply, NO_REPLY)
        try:
            xml = passive_reply(push, reply, create_time=int(self._clock.time()))
        except (ValueError, TypeError) as exc:  # pragma: no cover - render refuses nothing known
            log.error("service %s: reply could not be rendered: %s", self.config.name, exc)
            return Outcome(reply, NO_REPLY)
        return Outcome(reply, xml)

    async def _job(self, push: Push, flight: Flight[Outcome]) -> Outcome:
        reply: Reply
        try:
            reply = await self._forward(push)
        except Exception:
            log.exception("service %s: forwarding failed", self.config.name)
            reply = NoReply()
        outcome = self._outcome(push, reply)
        if flight.late:
            await self._deliver_late(push, reply)
        return outcome

    async def _forward(self, push: Push) -> Reply:
        upstream = self._upstream
        assert upstream is not None
        body = forward_body(push)
        if self.tuning.append_user_info and not push.channels_ec:
            info, error = await self._user_info(push)
            body = append_user_info(body, info, error)
        data = encode_forward_body(body)
        prefix = self.config.msg_proxy_pass
        paths = push.forward_paths(legacy_click_path=self.config.legacy_click_path)
        self.forwarded += 1
        if len(paths) == 1:
            return await self._post(upstream, prefix + paths[0], data)
        replies = await asyncio.gather(*(self._post(upstream, prefix + p, data) for p in paths))
        return next((r for r in replies if not isinstance(r, NoReply)), NoReply())

    async def _post(self, upstream: Upstream, url: str, data: bytes) -> Reply:
        try:
            answer = await upstream.post_json(url, data)
        except WeixinError as exc:
            log.warning("service %s: upstream failed: %s", self.config.name, exc)
            return NoReply()
        if not 200 <= answer.status < 300:
            log.warning(
                "service %s: upstream %s answered HTTP %d",
                self.config.name,
                describe_url(url),
                answer.status,
            )
        try:
            return parse_reply(answer.body)
        except ReplyError as exc:
            if answer.body.strip():
                log.warning(
                    "service %s: upstream %s answered no usable reply (%s); answering success",
                    self.config.name,
                    describe_url(url),
                    exc,
                )
            return NoReply()

    async def _user_info(self, push: Push) -> tuple[JsonObject | None, str]:
        openid = push.from_user
        if push.event in ("subscribe", "unsubscribe"):
            self._user_infos.pop(openid, None)
        if not push.wants_user_info:
            if push.event == "unsubscribe":  # user/info would only say subscribe=0 (D32)
                return user_info_object({"openid": openid, "subscribe": 0}), ""
            return None, ""
        client = self.client
        if client is None:
            return None, "wx-params.app-id is not configured"
        ttl = self.tuning.user_info_ttl_s
        now = self._clock.monotonic()
        cached = self._user_infos.get(openid)
        if cached is not None and cached[0] > now:
            return cached[1], ""
        try:
            record = await client.user.info(openid)
        except (WeixinError, ValueError) as exc:
            return None, error_text(exc)
        info = user_info_object(record)
        if ttl > 0:
            self._user_infos[openid] = (now + ttl, info)
            self._user_infos.move_to_end(openid)
            while len(self._user_infos) > self.tuning.user_info_max_entries:
                self._user_infos.popitem(last=False)
        return info, ""

    async def _deliver_late(self, push: Push, reply: Reply) -> None:
        name = self.config.name
        message = None if push.channels_ec else custom_message(reply, to_user=push.from_user)
        if message is None:
            return
        if not self.config.late_reply_via_custom_send or self.client is None:
            log.warning(
                "service %s: the upstream's reply to %s came after the budget and is dropped "
                "(set late-reply-via-custom-send to deliver it as a customer-service message)",
                name,
                push.forward_path,
            )
            return
        try:
            await self.client.message.send_custom_body(message)
        except WeixinError as exc:
            log.warning("service %s: late reply not delivered: %s", name, exc)
        else:
            log.info("service %s: late reply delivered as a customer-service message", name)

    async def drain(self, timeout_s: float) -> None:
        """Let running jobs (and their late replies) finish for ``timeout_s``, then cancel."""
        await self._flights.drain(timeout_s)

    # ---------------------------------------------------------------------- OAuth redirect

    async def handle_redirect(
        self,
        *,
        path: str,
        query_string: str,
        headers: Sequence[tuple[str, str]],
        client_ip: str | None,
    ) -> HttpAnswer:
        """go-wx-gateway's OAuth redirect (§6.8); ``path`` and ``query_string`` are raw."""
        config = self.config
        pairs = parse_qsl(query_string, keep_blank_values=True)
        query = dict(reversed(pairs))  # the first value wins, as Go's FormValue
        code = query.get("code", "")
        state = query.get("state")
        if not code or state is None:
            return _text(400, "argument expected")
        client = self.client
        upstream = self._oauth_upstream
        if client is None or upstream is None:
            return _text(500, "wx-params.app-id is not configured")
        try:
            token = await client.oauth.exchange_code(code)
        except (WeixinError, ValueError) as exc:
            log.info("service %s: OAuth code exchange failed: %s", config.name, error_text(exc))
            return HttpAnswer(500, error_text(exc).encode(), TEXT_PLAIN, _NOSNIFF)
        info: JsonObject | None = None
        error = ""
        try:
            if _wants_sns_userinfo(config.redirect_userinfo_flag, path, pairs):
                record = await client.oauth.userinfo(token.access_token, token.openid)
            else:
                record = await client.user.info(token.openid)
            info = user_info_object(record)
        except (WeixinError, ValueError) as exc:
            error = error_text(exc)
        request_uri = f"{path}?{query_string}" if query_string else path
        body: JsonObject = {
            "appId": client.app_id,
            "openId": token.openid,
            "requestURI": request_uri,
            "state": state,
            "userInfo": info,
            "userInfoError": error,
        }
        try:
            answer = await upstream.relay(
                config.redirect_url, go_json(body), _forward_headers(headers, client_ip)
            )
        except RequestTimeoutError as exc:
            log.warning("service %s: redirect-url: %s", config.name, exc)
            return HttpAnswer(504, b"", None)
        except WeixinError as exc:
            log.warning("service %s: redirect-url failed: %s", config.name, exc)
            return HttpAnswer(502, b"", None)
        return HttpAnswer(answer.status, answer.body, None, answer.headers)

    # ------------------------------------------------------------------------ diagnostics

    @property
    def pending_jobs(self) -> int:
        """Jobs running now (waiting for a worker or the upstream)."""
        return self._flights.running
