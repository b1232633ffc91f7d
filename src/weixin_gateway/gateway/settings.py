"""The gateway service's settings: every environment variable of the Node weixin-gateway, plus ours.

::

    settings = load_settings()                    # os.environ
    settings = load_settings({"PORT": "9000"})    # only this mapping; os.environ is not read
    settings = load_settings(port=9000)           # command-line values win over the environment

The Node gateway's names and defaults are kept (``PORT``, ``UPSTREAM_*`` with the legacy
``XUANJI_*`` names as fallbacks, ``WEIXIN_GATEWAY_*``); our own settings are all under
``WEIXIN_GATEWAY_``. As in the Node gateway (``process.env.X || default``), a variable set to an
empty string counts as unset. Booleans accept true/false, 1/0, yes/no and on/off in any case.

:func:`load_settings` turns validation errors into :class:`SettingsError`, one line per problem,
each naming the environment variable (``PORT: must be between 1 and 65535, got 'abc'``) and never
showing a secret. :func:`settings_reference` documents every variable (``serve --help``, README).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from weixin_gateway.ilink.protocol import CDN_BASE_URL, DEFAULT_BASE_URL
from weixin_gateway.store import default_database_url, redact_url

__all__ = ["GatewaySettings", "SettingDoc", "SettingsError", "load_settings", "settings_reference"]

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_SECRET_FIELDS = frozenset({"upstream_shared_secret", "api_token"})


class SettingsError(ValueError):
    """The settings are invalid; the message has one line per problem, naming the variable."""


# --- value parsers (before-validators with messages meant for operators) -----------------------


def _int_rule(low: int, high: int | None = None) -> Callable[[object], int]:
    if high is not None:
        rule = f"must be between {low} and {high}"
    elif low == 0:
        rule = "must be a non-negative integer"
    elif low == 1:
        rule = "must be a positive integer"
    else:
        rule = f"must be an integer of at least {low}"

    def parse(value: object) -> int:
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                number = None
        if number is None or number < low or (high is not None and number > high):
            raise ValueError(rule)
        return number

    return parse


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, str | int) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("must be one of true/false, 1/0, yes/no, on/off")


def _http_url(value: object) -> str:
    text = value.strip().rstrip("/") if isinstance(value, str) else ""
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return text


def _url_path(value: object) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text.startswith("/"):
        raise ValueError("must be a path starting with '/'")
    return text


def _delivery_mode(value: object) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    if text not in ("callback", "inbox"):
        raise ValueError("must be 'callback' or 'inbox'")
    return text


def _optional_path(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _path_list(value: object) -> object:
    if isinstance(value, str):
        return [part for part in value.split(os.pathsep) if part.strip()]
    return value


def _log_level(value: object) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    if not text:
        raise ValueError("must be a log level such as 'debug' or 'info'")
    return text


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


_Port = Annotated[int, BeforeValidator(_int_rule(1, 65535))]
_NonNegative = Annotated[int, BeforeValidator(_int_rule(0))]
_Positive = Annotated[int, BeforeValidator(_int_rule(1))]
_Flag = Annotated[bool, BeforeValidator(_bool)]
_HttpUrl = Annotated[str, BeforeValidator(_http_url)]


def _env(*names: str) -> str | AliasChoices:
    return names[0] if len(names) == 1 else AliasChoices(*names)


class GatewaySettings(BaseSettings):
    """The gateway service's settings; see :func:`load_settings` and :func:`settings_reference`."""

    model_config = SettingsConfigDict(
        env_prefix="", extra="ignore", case_sensitive=True, env_file=None
    )

    port: _Port = Field(8787, validation_alias=_env("PORT"), description="HTTP port to listen on.")
    host: str = Field(
        "127.0.0.1",
        validation_alias=_env("WEIXIN_GATEWAY_HOST"),
        description="Interface to listen on.",
    )
    data_dir: Path = Field(
        Path(".data"),
        validation_alias=_env("WEIXIN_GATEWAY_DATA_DIR"),
        description="Directory for the database, media and other state.",
    )
    inbound_dir: Annotated[Path | None, BeforeValidator(_optional_path)] = Field(
        None,
        validation_alias=_env("WEIXIN_GATEWAY_INBOUND_DIR"),
        description="Where inbound media is saved; empty: <data dir>/inbound.",
    )
    delivery_mode: Annotated[Literal["callback", "inbox"], BeforeValidator(_delivery_mode)] = Field(
        "callback",
        validation_alias=_env("WEIXIN_GATEWAY_DELIVERY_MODE"),
        description="'callback': POST events to the upstream; 'inbox': the upstream pulls.",
    )
    upstream_base_url: _HttpUrl = Field(
        "http://127.0.0.1:8000",
        validation_alias=_env("UPSTREAM_BASE_URL", "XUANJI_BASE_URL"),
        description="Base URL of the upstream service that receives events.",
    )
    upstream_events_path: Annotated[str, BeforeValidator(_url_path)] = Field(
        "/callback/weixin-gateway",
        validation_alias=_env("UPSTREAM_EVENTS_PATH", "XUANJI_WEIXIN_CALLBACK_PATH"),
        description="Path on the upstream that events are POSTed to.",
    )
    upstream_shared_secret: SecretStr = Field(
        SecretStr(""),
        validation_alias=_env("UPSTREAM_SHARED_SECRET", "XUANJI_SHARED_SECRET"),
        description="Secret shared with the upstream to authenticate callbacks; empty: none.",
    )
    poll_interval_ms: _NonNegative = Field(
        5000,
        validation_alias=_env("WEIXIN_GATEWAY_POLL_INTERVAL_MS"),
        description="Reported in /health and /poll/status (pollers long-poll continuously).",
    )
    auto_start: _Flag = Field(
        True,
        validation_alias=_env("WEIXIN_GATEWAY_AUTO_START"),
        description="Start polling every logged-in account at startup.",
    )
    login_session_ttl_ms: _Positive = Field(
        600_000,
        validation_alias=_env("WEIXIN_GATEWAY_LOGIN_SESSION_TTL_MS"),
        description="How long a QR-code login session stays valid.",
    )
    verbose_updates: _Flag = Field(
        False,
        validation_alias=_env("WEIXIN_GATEWAY_VERBOSE_UPDATES"),
        description="Log every update received from WeChat.",
    )
    database_url: Annotated[str, BeforeValidator(_strip)] = Field(
        "",
        validation_alias=_env("WEIXIN_GATEWAY_DATABASE_URL"),
        description="SQLAlchemy URL of the database; empty: SQLite file in the data dir.",
    )
    api_token: SecretStr = Field(
        SecretStr(""),
        validation_alias=_env("WEIXIN_GATEWAY_API_TOKEN"),
        description="Bearer token required by the gateway's HTTP API; empty: no auth.",
    )
    ilink_base_url: _HttpUrl = Field(
        DEFAULT_BASE_URL,
        validation_alias=_env("WEIXIN_GATEWAY_ILINK_BASE_URL"),
        description="Base URL of the iLink bot API.",
    )
    cdn_base_url: _HttpUrl = Field(
        CDN_BASE_URL,
        validation_alias=_env("WEIXIN_GATEWAY_CDN_BASE_URL"),
        description="Base URL of the WeChat media CDN.",
    )
    media_dirs: Annotated[list[Path], NoDecode, BeforeValidator(_path_list)] = Field(
        default_factory=list,
        validation_alias=_env("WEIXIN_GATEWAY_MEDIA_DIRS"),
        description=f"Directories local media may be sent from ('{os.pathsep}'-separated); "
        "empty: the data dir.",
    )
    media_max_bytes: _Positive = Field(
        100 * 1024 * 1024,
        validation_alias=_env("WEIXIN_GATEWAY_MEDIA_MAX_BYTES"),
        description="Largest media file sent or received, in bytes.",
    )
    media_fetch_timeout_ms: _Positive = Field(
        60_000,
        validation_alias=_env("WEIXIN_GATEWAY_MEDIA_FETCH_TIMEOUT_MS"),
        description="Timeout for downloading media from a URL.",
    )
    callback_timeout_ms: _Positive = Field(
        10_000,
        validation_alias=_env("WEIXIN_GATEWAY_CALLBACK_TIMEOUT_MS"),
        description="Timeout of one callback POST to the upstream.",
    )
    retry_max_attempts: _Positive = Field(
        12,
        validation_alias=_env("WEIXIN_GATEWAY_RETRY_MAX_ATTEMPTS"),
        description="Callback attempts before an event is dead.",
    )
    retry_base_ms: _NonNegative = Field(
        1000,
        validation_alias=_env("WEIXIN_GATEWAY_RETRY_BASE_MS"),
        description="First callback retry delay (doubles per attempt).",
    )
    retry_max_ms: _NonNegative = Field(
        300_000,
        validation_alias=_env("WEIXIN_GATEWAY_RETRY_MAX_MS"),
        description="Longest callback retry delay.",
    )
    lease_ms: _Positive = Field(
        300_000,
        validation_alias=_env("WEIXIN_GATEWAY_LEASE_MS"),
        description="Default lease of an inbox claim.",
    )
    inbox_max_attempts: _Positive = Field(
        5,
        validation_alias=_env("WEIXIN_GATEWAY_INBOX_MAX_ATTEMPTS"),
        description="Failed inbox attempts (fail) before a message is dead.",
    )
    text_chunk_limit: _Positive = Field(
        4000,
        validation_alias=_env("WEIXIN_GATEWAY_TEXT_CHUNK_LIMIT"),
        description="Longest text message sent in one piece; longer texts are split.",
    )
    dedup_window_ms: _NonNegative = Field(
        600_000,
        validation_alias=_env("WEIXIN_GATEWAY_DEDUP_WINDOW_MS"),
        description="Same sender, content and send time under a new message id within this "
        "window is a re-delivery; 0: off.",
    )
    leader_lease_ms: _Positive = Field(
        15_000,
        validation_alias=_env("WEIXIN_GATEWAY_LEADER_LEASE_MS"),
        description="Only one gateway per database polls and delivers; another one waits "
        "this long after the holder stops renewing before taking over.",
    )
    log_level: Annotated[str, BeforeValidator(_log_level)] = Field(
        "info",
        validation_alias=_env("WEIXIN_GATEWAY_LOG_LEVEL"),
        description="Log level (debug, info, warning, error).",
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        validation_alias=_env("WEIXIN_GATEWAY_LOG_FORMAT"),
        description="'text' lines, or 'json': one JSON object per line for log collectors.",
    )

    @model_validator(mode="after")
    def _check_retry_bounds(self) -> GatewaySettings:
        if self.retry_max_ms < self.retry_base_ms:
            raise ValueError(
                f"WEIXIN_GATEWAY_RETRY_MAX_MS ({self.retry_max_ms}) must not be below "
                f"WEIXIN_GATEWAY_RETRY_BASE_MS ({self.retry_base_ms})"
            )
        return self

    @property
    def inbound_path(self) -> Path:
        """Where inbound media is saved: ``inbound_dir``, else ``data_dir / "inbound"``."""
        return self.inbound_dir if self.inbound_dir is not None else self.data_dir / "inbound"

    @property
    def database_url_or_default(self) -> str:
        """``database_url``, else the SQLite file in ``data_dir``."""
        return self.database_url or default_database_url(self.data_dir)

    @property
    def media_dirs_or_default(self) -> list[Path]:
        """``media_dirs``, else ``[data_dir]``."""
        return list(self.media_dirs) if self.media_dirs else [self.data_dir]

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if name == "database_url" and value:
                yield name, redact_url(value)
            else:
                yield name, value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment (see :class:`_EnvironSource`), then a given .env."""
        environ = _ENVIRON.get()
        return init_settings, _EnvironSource(settings_cls, environ), dotenv_settings


# --- reading the environment -------------------------------------------------------------------

# The mapping load_settings(env=...) reads instead of os.environ, for the duration of one call.
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("_ENVIRON", default=None)


def _env_names(field: FieldInfo) -> tuple[str, ...]:
    alias = field.validation_alias
    if isinstance(alias, str):
        return (alias,)
    if isinstance(alias, AliasChoices):
        return tuple(choice for choice in alias.choices if isinstance(choice, str))
    raise TypeError(f"setting without an environment variable: {field!r}")


_FIELD_ENV: dict[str, tuple[str, ...]] = {
    name: _env_names(field) for name, field in GatewaySettings.model_fields.items()
}
_ENV_FIELD: dict[str, str] = {env: name for name, envs in _FIELD_ENV.items() for env in envs}


class _EnvironSource(PydanticBaseSettingsSource):
    """Each setting's first non-empty variable (in alias order) from a mapping or os.environ.

    Values stay strings keyed by the variable's name; the fields' validators parse them, so the
    same rules apply to the environment and to explicit arguments.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None):
        super().__init__(settings_cls)
        self._environ = os.environ if environ is None else environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        for env in _FIELD_ENV.get(field_name, ()):
            value = self._environ.get(env)
            if value is not None and value.strip():
                return value, env, False
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, env, _ = self.get_field_value(field, name)
            if value is not None:
                values[env] = value
        return values


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> GatewaySettings:
    """The settings from ``env`` (default ``os.environ``, which is NOT read when ``env`` is given).

    ``overrides`` are field values (``port=9000``) that win over the environment; ``None`` values
    are ignored. Raises :class:`SettingsError` on invalid values, :class:`TypeError` on an
    unknown override name.
    """
    values: dict[str, Any] = {}
    for name, value in overrides.items():
        if name not in _FIELD_ENV:
            raise TypeError(f"unknown setting {name!r}")
        if value is not None:
            values[_FIELD_ENV[name][0]] = value
    token = _ENVIRON.set(dict(env) if env is not None else None)
    try:
        return GatewaySettings(**values)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    finally:
        _ENVIRON.reset(token)


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        ctx = error.get("ctx") or {}
        message = str(ctx["error"]) if error["type"] == "value_error" else error["msg"]
        if not loc:
            lines.append(message)
            continue
        key = str(loc[0])
        field = _ENV_FIELD.get(key, key)
        env = key if key in _ENV_FIELD else _FIELD_ENV.get(key, (key,))[0]
        if field in _SECRET_FIELDS:
            lines.append(f"{env}: {message}")
            continue
        shown = error["input"]
        if field == "database_url" and isinstance(shown, str):
            shown = redact_url(shown)
        lines.append(f"{env}: {message}, got {shown!r}")
    return "\n".join(lines)


# --- documentation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingDoc:
    """One environment variable: its name, default (as it would be written), meaning, old names."""

    env: str
    default: str
    description: str
    legacy: tuple[str, ...]


def _default_text(name: str, field: FieldInfo) -> str:
    if name in _SECRET_FIELDS:
        return ""
    value = field.get_default(call_default_factory=True)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return os.pathsep.join(str(item) for item in value)
    return str(value)


def settings_reference() -> list[SettingDoc]:
    """Every setting's variable, default and description, in declaration order."""
    return [
        SettingDoc(
            env=_FIELD_ENV[name][0],
            default=_default_text(name, field),
            description=field.description or "",
            legacy=_FIELD_ENV[name][1:],
        )
        for name, field in GatewaySettings.model_fields.items()
    ]
