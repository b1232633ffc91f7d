"""The high-level iLink client: poll, send text and media, typing, downloads, the polling loop.

:class:`WeixinClient` wraps one bot's :class:`~.api.ILinkApi` (``client.api``) and adds what the
official client does around it: the cursor, ``client_id`` per request, the optional Markdown
filter, chunked text, the ``typing_ticket`` cache and keepalive, the encrypted media upload and
download, and a cancellable polling loop with the official backoff.

Semantics worth knowing:

* :meth:`WeixinClient.poll` keeps the cursor and advances it only on a non-empty
  ``get_updates_buf``. Persisting it (``client.cursor``) is the caller's job.
* :meth:`WeixinClient.run_polling` calls the handler once per message, in order. A handler that
  raises is logged and the *rest of the batch is still handled*; the cursor has already moved
  past the batch, so a failed message is not redelivered (at most once — persist inbound
  messages inside the handler if you need more). A batch with a failed handler counts as one
  failure for the backoff, as in the official client.
* Sends never retry (a resend could duplicate a message); CDN uploads retry 3 times.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import random
import secrets
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol, TypedDict, TypeVar, Unpack

import aiohttp

from weixin_gateway._backoff import PollBackoffConfig, poll_failure_delay
from weixin_gateway._clock import Clock, SystemClock
from weixin_gateway._resource import Closeable
from weixin_gateway.errors import (
    MediaError,
    MediaTooLargeError,
    SessionExpiredError,
    WeixinError,
)

from . import cdn
from .api import ILinkApi, ILinkConfig, redact_token
from .chunking import DEFAULT_CHUNK_LIMIT, message_texts
from .crypto import new_aes_key, padded_size
from .markdown import filter_markdown
from .media import (
    DEFAULT_MEDIA_MAX_BYTES,
    SilkVoice,
    UploadedMedia,
    build_media_item,
    extension_for_content_type,
    media_key_for,
    media_type_for_content_type,
    media_type_for_name,
    name_from_url,
    pick_media_item,
)
from .protocol import CDN_BASE_URL, DEFAULT_BASE_URL, new_client_id
from .typing_indicator import DEFAULT_TICKET_TTL, TypingIndicator, TypingTicketCache
from .voice import silk_duration_ms
from .wire import (
    GetConfigResponse,
    GetUpdatesResponse,
    GetUploadUrlRequest,
    GetUploadUrlResponse,
    MediaType,
    MessageItem,
    MessageItemType,
    MessageState,
    MessageType,
    TextItem,
    TypingStatus,
    WeixinMessage,
)

__all__ = [
    "ClientOptions",
    "MediaSendResult",
    "MessageHandler",
    "PollResult",
    "SendResult",
    "SessionExpiredHook",
    "WeixinClient",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

MessageHandler = Callable[[WeixinMessage], Awaitable[object]]
#: Called on ``-14``; return True to keep polling (e.g. after setting a fresh token on
#: ``client.api.token``), False or None to make :meth:`WeixinClient.run_polling` return.
SessionExpiredHook = Callable[[SessionExpiredError], Awaitable[bool | None] | bool | None]

SESSION_EXPIRED_PAUSE = 3600.0

#: The typing-ticket caches' refresh jitter: one generator for all clients, since a
#: ``random.Random`` holds 2.5 KB of state (25 MB for 10,000 accounts, benchmarks/idle).
_TICKET_JITTER = random.Random()  # noqa: S311 - refresh jitter, not a secret


@dataclass(frozen=True, slots=True)
class PollResult:
    """One ``getupdates`` answer: ``msgs`` (never None), the cursor now held, the raw fields."""

    msgs: list[WeixinMessage]
    cursor: str
    ret: int | None
    errcode: int | None
    errmsg: str | None
    get_updates_buf: str | None
    longpolling_timeout_ms: int | None
    response: GetUpdatesResponse

    @property
    def next_cursor(self) -> str:
        """Same as :attr:`cursor` (the name seed 004's SDK uses)."""
        return self.cursor


@dataclass(frozen=True, slots=True)
class SendResult:
    """One ``sendmessage``: the server's ``message_id`` (if any) and our ``client_id``."""

    message_id: int | None
    client_id: str


@dataclass(frozen=True, slots=True)
class MediaSendResult(SendResult):
    """The media message's result, what was uploaded, and the caption's result if one was sent."""

    media: UploadedMedia
    caption: SendResult | None = None


class ClientOptions(TypedDict, total=False):
    """The keyword options of :class:`WeixinClient` (for :meth:`WeixinClient.from_account`)."""

    cdn_base_url: str
    session: aiohttp.ClientSession | None
    poll_session: aiohttp.ClientSession | None
    config: ILinkConfig | None
    clock: Clock | None
    markdown_filter: bool
    text_chunk_limit: int
    media_max_bytes: int
    typing_ticket_ttl: float
    cursor: str


class _Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


PathLike = str | os.PathLike[str]


def _field(record: object, *names: str) -> str | None:
    for name in names:
        value = record.get(name) if isinstance(record, Mapping) else getattr(record, name, None)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


class WeixinClient(Closeable):
    """One bot, high level. ``async with WeixinClient(base_url, token) as client: ...``

    ``session`` / ``poll_session`` are borrowed aiohttp sessions (see :class:`~.api.ILinkApi`); the
    CDN uses ``session``. ``clock`` drives the polling backoff, the typing keepalive and the
    ticket cache (a :class:`~weixin_gateway._clock.FakeClock` in tests).
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        cdn_base_url: str = CDN_BASE_URL,
        session: aiohttp.ClientSession | None = None,
        poll_session: aiohttp.ClientSession | None = None,
        config: ILinkConfig | None = None,
        clock: Clock | None = None,
        markdown_filter: bool = False,
        text_chunk_limit: int = DEFAULT_CHUNK_LIMIT,
        media_max_bytes: int = DEFAULT_MEDIA_MAX_BYTES,
        typing_ticket_ttl: float = DEFAULT_TICKET_TTL,
        cursor: str = "",
    ) -> None:
        if text_chunk_limit < 1:
            raise ValueError("text_chunk_limit must be at least 1")
        self.api = ILinkApi(
            base_url, token, session=session, poll_session=poll_session, config=config
        )
        self.cdn_base_url = cdn_base_url.rstrip("/")
        self.clock: Clock = clock or SystemClock()
        self.markdown_filter = markdown_filter
        self.text_chunk_limit = text_chunk_limit
        self.media_max_bytes = media_max_bytes
        self._cursor = cursor
        self._last_poll: PollResult | None = None
        self._typing_ticket_ttl = typing_ticket_ttl
        self._typing_tickets: TypingTicketCache | None = None

    @classmethod
    def from_account(cls, record: object, **options: Unpack[ClientOptions]) -> WeixinClient:
        """A client from a saved account: a mapping or an object with ``token`` (or
        ``bot_token`` / ``botToken``), ``base_url`` (or ``baseUrl``; default host if missing)
        and optionally ``cdn_base_url`` (``cdnBaseUrl``) — e.g. a :class:`~.login.LoginResult`.
        ``options`` are the keyword options of the constructor."""
        token = _field(record, "token", "bot_token", "botToken")
        if token is None:
            raise ValueError("account record has no token / bot_token")
        base_url = _field(record, "base_url", "baseUrl") or DEFAULT_BASE_URL
        cdn_base_url = _field(record, "cdn_base_url", "cdnBaseUrl")
        if cdn_base_url is not None:
            options.setdefault("cdn_base_url", cdn_base_url)
        return cls(base_url, token, **options)

    def __repr__(self) -> str:
        return (
            f"WeixinClient(base_url={self.api.base_url!r}, token={redact_token(self.api.token)!r})"
        )

    # --- lifecycle ------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the sessions the client created (borrowed ones stay open)."""
        await self.api.close()

    # --- receiving ------------------------------------------------------------------------------

    @property
    def typing_tickets(self) -> TypingTicketCache:
        """The per-user ``typing_ticket`` cache, built on first use (most of a gateway's
        accounts never show "typing", and each cache costs memory)."""
        if self._typing_tickets is None:
            self._typing_tickets = TypingTicketCache(
                self.api.getconfig,
                clock=self.clock,
                ttl=self._typing_ticket_ttl,
                rng=_TICKET_JITTER,
            )
        return self._typing_tickets

    @property
    def cursor(self) -> str:
        """The ``get_updates_buf`` the next :meth:`poll` sends (save it to resume later)."""
        return self._cursor

    @cursor.setter
    def cursor(self, value: str) -> None:
        self._cursor = value or ""

    async def poll(self, cursor: str | None = None) -> PollResult:
        """Long-poll once (``getupdates``) from ``cursor`` (default: the client's own).

        The client keeps the new cursor; it advances only on a non-empty ``get_updates_buf``.
        An idle poll (client timeout) is an empty result, not an error. Raises
        :class:`SessionExpiredError` on ``-14``. An idle answer identical to the previous one
        returns the previous (frozen) result object again; its ``msgs`` is empty and must stay so.
        """
        sent = self._cursor if cursor is None else cursor
        resp = await self.api.getupdates(sent)
        self._cursor = resp.get_updates_buf or sent
        last = self._last_poll
        if last is not None and last.response is resp and last.cursor == self._cursor:
            return last  # the same idle answer as last time (see ILinkApi.getupdates)
        result = PollResult(
            msgs=list(resp.msgs or ()),
            cursor=self._cursor,
            ret=resp.ret,
            errcode=resp.errcode,
            errmsg=resp.errmsg,
            get_updates_buf=resp.get_updates_buf,
            longpolling_timeout_ms=resp.longpolling_timeout_ms,
            response=resp,
        )
        self._last_poll = None if result.msgs else result  # a batch is not kept
        return result

    async def run_polling(
        self,
        handler: MessageHandler,
        *,
        on_session_expired: SessionExpiredHook | None = None,
        backoff: PollBackoffConfig | None = None,
        stop_event: asyncio.Event | None = None,
        session_expired_pause: float = SESSION_EXPIRED_PAUSE,
    ) -> None:
        """Poll forever, awaiting ``handler(msg)`` for each message in order.

        * A failed poll (network, HTTP, undecodable reply, ``ret``/``errcode`` error) or a
          batch in which a handler raised waits ``backoff.short`` (2 s), and ``backoff.long``
          (30 s) on the 3rd consecutive failure, then counts again (:func:`poll_failure_delay`).
        * Handler errors are logged; the other messages of the batch are still handled; the
          failed message is not redelivered (see the module docstring).
        * ``-14``: ``on_session_expired(exc)`` decides — True keeps polling (after ``backoff.short``
          unless the hook set a new token on ``client.api``), False/None returns;
          without a hook the loop pauses ``session_expired_pause`` (1 h) like the official client.
        * ``stop_event`` set: returns promptly; an in-flight long poll is abandoned (safe: the
          cursor only moves when an answer arrives), a batch being handled is finished first.
        * Cancelling the task stops it at once (also mid long-poll) and re-raises.
        """
        policy = backoff or PollBackoffConfig()
        failures = 0
        while stop_event is None or not stop_event.is_set():
            try:
                result = await self._until_stopped(self.poll(), stop_event)
            except SessionExpiredError as exc:
                failures = 0
                if on_session_expired is None:
                    log.error("session expired (-14); pausing %.0f s", session_expired_pause)
                    await self._until_stopped(self.clock.sleep(session_expired_pause), stop_event)
                    continue
                token_before = self.api.token
                decision = on_session_expired(exc)
                if inspect.isawaitable(decision):
                    decision = await decision
                if decision is not True:
                    return
                if self.api.token == token_before:
                    # keep polling with the same token: not at full speed against a -14
                    await self._until_stopped(self.clock.sleep(policy.short), stop_event)
                continue
            except WeixinError as exc:
                failures += 1
                delay, failures = poll_failure_delay(policy, failures)
                log.warning("getupdates failed (%s); retrying in %.0f s", exc, delay)
                await self._until_stopped(self.clock.sleep(delay), stop_event)
                continue
            if result is None:
                return
            ok = await self._dispatch(handler, result.msgs)
            if stop_event is not None and stop_event.is_set():
                return
            if ok:
                failures = 0
            else:
                failures += 1
                delay, failures = poll_failure_delay(policy, failures)
                await self._until_stopped(self.clock.sleep(delay), stop_event)

    async def _dispatch(self, handler: MessageHandler, msgs: list[WeixinMessage]) -> bool:
        """Hand every message to ``handler``; False if any of them raised."""
        ok = True
        for msg in msgs:
            try:
                await handler(msg)
            except Exception:
                ok = False
                log.exception("message handler failed for message_id=%s", msg.id)
        return ok

    @staticmethod
    async def _until_stopped(aw: Awaitable[_T], stop_event: asyncio.Event | None) -> _T | None:
        """Await ``aw``, or give up on it (returning None) as soon as ``stop_event`` is set."""
        if stop_event is None:
            return await aw
        if stop_event.is_set():
            if inspect.iscoroutine(aw):
                aw.close()
            return None
        work = asyncio.ensure_future(aw)
        stopper = asyncio.ensure_future(stop_event.wait())
        try:
            await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, stopper):
                task.cancel()
            await asyncio.gather(work, stopper, return_exceptions=True)
        if work.cancelled():
            return None
        return work.result()

    # --- sending text ---------------------------------------------------------------------------

    async def send_item(
        self,
        to_user_id: str,
        item: MessageItem | None,
        *,
        context_token: str | None = None,
        run_id: str | None = None,
        client_id: str | None = None,
    ) -> SendResult:
        """Send one message holding ``item`` (or no ``item_list`` at all for ``None``)."""
        cid = client_id or new_client_id()
        msg = WeixinMessage(
            from_user_id="",
            to_user_id=to_user_id,
            client_id=cid,
            message_type=MessageType.BOT,
            message_state=MessageState.FINISH,
            item_list=[item] if item is not None else None,
            context_token=context_token or None,
            run_id=run_id or None,
        )
        resp = await self.api.sendmessage(msg)
        return SendResult(message_id=resp.message_id, client_id=cid)

    #: Seed 002's ``sendMedia(toUserId, item, contextToken)``: send one prebuilt item.
    send_media = send_item

    async def send_text(
        self,
        to_user_id: str,
        text: str,
        *,
        context_token: str | None = None,
        run_id: str | None = None,
        client_id: str | None = None,
        markdown_filter: bool | None = None,
    ) -> SendResult:
        """Send ``text`` as one TEXT item; empty text sends a ``msg`` without ``item_list``.

        The Markdown filter runs when enabled on the client (or forced with ``markdown_filter``).
        """
        if self.markdown_filter if markdown_filter is None else markdown_filter:
            text = filter_markdown(text)
        item = (
            MessageItem(type=MessageItemType.TEXT, text_item=TextItem(text=text)) if text else None
        )
        return await self.send_item(
            to_user_id, item, context_token=context_token, run_id=run_id, client_id=client_id
        )

    async def send_text_chunked(
        self,
        to_user_id: str,
        text: str,
        *,
        context_token: str | None = None,
        max_length: int | None = None,
        run_id: str | None = None,
    ) -> list[SendResult]:
        """Send ``text`` as as many messages as it needs; return their results (``len`` = count).

        The Markdown filter (if enabled) runs once on the whole text, then
        :func:`~.chunking.message_texts` splits it at paragraph, line, space, else hard
        boundaries, at most ``max_length`` (default ``text_chunk_limit``, 4000) characters each.
        Every chunk gets its own ``client_id``. Blank text sends nothing.
        """
        if self.markdown_filter:
            text = filter_markdown(text)
        results: list[SendResult] = []
        for chunk in message_texts(text, max_length or self.text_chunk_limit):
            results.append(
                await self.send_text(
                    to_user_id,
                    chunk,
                    context_token=context_token,
                    run_id=run_id,
                    markdown_filter=False,
                )
            )
        return results

    # --- config and typing ----------------------------------------------------------------------

    async def get_config(self, user_id: str, context_token: str | None = None) -> GetConfigResponse:
        """``getconfig`` for ``user_id`` (uncached; :meth:`send_typing` uses the cache)."""
        return await self.api.getconfig(user_id, context_token)

    async def get_upload_url(self, request: GetUploadUrlRequest) -> GetUploadUrlResponse:
        """``getuploadurl`` as is (the media senders below do the whole upload for you)."""
        return await self.api.getuploadurl(request)

    async def send_typing(
        self,
        user_id: str,
        *,
        context_token: str | None = None,
        status: TypingStatus = TypingStatus.TYPING,
    ) -> bool:
        """Show the typing indicator once; False (nothing sent) when there is no ticket."""
        ticket = await self.typing_tickets.get(user_id, context_token)
        if not ticket:
            return False
        await self.api.sendtyping(user_id, ticket, status)
        return True

    async def cancel_typing(self, user_id: str, *, context_token: str | None = None) -> bool:
        """Cancel the typing indicator (``status 2``); False when there is no ticket."""
        return await self.send_typing(
            user_id, context_token=context_token, status=TypingStatus.CANCEL
        )

    def typing(
        self,
        user_id: str,
        context_token: str | None = None,
        *,
        interval: float = 5.0,
        max_duration: float = 60.0,
        max_failures: int = 2,
    ) -> TypingIndicator:
        """``async with client.typing(user):`` — typing now, every 5 s for up to 60 s, and
        exactly one cancel on exit (see :class:`~.typing_indicator.TypingIndicator`)."""

        async def get_ticket() -> str | None:
            return await self.typing_tickets.get(user_id, context_token)

        async def send(ticket: str, status: TypingStatus) -> None:
            await self.api.sendtyping(user_id, ticket, status)

        return TypingIndicator(
            get_ticket=get_ticket,
            send=send,
            clock=self.clock,
            interval=interval,
            max_duration=max_duration,
            max_failures=max_failures,
            cancel_timeout=self.api.config.timeouts.typing,
        )

    # --- media out ------------------------------------------------------------------------------

    async def upload_media(
        self, to_user_id: str, source: cdn.MediaSource, media_type: MediaType
    ) -> UploadedMedia:
        """Encrypt and upload ``source`` (ilink-vectors.md §8); nothing is sent yet."""
        if source.size > self.media_max_bytes:
            raise MediaTooLargeError(source.size, self.media_max_bytes)
        md5 = await source.md5()
        filekey = secrets.token_hex(16)
        key = new_aes_key()
        filesize = padded_size(source.size)
        reply = await self.api.getuploadurl(
            GetUploadUrlRequest(
                filekey=filekey,
                media_type=int(media_type),
                to_user_id=to_user_id,
                rawsize=source.size,
                rawfilemd5=md5,
                filesize=filesize,
                no_need_thumb=True,
                aeskey=key.hex(),
            )
        )
        url = cdn.cdn_upload_url(self.cdn_base_url, reply, filekey)
        param = await cdn.upload(
            self.api.session, url, source, key, timeout=self.api.config.timeouts.cdn
        )
        return UploadedMedia(
            media_type=media_type,
            download_param=param,
            aes_key=key,
            filekey=filekey,
            rawsize=source.size,
            filesize=filesize,
            md5=md5,
            file_name=source.name,
        )

    async def _send_source(
        self,
        to_user_id: str,
        source: cdn.MediaSource,
        media_type: MediaType,
        *,
        caption: str | None,
        context_token: str | None,
        run_id: str | None,
        voice: SilkVoice | None = None,
    ) -> MediaSendResult:
        uploaded = await self.upload_media(to_user_id, source, media_type)
        caption_result = None
        if caption:
            caption_result = await self.send_text(
                to_user_id,
                caption,
                context_token=context_token,
                run_id=run_id,
                markdown_filter=False,
            )
        sent = await self.send_item(
            to_user_id,
            build_media_item(uploaded, voice=voice),
            context_token=context_token,
            run_id=run_id,
        )
        return MediaSendResult(
            message_id=sent.message_id,
            client_id=sent.client_id,
            media=uploaded,
            caption=caption_result,
        )

    async def _send_path(
        self,
        to_user_id: str,
        path: PathLike,
        media_type: MediaType | None,
        *,
        caption: str | None,
        context_token: str | None,
        run_id: str | None,
        file_name: str | None = None,
    ) -> MediaSendResult:
        source = await cdn.FileSource.open(path, file_name)
        kind = media_type if media_type is not None else media_type_for_name(source.name)
        return await self._send_source(
            to_user_id, source, kind, caption=caption, context_token=context_token, run_id=run_id
        )

    async def send_image(
        self,
        to_user_id: str,
        path: PathLike,
        *,
        context_token: str | None = None,
        caption: str | None = None,
        run_id: str | None = None,
    ) -> MediaSendResult:
        """Upload ``path`` and send it as an IMAGE (caption first, as its own message)."""
        return await self._send_path(
            to_user_id, path, MediaType.IMAGE,
            caption=caption, context_token=context_token, run_id=run_id,
        )  # fmt: skip

    async def send_video(
        self,
        to_user_id: str,
        path: PathLike,
        *,
        context_token: str | None = None,
        caption: str | None = None,
        run_id: str | None = None,
    ) -> MediaSendResult:
        """Upload ``path`` and send it as a VIDEO (caption first, as its own message)."""
        return await self._send_path(
            to_user_id, path, MediaType.VIDEO,
            caption=caption, context_token=context_token, run_id=run_id,
        )  # fmt: skip

    async def send_file(
        self,
        to_user_id: str,
        path: PathLike,
        *,
        context_token: str | None = None,
        caption: str | None = None,
        run_id: str | None = None,
        file_name: str | None = None,
    ) -> MediaSendResult:
        """Upload ``path`` and send it as a FILE named ``file_name`` (default: its base name)."""
        return await self._send_path(
            to_user_id, path, MediaType.FILE,
            caption=caption, context_token=context_token, run_id=run_id, file_name=file_name,
        )  # fmt: skip

    async def send_media_from_path(
        self,
        to_user_id: str,
        path: PathLike,
        *,
        context_token: str | None = None,
        caption: str | None = None,
        run_id: str | None = None,
        file_name: str | None = None,
    ) -> MediaSendResult:
        """Send ``path`` as a video, an image or a file, by its extension (ilink.md §10.2)."""
        return await self._send_path(
            to_user_id, path, None,
            caption=caption, context_token=context_token, run_id=run_id, file_name=file_name,
        )  # fmt: skip

    async def send_media_from_bytes(
        self,
        to_user_id: str,
        data: bytes,
        *,
        file_name: str | None = None,
        content_type: str | None = None,
        media_type: MediaType | None = None,
        context_token: str | None = None,
        caption: str | None = None,
        run_id: str | None = None,
    ) -> MediaSendResult:
        """Send in-memory ``data``; the kind is ``media_type``, else from ``content_type``, else
        from ``file_name`` (a file when nothing says otherwise)."""
        ext = extension_for_content_type(content_type) or ".bin"
        name = file_name or f"file{ext}"
        kind = media_type or media_type_for_content_type(content_type) or media_type_for_name(name)
        return await self._send_source(
            to_user_id, cdn.BytesSource(data, name), kind,
            caption=caption, context_token=context_token, run_id=run_id,
        )  # fmt: skip

    async def send_media_from_url(
        self,
        to_user_id: str,
        url: str,
        *,
        context_token: str | None = None,
        caption: str | None = None,
        run_id: str | None = None,
        file_name: str | None = None,
        timeout: float | None = None,
    ) -> MediaSendResult:
        """Download ``url`` (at most ``media_max_bytes``, within ``timeout`` — default the CDN
        timeout) to a temporary file and send it. The extension comes from ``Content-Type``,
        else from the URL path, else ``.bin``; it decides the kind like a local file."""
        tmp_dir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="weixin-remote-"))
        try:
            tmp = tmp_dir / "download"
            content_type = await self._fetch_to_path(url, tmp, timeout=timeout)
            url_name = name_from_url(url)
            ext = (
                extension_for_content_type(content_type)
                or PurePosixPath(url_name).suffix.lower()
                or ".bin"
            )
            name = file_name or f"{PurePosixPath(url_name).stem or 'file'}{ext}"
            return await self._send_path(
                to_user_id, tmp, None,
                caption=caption, context_token=context_token, run_id=run_id, file_name=name,
            )  # fmt: skip
        finally:
            await asyncio.to_thread(shutil.rmtree, tmp_dir, True)

    async def send_voice(
        self,
        to_user_id: str,
        silk: bytes | PathLike,
        *,
        context_token: str | None = None,
        playtime_ms: int | None = None,
        sample_rate: int = 24_000,
        run_id: str | None = None,
    ) -> MediaSendResult:
        """Send SILK v3 audio as a VOICE item (upload ``media_type`` 4, ``encode_type`` 6).

        The official client never sends voice (an unreleased fork does); by default audio goes
        out as a file. ``playtime_ms`` defaults to the stream's length (20 ms per packet).
        """
        if isinstance(silk, bytes):
            data = silk
            name = "voice.silk"
        else:
            source = await cdn.FileSource.open(silk)
            if source.size > self.media_max_bytes:
                raise MediaTooLargeError(source.size, self.media_max_bytes)
            data = await asyncio.to_thread(source.path.read_bytes)
            name = source.name
        info = SilkVoice(
            playtime_ms=playtime_ms if playtime_ms is not None else silk_duration_ms(data),
            sample_rate=sample_rate,
        )
        return await self._send_source(
            to_user_id, cdn.BytesSource(data, name), MediaType.VOICE,
            caption=None, context_token=context_token, run_id=run_id, voice=info,
        )  # fmt: skip

    # --- media in -------------------------------------------------------------------------------

    async def download_media(
        self, item: MessageItem | WeixinMessage, *, max_bytes: int | None = None
    ) -> bytes:
        """Download and decrypt one item's media (or the media :func:`pick_media_item` picks from
        a message) into memory. See :meth:`download_media_to` for large files."""
        buffer = bytearray()

        async def sink(piece: bytes) -> None:
            buffer.extend(piece)

        await self._download(item, sink, max_bytes)
        return bytes(buffer)

    async def download_media_to(
        self,
        item: MessageItem | WeixinMessage,
        dest: PathLike | _Writable,
        *,
        max_bytes: int | None = None,
    ) -> int:
        """Stream one item's decrypted media to a path or a binary file object; return its size.

        Memory stays bounded (one chunk at a time). A path is written as ``<name>.part`` and
        renamed when complete, so a failed download never leaves a partial file under ``dest``.
        Raises :class:`MediaError` (bad key, bad padding, no key), :class:`MediaTooLargeError`
        (past ``max_bytes``, default ``media_max_bytes``) or a transport error.
        """
        if not isinstance(dest, str | os.PathLike):
            writer = dest

            async def write_to(piece: bytes) -> None:
                await asyncio.to_thread(writer.write, piece)

            return await self._download(item, write_to, max_bytes)
        path = Path(dest)
        partial = path.with_name(path.name + ".part")
        handle = await asyncio.to_thread(partial.open, "wb")
        try:

            async def write_file(piece: bytes) -> None:
                await asyncio.to_thread(handle.write, piece)

            size = await self._download(item, write_file, max_bytes)
            await asyncio.to_thread(handle.close)
            await asyncio.to_thread(partial.replace, path)
        except BaseException:
            handle.close()
            await asyncio.to_thread(partial.unlink, True)
            raise
        return size

    async def _download(
        self, target: MessageItem | WeixinMessage, sink: cdn.Sink, max_bytes: int | None
    ) -> int:
        item = pick_media_item(target) if isinstance(target, WeixinMessage) else target
        if item is None:
            raise MediaError("message carries no downloadable media")
        body = item.image_item or item.video_item or item.file_item or item.voice_item
        if body is None or body.media is None:
            raise MediaError("item carries no media")
        key = media_key_for(item)
        url = cdn.cdn_download_url(self.cdn_base_url, body.media)
        written, _ = await cdn.download(
            self.api.session,
            url,
            sink,
            key=key,
            max_bytes=self.media_max_bytes if max_bytes is None else max_bytes,
            timeout=self.api.config.timeouts.cdn,
        )
        return written

    async def _fetch_to_path(self, url: str, path: Path, *, timeout: float | None) -> str | None:
        handle = await asyncio.to_thread(path.open, "wb")
        try:

            async def write(piece: bytes) -> None:
                await asyncio.to_thread(handle.write, piece)

            _, content_type = await cdn.download(
                self.api.session,
                url,
                write,
                key=None,
                max_bytes=self.media_max_bytes,
                timeout=timeout or self.api.config.timeouts.cdn,
                label="media fetch",
            )
        finally:
            await asyncio.to_thread(handle.close)
        return content_type
