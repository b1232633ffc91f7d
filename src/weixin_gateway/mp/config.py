"""go-wx-gateway's JSON configuration, loaded unchanged (official-account.md §6.1, its README).

The file is read the way Go's ``encoding/json`` reads it: keys match case-insensitively (an exact
match preferred; when a key is given twice the last wins), ``null`` is the same as absent, a value
of the wrong JSON type is an error, and trailing commas are refused. Unknown keys are ignored with
a warning (go-wx-gateway ignores them silently; its README example is full of comment keys such
as ``"注意"`` or ``"wx-qr的参数说明"``). Every problem names its key path, e.g.
``services[1].wx-params.aes-key: must be 43 characters, got 45``, and all problems are reported
at once in one :class:`MpConfigError`.

Keys of go-wx-gateway, with its defaults::

    listen-host ""            listen-port 0              token-cache-dir ""
    dont-append-userinfo false
    common-endpoints {health-check, wx-qr, wx-user, sns-auth2, short-url, tmpl-msg, sign-jsapi,
                      channels-ec-order-detail, channels-ec-refund-detail}   each "" = not mounted
    services[] {name, workerNum, timeout 0, wx-params {token, app-id, app-secret, aes-key},
                listen-endpoints {service-path, redirect-path}, msg-proxy-pass, redirect-url,
                redirect-userinfo-flag, is-channels-ec false}

Where go-wx-gateway's behaviour was a defect, loading is stricter or the default differs:

* ``workerNum`` must be at least 1 (0 hung every request, D24); when absent it is 5 here.
* ``aes-key`` must be empty/``null`` or a 43-character EncodingAESKey, and then ``app-id`` is
  required (go-wx-gateway exited with ``invalid wxAESKey length`` too).
* ``redirect-url`` needs ``redirect-path`` (as there); URLs must be http(s); paths must start
  with ``/`` and are unique across services and common endpoints.
* ``timeout`` (seconds, 0 = off) is applied in both directions (D22).
* An empty ``token-cache-dir`` means "cache tokens in memory only" (it broke every call, D17).

Additions, all optional, ignored by go-wx-gateway so one file serves both:

* ``reply-budget-ms`` (default 4500, 100..4900): time to produce a passive reply; WeChat waits
  5 s per attempt.
* ``api-base-url`` (default ``https://api.weixin.qq.com``): the WeChat API base, so that a
  simulator can stand in.
* ``api-ca-file`` (default ``""``): an extra CA bundle for the API's TLS (certificates are
  always verified, unlike go-wx-gateway, D15).
* ``max-body-bytes`` (default 65536, 1 KiB..16 MiB): cap on a push body (D28).
* ``database-url`` (default ``""``): keep access tokens and tickets in a database shared by
  every process (``sqlite:///path``, a plain file path, or ``postgresql://user:pw@host/db``);
  it takes precedence over ``token-cache-dir``. Its password is redacted in the dump.
* ``services[].legacy-click-path`` (default false): also POST CLICK to ``/event/event``, for
  upstreams written against go-wx-gateway's defect D1.
* ``services[].late-reply-via-custom-send`` (default true): deliver a reply that missed the
  budget with ``message/custom/send`` (D6b), so a slow upstream's answer still reaches the user;
  ``false`` drops it as go-wx-gateway did.
* ``services[].require-encryption`` (default false; needs ``aes-key``): refuse unencrypted
  pushes. A plaintext body is covered by no signature, so an account in safe mode should set it.

Secrets (``token``, ``app-secret``, ``aes-key``) are held in :class:`Secret`, whose ``repr`` and
``str`` never show the value; :meth:`MpConfig.redacted` is the dump for the start-up log (D5).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from weixin_gateway.mp.crypto import MsgCrypto, RandomSource, parse_encoding_aes_key
from weixin_gateway.mp.errors import MpConfigError
from weixin_gateway.mp.gojson import JsonObject

__all__ = [
    "DEFAULT_API_BASE_URL",
    "CommonEndpointsConfig",
    "ListenEndpointsConfig",
    "MpConfig",
    "Secret",
    "ServiceConfig",
    "WxParamsConfig",
    "load_config",
    "parse_config",
]

logger = logging.getLogger(__name__)

DEFAULT_API_BASE_URL: Final = "https://api.weixin.qq.com"
DEFAULT_WORKER_NUM: Final = 5
DEFAULT_REPLY_BUDGET_MS: Final = 4500
DEFAULT_MAX_BODY_BYTES: Final = 64 * 1024
REDACTED: Final = "***"


class Secret:
    """A secret string: ``repr``/``str`` print ``***``; :meth:`reveal` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str = "") -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself; never log it."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})" if self._value else "Secret('')"

    def __str__(self) -> str:
        return REDACTED if self._value else ""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))


@dataclass(frozen=True, slots=True)
class WxParamsConfig:
    """``wx-params``: what the account's admin console shows."""

    token: Secret
    app_id: str = ""
    app_secret: Secret = field(default_factory=Secret)
    aes_key: Secret = field(default_factory=Secret)

    @property
    def encrypted(self) -> bool:
        """Whether an EncodingAESKey is configured (compat or safe mode possible)."""
        return bool(self.aes_key)

    def msg_crypto(self, *, random: RandomSource | None = None) -> MsgCrypto | None:
        """The account's :class:`MsgCrypto`, or ``None`` for plaintext-only services."""
        if not self.aes_key:
            return None
        if random is None:
            return MsgCrypto(
                token=self.token.reveal(),
                encoding_aes_key=self.aes_key.reveal(),
                app_id=self.app_id,
            )
        return MsgCrypto(
            token=self.token.reveal(),
            encoding_aes_key=self.aes_key.reveal(),
            app_id=self.app_id,
            random=random,
        )


@dataclass(frozen=True, slots=True)
class ListenEndpointsConfig:
    """``listen-endpoints``: the developer URL's path and the OAuth landing path."""

    service_path: str
    redirect_path: str = ""


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """One entry of ``services``: an Official Account or a Channels shop."""

    name: str
    wx_params: WxParamsConfig
    listen_endpoints: ListenEndpointsConfig
    worker_num: int = DEFAULT_WORKER_NUM
    timeout: int = 0
    msg_proxy_pass: str = ""
    redirect_url: str = ""
    redirect_userinfo_flag: str = ""
    is_channels_ec: bool = False
    legacy_click_path: bool = False
    late_reply_via_custom_send: bool = True
    require_encryption: bool = False


@dataclass(frozen=True, slots=True)
class CommonEndpointsConfig:
    """``common-endpoints``: the path of each utility endpoint; ``""`` = not mounted."""

    health_check: str = ""
    wx_qr: str = ""
    wx_user: str = ""
    sns_auth2: str = ""
    short_url: str = ""
    tmpl_msg: str = ""
    sign_jsapi: str = ""
    channels_ec_order_detail: str = ""
    channels_ec_refund_detail: str = ""


@dataclass(frozen=True, slots=True)
class MpConfig:
    """The whole gateway configuration."""

    services: tuple[ServiceConfig, ...]
    listen_host: str = ""
    listen_port: int = 0
    token_cache_dir: str = ""
    common_endpoints: CommonEndpointsConfig = field(default_factory=CommonEndpointsConfig)
    dont_append_userinfo: bool = False
    reply_budget_ms: int = DEFAULT_REPLY_BUDGET_MS
    api_base_url: str = DEFAULT_API_BASE_URL
    api_ca_file: str = ""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    database_url: str = field(default="", repr=False)

    def service(self, name: str) -> ServiceConfig | None:
        """The service called ``name`` (the ``s`` parameter of the common endpoints)."""
        return next((s for s in self.services if s.name == name), None)

    def redacted(self) -> JsonObject:
        """The configuration under its JSON key names, secrets replaced by ``***`` (D5)."""
        return {
            "listen-host": self.listen_host,
            "listen-port": self.listen_port,
            "services": [_redacted_service(s) for s in self.services],
            "token-cache-dir": self.token_cache_dir,
            "common-endpoints": {
                key: getattr(self.common_endpoints, attr) for key, attr in _COMMON.items()
            },
            "dont-append-userinfo": self.dont_append_userinfo,
            "reply-budget-ms": self.reply_budget_ms,
            "api-base-url": self.api_base_url,
            "api-ca-file": self.api_ca_file,
            "max-body-bytes": self.max_body_bytes,
            "database-url": _redact_url_password(self.database_url),
        }


def _redact_url_password(url: str) -> str:
    """``url`` with the password of its user-info part replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:{REDACTED}@{host}{slash}{tail}"


def _redacted_service(s: ServiceConfig) -> JsonObject:
    return {
        "name": s.name,
        "workerNum": s.worker_num,
        "timeout": s.timeout,
        "wx-params": {
            "token": str(s.wx_params.token),
            "app-id": s.wx_params.app_id,
            "app-secret": str(s.wx_params.app_secret),
            "aes-key": str(s.wx_params.aes_key),
        },
        "listen-endpoints": {
            "service-path": s.listen_endpoints.service_path,
            "redirect-path": s.listen_endpoints.redirect_path,
        },
        "msg-proxy-pass": s.msg_proxy_pass,
        "redirect-url": s.redirect_url,
        "redirect-userinfo-flag": s.redirect_userinfo_flag,
        "is-channels-ec": s.is_channels_ec,
        "legacy-click-path": s.legacy_click_path,
        "late-reply-via-custom-send": s.late_reply_via_custom_send,
        "require-encryption": s.require_encryption,
    }


_COMMON: Final = {
    "health-check": "health_check",
    "wx-qr": "wx_qr",
    "wx-user": "wx_user",
    "sns-auth2": "sns_auth2",
    "short-url": "short_url",
    "tmpl-msg": "tmpl_msg",
    "sign-jsapi": "sign_jsapi",
    "channels-ec-order-detail": "channels_ec_order_detail",
    "channels-ec-refund-detail": "channels_ec_refund_detail",
}
_TOP_KEYS: Final = (
    "listen-host",
    "listen-port",
    "services",
    "token-cache-dir",
    "common-endpoints",
    "dont-append-userinfo",
    "reply-budget-ms",
    "api-base-url",
    "api-ca-file",
    "max-body-bytes",
    "database-url",
)
_SERVICE_KEYS: Final = (
    "name",
    "workerNum",
    "timeout",
    "wx-params",
    "listen-endpoints",
    "msg-proxy-pass",
    "redirect-url",
    "redirect-userinfo-flag",
    "is-channels-ec",
    "legacy-click-path",
    "late-reply-via-custom-send",
    "require-encryption",
)
_WX_PARAMS_KEYS: Final = ("token", "app-id", "app-secret", "aes-key")
_ENDPOINT_KEYS: Final = ("service-path", "redirect-path")


# --------------------------------------------------------------------------------- reading


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its key/value pairs, duplicates and order kept (as Go sees them)."""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_T = TypeVar("_T")


class _Reader:
    """Collects problems and warnings while reading the decoded JSON."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def problem(self, path: str, text: str) -> None:
        self.problems.append(f"{path}: {text}")

    def fields(self, value: Any, path: str, known: Sequence[str]) -> dict[str, Any] | None:
        """The known keys of an object (Go's case-insensitive match); ``None`` if not one."""
        if not isinstance(value, _Pairs):
            self.problem(path, "must be an object")
            return None
        folded = {k.casefold(): k for k in known}
        out: dict[str, Any] = {}
        seen: set[str] = set()
        for key, item in value:
            name = key if key in known else folded.get(key.casefold())
            if name is None:
                self.warnings.append(f"{_join(path, key)}: unknown key, ignored")
                continue
            if name in seen:
                self.warnings.append(
                    f"{_join(path, name)}: given more than once; the last value wins"
                )
            seen.add(name)
            out[name] = item
        return {k: v for k, v in out.items() if v is not None}

    def get(
        self,
        fields: dict[str, Any],
        key: str,
        path: str,
        check: Callable[[Any], bool],
        kind: str,
        default: _T,
    ) -> _T:
        if key not in fields:
            return default
        value = fields[key]
        if not check(value):
            self.problem(_join(path, key), f"must be {kind}, got {_describe(value)}")
            return default
        result: _T = value
        return result

    def string(self, fields: dict[str, Any], key: str, path: str, *, required: bool = False) -> str:
        value: str | None = self.get(fields, key, path, _is_str, "a string", None)
        if value is None:  # absent, null, or of the wrong type (already reported)
            if required and key not in fields:
                self.problem(_join(path, key), "is required")
            return ""
        if required and not value:
            self.problem(_join(path, key), "is required")
        return value

    def boolean(self, fields: dict[str, Any], key: str, path: str, default: bool = False) -> bool:
        return self.get(fields, key, path, lambda v: isinstance(v, bool), "true or false", default)

    def integer(
        self,
        fields: dict[str, Any],
        key: str,
        path: str,
        default: int,
        low: int,
        high: int | None = None,
    ) -> int:
        value = self.get(fields, key, path, _is_int, "an integer", default)
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            self.problem(_join(path, key), f"must be {bound}, got {value}")
            return default
        return value


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, _Pairs):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__  # pragma: no cover


def _check_path(reader: _Reader, value: str, path: str) -> str:
    if value and (not value.startswith("/") or any(c.isspace() or c in "?#" for c in value)):
        reader.problem(path, "must be a URL path starting with '/' (no spaces, '?' or '#')")
    return value


def _check_url(reader: _Reader, value: str, path: str) -> str:
    if not value:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        reader.problem(path, "must be an http:// or https:// URL")
    return value


def _read_service(reader: _Reader, raw: Any, path: str) -> ServiceConfig | None:
    f = reader.fields(raw, path, _SERVICE_KEYS)
    if f is None:
        return None
    start = len(reader.problems)
    name = reader.string(f, "name", path, required=True)
    worker_num = reader.integer(f, "workerNum", path, DEFAULT_WORKER_NUM, 1)
    timeout = reader.integer(f, "timeout", path, 0, 0)

    wx_path = _join(path, "wx-params")
    wx = reader.fields(f.get("wx-params", _Pairs()), wx_path, _WX_PARAMS_KEYS) or {}
    token = reader.string(wx, "token", wx_path, required=True)
    app_id = reader.string(wx, "app-id", wx_path)
    app_secret = reader.string(wx, "app-secret", wx_path)
    aes_key = reader.string(wx, "aes-key", wx_path)
    if aes_key:
        try:
            parse_encoding_aes_key(aes_key)
        except MpConfigError as exc:
            reader.problem(_join(wx_path, "aes-key"), str(exc))
        if not app_id:
            reader.problem(_join(wx_path, "app-id"), "is required when aes-key is set")

    ep_path = _join(path, "listen-endpoints")
    ep = reader.fields(f.get("listen-endpoints", _Pairs()), ep_path, _ENDPOINT_KEYS) or {}
    service_path = _check_path(
        reader,
        reader.string(ep, "service-path", ep_path, required=True),
        _join(ep_path, "service-path"),
    )
    redirect_path = _check_path(
        reader, reader.string(ep, "redirect-path", ep_path), _join(ep_path, "redirect-path")
    )

    msg_proxy_pass = _check_url(
        reader, reader.string(f, "msg-proxy-pass", path), _join(path, "msg-proxy-pass")
    )
    if msg_proxy_pass.endswith("/"):
        reader.warnings.append(
            f"{_join(path, 'msg-proxy-pass')}: ends with '/'; it is a plain prefix, so forwarded "
            "URLs will contain '//' (as with go-wx-gateway)"
        )
    redirect_url = _check_url(
        reader, reader.string(f, "redirect-url", path), _join(path, "redirect-url")
    )
    if redirect_url and not redirect_path:
        reader.problem(_join(ep_path, "redirect-path"), "is required when redirect-url is set")
    require_encryption = reader.boolean(f, "require-encryption", path)
    if require_encryption and not aes_key:
        reader.problem(_join(path, "require-encryption"), "needs wx-params.aes-key")
    if len(reader.problems) > start:
        return None
    return ServiceConfig(
        name=name,
        wx_params=WxParamsConfig(
            token=Secret(token),
            app_id=app_id,
            app_secret=Secret(app_secret),
            aes_key=Secret(aes_key),
        ),
        listen_endpoints=ListenEndpointsConfig(service_path, redirect_path),
        worker_num=worker_num,
        timeout=timeout,
        msg_proxy_pass=msg_proxy_pass,
        redirect_url=redirect_url,
        redirect_userinfo_flag=reader.string(f, "redirect-userinfo-flag", path),
        is_channels_ec=reader.boolean(f, "is-channels-ec", path),
        legacy_click_path=reader.boolean(f, "legacy-click-path", path),
        late_reply_via_custom_send=reader.boolean(
            f, "late-reply-via-custom-send", path, default=True
        ),
        require_encryption=require_encryption,
    )


def _check_unique(
    reader: _Reader, services: Sequence[tuple[int, ServiceConfig]], common: CommonEndpointsConfig
) -> None:
    names: dict[str, int] = {}
    mounted: dict[str, str] = {}

    def mount(route: str, where: str) -> None:
        if route in mounted:
            reader.problem(where, f"{route!r} is already used by {mounted[route]}")
        else:
            mounted[route] = where

    for i, s in services:
        if s.name in names:
            reader.problem(
                f"services[{i}].name", f"{s.name!r} is already used by services[{names[s.name]}]"
            )
        names.setdefault(s.name, i)
        ep = f"services[{i}].listen-endpoints"
        mount(s.listen_endpoints.service_path, f"{ep}.service-path")
        if s.listen_endpoints.redirect_path:
            mount(s.listen_endpoints.redirect_path, f"{ep}.redirect-path")
    for key, attr in _COMMON.items():
        route = getattr(common, attr)
        if route:
            mount(route, f"common-endpoints.{key}")


def _decode(text: str, source: str) -> Any:
    text = text.removeprefix("\ufeff")
    decoder = json.JSONDecoder(object_pairs_hook=_Pairs, parse_constant=_no_constant)
    try:
        value, end = decoder.raw_decode(text, len(text) - len(text.lstrip()))
    except json.JSONDecodeError as exc:
        raise MpConfigError(
            f"{source}: not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})"
        ) from None
    except ValueError as exc:
        raise MpConfigError(f"{source}: not valid JSON: {exc}") from None
    if text[end:].strip():
        logger.warning("%s: text after the JSON object is ignored (as Go does)", source)
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def parse_config(text: str | bytes, *, source: str = "config") -> tuple[MpConfig, list[str]]:
    """The :class:`MpConfig` in ``text``, and the warnings (unknown or repeated keys).

    Raises :class:`MpConfigError` listing every problem with its key path.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MpConfigError(f"{source}: not UTF-8 text") from exc
    raw = _decode(text, source)
    reader = _Reader()
    top = reader.fields(raw, "", _TOP_KEYS)
    if top is None:
        raise MpConfigError(f"{source}: the configuration must be a JSON object")

    services: list[tuple[int, ServiceConfig]] = []
    raw_services = top.get("services")
    if raw_services is None:
        reader.problem("services", "at least one service is required")
    elif not isinstance(raw_services, list) or isinstance(raw_services, _Pairs):
        reader.problem("services", f"must be an array, got {_describe(raw_services)}")
    elif not raw_services:
        reader.problem("services", "at least one service is required")
    else:
        for i, item in enumerate(raw_services):
            service = _read_service(reader, item, f"services[{i}]")
            if service is not None:
                services.append((i, service))

    ce: dict[str, Any] = {}
    if "common-endpoints" in top:
        ce = reader.fields(top["common-endpoints"], "common-endpoints", tuple(_COMMON)) or {}
    common = CommonEndpointsConfig(
        **{
            attr: _check_path(
                reader, reader.string(ce, key, "common-endpoints"), f"common-endpoints.{key}"
            )
            for key, attr in _COMMON.items()
        }
    )
    api_base_url = _check_url(reader, reader.string(top, "api-base-url", ""), "api-base-url")
    config = MpConfig(
        services=tuple(service for _, service in services),
        listen_host=reader.string(top, "listen-host", ""),
        listen_port=reader.integer(top, "listen-port", "", 0, 0, 65535),
        token_cache_dir=reader.string(top, "token-cache-dir", ""),
        common_endpoints=common,
        dont_append_userinfo=reader.boolean(top, "dont-append-userinfo", ""),
        reply_budget_ms=reader.integer(
            top, "reply-budget-ms", "", DEFAULT_REPLY_BUDGET_MS, 100, 4900
        ),
        api_base_url=(api_base_url or DEFAULT_API_BASE_URL).rstrip("/"),
        api_ca_file=reader.string(top, "api-ca-file", ""),
        max_body_bytes=reader.integer(
            top, "max-body-bytes", "", DEFAULT_MAX_BODY_BYTES, 1024, 16 * 1024 * 1024
        ),
        database_url=reader.string(top, "database-url", "").strip(),
    )
    _check_unique(reader, services, common)
    if reader.problems:
        raise MpConfigError(reader.problems, source=source)
    for warning in reader.warnings:
        logger.warning("%s: %s", source, warning)
    return config, reader.warnings


def load_config(path: str | os.PathLike[str]) -> tuple[MpConfig, list[str]]:
    """Read and parse the configuration file at ``path`` (go-wx-gateway's ``CONF_FILE``)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise MpConfigError(f"{os.fspath(path)}: cannot read: {exc.strerror}") from exc
    return parse_config(data, source=os.fspath(path))
