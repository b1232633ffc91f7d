"""GatewaySettings / load_settings: the Node gateway's variables, defaults, errors, secrecy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from weixin_gateway.gateway.settings import (
    GatewaySettings,
    SettingsError,
    load_settings,
    settings_reference,
)
from weixin_gateway.ilink.protocol import CDN_BASE_URL, DEFAULT_BASE_URL
from weixin_gateway.store import default_database_url

DEFAULTS = {
    "port": 8787,
    "host": "127.0.0.1",
    "data_dir": Path(".data"),
    "inbound_dir": None,
    "delivery_mode": "callback",
    "upstream_base_url": "http://127.0.0.1:8000",
    "upstream_events_path": "/callback/weixin-gateway",
    "poll_interval_ms": 5000,
    "auto_start": True,
    "login_session_ttl_ms": 600_000,
    "verbose_updates": False,
    "database_url": "",
    "ilink_base_url": DEFAULT_BASE_URL,
    "cdn_base_url": CDN_BASE_URL,
    "media_dirs": [],
    "media_max_bytes": 100 * 1024 * 1024,
    "media_fetch_timeout_ms": 60_000,
    "callback_timeout_ms": 10_000,
    "retry_max_attempts": 12,
    "retry_base_ms": 1000,
    "retry_max_ms": 300_000,
    "lease_ms": 300_000,
    "inbox_max_attempts": 5,
    "text_chunk_limit": 4000,
    "dedup_window_ms": 600_000,
    "leader_lease_ms": 15_000,
    "log_level": "info",
    "log_format": "text",
}

# Every variable with a non-default value, and the field value it must produce.
ENV = {
    "PORT": ("9001", "port", 9001),
    "WEIXIN_GATEWAY_HOST": ("0.0.0.0", "host", "0.0.0.0"),  # noqa: S104
    "WEIXIN_GATEWAY_DATA_DIR": ("/srv/gw", "data_dir", Path("/srv/gw")),
    "WEIXIN_GATEWAY_INBOUND_DIR": ("/srv/in", "inbound_dir", Path("/srv/in")),
    "WEIXIN_GATEWAY_DELIVERY_MODE": (" Inbox ", "delivery_mode", "inbox"),
    "UPSTREAM_BASE_URL": ("https://up.example/api/", "upstream_base_url", "https://up.example/api"),
    "UPSTREAM_EVENTS_PATH": ("/events", "upstream_events_path", "/events"),
    "WEIXIN_GATEWAY_POLL_INTERVAL_MS": ("0", "poll_interval_ms", 0),
    "WEIXIN_GATEWAY_AUTO_START": ("false", "auto_start", False),
    "WEIXIN_GATEWAY_LOGIN_SESSION_TTL_MS": ("1000", "login_session_ttl_ms", 1000),
    "WEIXIN_GATEWAY_VERBOSE_UPDATES": ("YES", "verbose_updates", True),
    "WEIXIN_GATEWAY_DATABASE_URL": ("sqlite:///x.db", "database_url", "sqlite:///x.db"),
    "WEIXIN_GATEWAY_ILINK_BASE_URL": (
        "http://127.0.0.1:1/",
        "ilink_base_url",
        "http://127.0.0.1:1",
    ),
    "WEIXIN_GATEWAY_CDN_BASE_URL": (
        "http://127.0.0.1:2/c2c",
        "cdn_base_url",
        "http://127.0.0.1:2/c2c",
    ),
    "WEIXIN_GATEWAY_MEDIA_DIRS": ("/a", "media_dirs", [Path("/a")]),
    "WEIXIN_GATEWAY_MEDIA_MAX_BYTES": ("1024", "media_max_bytes", 1024),
    "WEIXIN_GATEWAY_MEDIA_FETCH_TIMEOUT_MS": ("500", "media_fetch_timeout_ms", 500),
    "WEIXIN_GATEWAY_CALLBACK_TIMEOUT_MS": ("700", "callback_timeout_ms", 700),
    "WEIXIN_GATEWAY_RETRY_MAX_ATTEMPTS": ("3", "retry_max_attempts", 3),
    "WEIXIN_GATEWAY_RETRY_BASE_MS": ("10", "retry_base_ms", 10),
    "WEIXIN_GATEWAY_RETRY_MAX_MS": ("100", "retry_max_ms", 100),
    "WEIXIN_GATEWAY_LEASE_MS": ("2000", "lease_ms", 2000),
    "WEIXIN_GATEWAY_INBOX_MAX_ATTEMPTS": ("2", "inbox_max_attempts", 2),
    "WEIXIN_GATEWAY_TEXT_CHUNK_LIMIT": ("100", "text_chunk_limit", 100),
    "WEIXIN_GATEWAY_DEDUP_WINDOW_MS": ("0", "dedup_window_ms", 0),
    "WEIXIN_GATEWAY_LEADER_LEASE_MS": ("2000", "leader_lease_ms", 2000),
    "WEIXIN_GATEWAY_LOG_LEVEL": ("DEBUG", "log_level", "debug"),
    "WEIXIN_GATEWAY_LOG_FORMAT": ("json", "log_format", "json"),
}
SECRETS = {
    "UPSTREAM_SHARED_SECRET": "upstream_shared_secret",
    "WEIXIN_GATEWAY_API_TOKEN": "api_token",
}


def test_defaults() -> None:
    settings = load_settings({})
    for name, value in DEFAULTS.items():
        assert getattr(settings, name) == value, name
    assert settings.upstream_shared_secret.get_secret_value() == ""
    assert settings.api_token.get_secret_value() == ""
    assert set(DEFAULTS) | set(SECRETS.values()) == set(GatewaySettings.model_fields)


def test_derived_defaults() -> None:
    settings = load_settings({"WEIXIN_GATEWAY_DATA_DIR": "/srv/gw"})
    assert settings.inbound_path == Path("/srv/gw/inbound")
    assert settings.media_dirs_or_default == [Path("/srv/gw")]
    assert settings.database_url_or_default == default_database_url(Path("/srv/gw"))

    env = {name: value for name, (value, _, _) in ENV.items()}
    settings = load_settings(env)
    assert settings.inbound_path == Path("/srv/in")
    assert settings.media_dirs_or_default == [Path("/a")]
    assert settings.database_url_or_default == "sqlite:///x.db"


def test_every_variable_is_read() -> None:
    env = {name: value for name, (value, _, _) in ENV.items()}
    env |= {name: f"secret-{name}" for name in SECRETS}
    settings = load_settings(env)
    for name, (_, field, expected) in ENV.items():
        assert getattr(settings, field) == expected, name
    for name, field in SECRETS.items():
        assert getattr(settings, field).get_secret_value() == f"secret-{name}"
    documented = {doc.env for doc in settings_reference()}
    assert documented == set(ENV) | set(SECRETS)


def test_legacy_names() -> None:
    legacy = {
        "XUANJI_BASE_URL": "http://legacy:1",
        "XUANJI_WEIXIN_CALLBACK_PATH": "/legacy",
        "XUANJI_SHARED_SECRET": "legacy-secret",
    }
    settings = load_settings(legacy)
    assert settings.upstream_base_url == "http://legacy:1"
    assert settings.upstream_events_path == "/legacy"
    assert settings.upstream_shared_secret.get_secret_value() == "legacy-secret"

    settings = load_settings(
        legacy
        | {
            "UPSTREAM_BASE_URL": "http://new:2",
            "UPSTREAM_EVENTS_PATH": "/new",
            "UPSTREAM_SHARED_SECRET": "new-secret",
        }
    )
    assert settings.upstream_base_url == "http://new:2"
    assert settings.upstream_events_path == "/new"
    assert settings.upstream_shared_secret.get_secret_value() == "new-secret"


def test_empty_variable_counts_as_unset() -> None:
    settings = load_settings(
        {"PORT": "", "UPSTREAM_BASE_URL": "", "XUANJI_BASE_URL": "http://legacy:1"}
    )
    assert settings.port == 8787
    assert settings.upstream_base_url == "http://legacy:1"


def test_os_environ_used_by_default_and_not_leaking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9123")
    monkeypatch.setenv("XUANJI_BASE_URL", "http://from-environ:1")
    assert load_settings().port == 9123
    assert GatewaySettings().port == 9123
    settings = load_settings({})
    assert settings.port == 8787
    assert settings.upstream_base_url == "http://127.0.0.1:8000"
    # ... and the next call without a mapping sees os.environ again.
    assert load_settings().upstream_base_url == "http://from-environ:1"


def test_overrides_win_and_none_is_ignored() -> None:
    env = {"PORT": "9001", "XUANJI_BASE_URL": "http://legacy:1", "WEIXIN_GATEWAY_HOST": "::1"}
    settings = load_settings(
        env, port=9000, upstream_base_url="http://cli:3/", host=None, data_dir=Path("/d")
    )
    assert settings.port == 9000
    assert settings.upstream_base_url == "http://cli:3"
    assert settings.host == "::1"
    assert settings.data_dir == Path("/d")


def test_unknown_override() -> None:
    with pytest.raises(TypeError, match="nope"):
        load_settings({}, nope=1)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "abc"}, "PORT: must be between 1 and 65535, got 'abc'"),
        ({"PORT": "0"}, "PORT: must be between 1 and 65535, got '0'"),
        ({"PORT": "65536"}, "PORT: must be between 1 and 65535, got '65536'"),
        (
            {"WEIXIN_GATEWAY_DELIVERY_MODE": "foo"},
            "WEIXIN_GATEWAY_DELIVERY_MODE: must be 'callback' or 'inbox', got 'foo'",
        ),
        (
            {"UPSTREAM_BASE_URL": "example.com"},
            "UPSTREAM_BASE_URL: must be an http:// or https:// URL, got 'example.com'",
        ),
        (
            {"XUANJI_BASE_URL": "ftp://example.com"},
            "XUANJI_BASE_URL: must be an http:// or https:// URL, got 'ftp://example.com'",
        ),
        ({"WEIXIN_GATEWAY_ILINK_BASE_URL": "http://"}, "WEIXIN_GATEWAY_ILINK_BASE_URL: must be"),
        (
            {"UPSTREAM_EVENTS_PATH": "events"},
            "UPSTREAM_EVENTS_PATH: must be a path starting with '/', got 'events'",
        ),
        (
            {"WEIXIN_GATEWAY_LEASE_MS": "-5"},
            "WEIXIN_GATEWAY_LEASE_MS: must be a positive integer, got '-5'",
        ),
        (
            {"WEIXIN_GATEWAY_DEDUP_WINDOW_MS": "-1"},
            "WEIXIN_GATEWAY_DEDUP_WINDOW_MS: must be a non-negative integer, got '-1'",
        ),
        ({"WEIXIN_GATEWAY_AUTO_START": "maybe"}, "WEIXIN_GATEWAY_AUTO_START: must be one of"),
        (
            {"WEIXIN_GATEWAY_RETRY_BASE_MS": "5000", "WEIXIN_GATEWAY_RETRY_MAX_MS": "10"},
            "WEIXIN_GATEWAY_RETRY_MAX_MS (10) must not be below WEIXIN_GATEWAY_RETRY_BASE_MS",
        ),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    text = str(info.value)
    assert text.startswith(message)
    assert "\n" not in text
    assert "pydantic" not in text


def test_one_line_per_problem_and_overrides_named_by_variable() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"PORT": "x", "WEIXIN_GATEWAY_LOG_LEVEL": " "}, lease_ms=0)
    assert str(info.value).splitlines() == [
        "PORT: must be between 1 and 65535, got 'x'",
        "WEIXIN_GATEWAY_LEASE_MS: must be a positive integer, got 0",
    ]  # a blank variable is unset, so the log level keeps its default


@pytest.mark.parametrize("text", ["true", "TRUE", " 1 ", "yes", "On"])
def test_true_spellings(text: str) -> None:
    assert load_settings({"WEIXIN_GATEWAY_VERBOSE_UPDATES": text}).verbose_updates is True


@pytest.mark.parametrize("text", ["false", "False", "0", "NO", "off"])
def test_false_spellings(text: str) -> None:
    assert load_settings({"WEIXIN_GATEWAY_AUTO_START": text}).auto_start is False


def test_secrets_never_shown() -> None:
    env = {
        "UPSTREAM_SHARED_SECRET": "s3cret-upstream",
        "WEIXIN_GATEWAY_API_TOKEN": "s3cret-token",
        "WEIXIN_GATEWAY_DATABASE_URL": "postgresql://user:s3cret-db@db.local/gw",
    }
    settings = load_settings(env)
    for text in (repr(settings), str(settings)):
        assert "s3cret" not in text
        assert "postgresql://user:***@db.local/gw" in text
    assert settings.database_url == env["WEIXIN_GATEWAY_DATABASE_URL"]
    assert settings.api_token.get_secret_value() == "s3cret-token"


def test_secret_not_in_error() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({}, api_token=12345678, port="bad")
    text = str(info.value)
    assert "WEIXIN_GATEWAY_API_TOKEN" in text
    assert "12345678" not in text


def test_media_dirs_split_on_pathsep() -> None:
    value = os.pathsep.join(["/one", "/two", "", "relative/three"])
    settings = load_settings({"WEIXIN_GATEWAY_MEDIA_DIRS": value})
    assert settings.media_dirs == [Path("/one"), Path("/two"), Path("relative/three")]
    assert settings.media_dirs_or_default == settings.media_dirs
    assert load_settings({}, media_dirs=[Path("/x")]).media_dirs == [Path("/x")]


def test_reference_covers_every_field_once() -> None:
    docs = settings_reference()
    fields = list(GatewaySettings.model_fields)
    assert len(docs) == len(fields)
    assert len({doc.env for doc in docs}) == len(docs)
    assert docs[0].env == "PORT"
    assert docs[0].default == "8787"
    assert all(doc.description for doc in docs)
    by_env = {doc.env: doc for doc in docs}
    assert by_env["UPSTREAM_BASE_URL"].legacy == ("XUANJI_BASE_URL",)
    assert by_env["UPSTREAM_EVENTS_PATH"].legacy == ("XUANJI_WEIXIN_CALLBACK_PATH",)
    assert by_env["UPSTREAM_SHARED_SECRET"].legacy == ("XUANJI_SHARED_SECRET",)
    assert by_env["UPSTREAM_SHARED_SECRET"].default == ""
    assert by_env["WEIXIN_GATEWAY_AUTO_START"].default == "true"
    assert by_env["WEIXIN_GATEWAY_MEDIA_MAX_BYTES"].default == str(100 * 1024 * 1024)
    # Every documented default is accepted back and gives the field's default.
    env = {doc.env: doc.default for doc in docs}
    assert load_settings(env) == load_settings({})
