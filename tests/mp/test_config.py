"""go-wx-gateway's configuration (§6.1, seed 001): loading, defaults, refusals, redaction."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.mp import vectors as v
from weixin_gateway.mp.config import (
    DEFAULT_API_BASE_URL,
    CommonEndpointsConfig,
    MpConfig,
    Secret,
    load_config,
    parse_config,
)
from weixin_gateway.mp.errors import MpConfigError

# The README example of seed 001, as published: comment text in place of values, and a trailing
# comma after the last common endpoint.
SEED_EXAMPLE = """{
    "listen-host": "",
    "listen-port": 7080,
    "services": [
        {
            "name": "一个名字,随便取",
            "workerNum": 5,
            "timeout": 0,
            "wx-params": {
                "token": "开发/服务器配置中的Token",
                "app-id": "开发/公众号开发信息中的AppId",
                "app-secret": "开发/公众号开发信息中的AppSecret",
                "aes-key": "开发/服务器配置中的EncodingAESKey。如果是明文传输,则该串为空或null"
            },
            "listen-endpoints": {
                "service-path": "/wx --开发/服务器配置/服务器地址中的路径部分",
                "redirect-path": "/redirect --这个是微信网页授权用到的,设置菜单时都用这个路径,可选"
            },
            "msg-proxy-pass": "http://yourhost.or.ip.here --这个地址指向消息/事件处理的服务,如果不处理可以为空",
            "redirect-url": "http://yourhost.or.ip/path/to/redirect --完全转发http请求,响应将返回微信服务号,可选",
            "redirect-userinfo-flag": "如果通过 snsapi_userinfo 获取参数,在redrect-url中加上特殊字符串参数,用于区分,比如 login。如果为空,使用 snsapi_base 方式获取用户参数"
        },
        {
            "name": "如果有其它的公众号服务,可以参考上面的信息配置",
            "注意": "listen-endpoints中的路径 不能 相同",
            "视频号小店支持": "如果是视频号小店,加上 \\"is-channels-ec\\": true 配置项,其中的 \\"msg-proxy-pass\\" 配置的是接收视频号小店推送的事件"
        }
    ],
    "token-cache-dir": "缓存access的根路径,这是可选的配置",
    "common-endpoints": {
        "health-check": "/health --这是可选的配置,用于http健康检查,该路由配置成内部可访问",
        "wx-qr": "/qr --这是可选的路由配置,可以配置成内部可访问的,用于生成微信二维码链接",
        "wx-qr的参数说明": "s=<服务名,对应services中的name>&t=temp|forever[&sceneid=<场景id>][&e=<t为temp时的有效秒数>]",
        "wx-user": "/user --这是可选的路由配置,可以配置成内部可访问的,用于获取用户信息,参数:s=<服务名>&o=<openId>",
        "sns-auth2": "/sns-auth2 -- 这是可选的路由配置,如果网页授权由其它服务接收,可以通过网页授权参数code获取用户信息",
        "sns-auth2参数说明": "s=<服务名,对应services中的name>&code=<网页授权得到的code>&[scope=userinfo|base|snsapi_userinfo|snsn_api_base]",
        "short-url": "/short-url -- 这是可选的路由配置,用于把长url生成短链接。【注】微信已经停止该服务",
        "short-url参数说明": "访问方法POST, POST body: s=<服务名,对应services中的name>&u=<url编码的长URL>",
        "tmpl-msg": "/tmpl-msg -- 这是可选的路由配置,用于发送模版消息",
        "tmpl-msg参数说明": "访问方法POST, POST body是JSON",
        "tmpl-msg body例子": {"s": "服务名,对应services中的name", "to": "用户openid", "tid": "模版id", "url": "可选,跳转url", "mp": {"说明": "可选的小程序参数", "appid": "小程序appid", "pagepath": "页面路径"}, "data": {"模版数据key": "数据", "数据key2": "..."}},
        "sign-jsapi": "/sign-jsapi -- 这是可选的路由配置,用于生产jsapi签名",
        "sign-jsapi参数说明": "访问方法POST, POST body: s=<service-name-in-conf>&u=<url-calling-jsapi-in-urlencoding>,结果会返回noncestr, timestamp, signature等结果",
        "channels-ec-order-detail": "/channles-ec-order-detail -- 可选,用于获取视频号小店订单详情",
        "channels-ec-order-detail参数说明": "s=<服务名,对应services中的name>&o=<订单id>",
        "channels-ec-refund-detail": "/channels-ec-refund-detail -- 可选,用于获取视频号小店售后单详情",
        "channels-ec-refund-detail参数说明": "s=<服务名,对应services中的name>&o=<售后订单id>",
    },
    "dont-append-userinfo": "true|false, 各种消息事件是否不增加用户信息,缺省是false,表示追加"
}"""  # noqa: E501
SEED_EXAMPLE_NO_TRAILING_COMMA = SEED_EXAMPLE.replace('<售后订单id>",\n', '<售后订单id>"\n')

# go-wx-gateway's sample.conf.json
GO_SAMPLE = """{
      "listen-host": "",
      "listen-port": 7080,
      "services": [
         {
             "name": "echo_server",
             "workerNum": 5,
             "timeout": 0,
             "wx-params": {
                 "token": "your_token_at_weixin_admin",
                 "app-id": "your_appId_at_weixin_admin",
                 "app-secret": "your_appSecret_at_weixin_admin",
                 "aes-key": "let_this_empty_or_null_if_plain_text_transfer"
             },
             "listen-endpoints": {
                 "service-path": "/wx",
                 "redirect-path": "/redirect"
             },
             "msg-proxy-pass": "http://yourhost.or.ip.here/empty_is_ok",
             "redirect-url": "http://yourhost.io.ip.here/path/to/redirect",
             "redirect-userinfo-flag": "login, register or any-strings else if you want use snsapi_userinfo"
         }
      ],
      "token-cache-dir": "/path/to/cache_dir",
      "common-endpoints": {
          "health-check": "/health",
          "wx-qr": "/qr",
          "wx-user": "/user"
      },
      "dont-append-userinfo": false
}"""  # noqa: E501

APP_SECRET = "0123456789abcdef0123456789abcdef"
TOKEN = "hello_rosbit_token"


def filled_seed() -> dict[str, Any]:
    """The seed example with real values in place of its comments, comment keys kept."""
    conf: dict[str, Any] = json.loads(SEED_EXAMPLE_NO_TRAILING_COMMA)
    first, second = conf["services"]
    first["wx-params"] = {
        "token": TOKEN,
        "app-id": v.V1_APPID,
        "app-secret": APP_SECRET,
        "aes-key": v.V1_KEY,
    }
    first["listen-endpoints"] = {"service-path": "/wx", "redirect-path": "/redirect"}
    first["msg-proxy-pass"] = "http://127.0.0.1:8080/msghandler"
    first["redirect-url"] = "http://127.0.0.1:8080/menu/redirect"
    first["redirect-userinfo-flag"] = "login"
    second.update(
        {
            "name": "shop",
            "workerNum": 2,
            "is-channels-ec": True,
            "wx-params": {
                "token": "shoptoken",
                "app-id": "wxshop",
                "app-secret": "x",
                "aes-key": None,
            },
            "listen-endpoints": {"service-path": "/shop"},
            "msg-proxy-pass": "http://127.0.0.1:8081",
        }
    )
    conf["token-cache-dir"] = "/var/cache/wx-token"
    for key, value in list(conf["common-endpoints"].items()):
        if isinstance(value, str) and value.startswith("/"):
            conf["common-endpoints"][key] = value.split(" ", 1)[0]
    conf["dont-append-userinfo"] = False
    return conf


def load(conf: dict[str, Any]) -> tuple[MpConfig, list[str]]:
    return parse_config(json.dumps(conf, ensure_ascii=False))


def problems(conf: dict[str, Any] | str) -> tuple[str, ...]:
    text = conf if isinstance(conf, str) else json.dumps(conf, ensure_ascii=False)
    with pytest.raises(MpConfigError) as info:
        parse_config(text)
    return info.value.problems


def minimal(**service: Any) -> dict[str, Any]:
    svc: dict[str, Any] = {
        "name": "s",
        "wx-params": {"token": "t"},
        "listen-endpoints": {"service-path": "/wx"},
    }
    svc.update(service)
    return {"services": [svc]}


# ------------------------------------------------------------------------ the seed


def test_seed_example_as_published_is_not_json_like_in_go() -> None:
    """Go's encoding/json refuses the README's trailing comma too (§6.1)."""
    with pytest.raises(MpConfigError, match=r"not valid JSON: .* \(line \d+ column \d+\)"):
        parse_config(SEED_EXAMPLE)


def test_seed_example_placeholders_are_refused_with_their_paths() -> None:
    found = problems(SEED_EXAMPLE_NO_TRAILING_COMMA)
    expected = [
        "services[0].wx-params.aes-key: must contain only the characters A-Z, a-z and 0-9",
        "services[0].listen-endpoints.service-path: must be a URL path",
        "services[0].listen-endpoints.redirect-path: must be a URL path",
        "services[0].msg-proxy-pass: must be an http:// or https:// URL",
        "services[0].redirect-url: must be an http:// or https:// URL",
        "services[1].wx-params.token: is required",
        "services[1].listen-endpoints.service-path: is required",
        "common-endpoints.health-check: must be a URL path",
        "dont-append-userinfo: must be true or false, got a string",
    ]
    for text in expected:
        assert any(p.startswith(text) for p in found), (text, found)


def test_seed_example_loads_once_filled_in() -> None:
    config, warnings = load(filled_seed())
    assert config.listen_host == ""
    assert config.listen_port == 7080
    assert [s.name for s in config.services] == ["一个名字,随便取", "shop"]
    wx, shop = config.services
    assert wx.worker_num == 5
    assert wx.timeout == 0
    assert wx.wx_params.token.reveal() == TOKEN
    assert wx.wx_params.app_id == v.V1_APPID
    assert wx.wx_params.app_secret.reveal() == APP_SECRET
    assert wx.wx_params.encrypted
    assert wx.listen_endpoints.service_path == "/wx"
    assert wx.listen_endpoints.redirect_path == "/redirect"
    assert wx.msg_proxy_pass == "http://127.0.0.1:8080/msghandler"
    assert wx.redirect_url == "http://127.0.0.1:8080/menu/redirect"
    assert wx.redirect_userinfo_flag == "login"
    assert not wx.is_channels_ec
    assert shop.is_channels_ec
    assert not shop.wx_params.encrypted
    assert shop.wx_params.msg_crypto() is None
    assert config.common_endpoints == CommonEndpointsConfig(
        health_check="/health",
        wx_qr="/qr",
        wx_user="/user",
        sns_auth2="/sns-auth2",
        short_url="/short-url",
        tmpl_msg="/tmpl-msg",
        sign_jsapi="/sign-jsapi",
        channels_ec_order_detail="/channles-ec-order-detail",  # the misspelt path is kept
        channels_ec_refund_detail="/channels-ec-refund-detail",
    )
    assert config.token_cache_dir == "/var/cache/wx-token"
    assert config.dont_append_userinfo is False
    assert config.service("shop") is shop
    assert config.service("nope") is None
    assert sorted(warnings) == sorted(
        f"{path}: unknown key, ignored"
        for path in (
            "services[1].注意",
            "services[1].视频号小店支持",
            "common-endpoints.wx-qr的参数说明",
            "common-endpoints.sns-auth2参数说明",
            "common-endpoints.short-url参数说明",
            "common-endpoints.tmpl-msg参数说明",
            "common-endpoints.tmpl-msg body例子",
            "common-endpoints.sign-jsapi参数说明",
            "common-endpoints.channels-ec-order-detail参数说明",
            "common-endpoints.channels-ec-refund-detail参数说明",
        )
    )


def test_unknown_keys_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="weixin_gateway.mp.config"):
        _, warnings = load(filled_seed())
    assert len(caplog.records) == len(warnings) == 10
    assert "services[1].注意: unknown key, ignored" in caplog.text


def test_go_sample_conf_is_refused_for_its_aes_key_placeholder() -> None:
    """go-wx-gateway exits 4 with ``invalid wxAESKey length`` on this sample too."""
    assert problems(GO_SAMPLE) == ("services[0].wx-params.aes-key: must be 43 characters, got 45",)
    config, warnings = parse_config(
        GO_SAMPLE.replace('"let_this_empty_or_null_if_plain_text_transfer"', "null")
    )
    assert warnings == []
    assert config.services[0].name == "echo_server"
    assert not config.services[0].wx_params.encrypted


# ------------------------------------------------------------------------ defaults


def test_defaults() -> None:
    config, warnings = load(minimal())
    assert warnings == []
    assert config.listen_host == ""
    assert config.listen_port == 0
    assert config.token_cache_dir == ""
    assert config.common_endpoints == CommonEndpointsConfig()
    assert config.dont_append_userinfo is False
    assert config.reply_budget_ms == 4500
    assert config.api_base_url == DEFAULT_API_BASE_URL == "https://api.weixin.qq.com"
    assert config.api_ca_file == ""
    assert config.max_body_bytes == 65536
    (service,) = config.services
    assert service.worker_num == 5
    assert service.timeout == 0
    assert service.msg_proxy_pass == ""
    assert service.redirect_url == ""
    assert service.listen_endpoints.redirect_path == ""
    assert service.is_channels_ec is False
    assert service.legacy_click_path is False
    assert service.late_reply_via_custom_send is True
    assert service.wx_params.app_id == ""
    assert not service.wx_params.app_secret


def test_our_additions() -> None:
    conf = minimal(**{"legacy-click-path": True, "late-reply-via-custom-send": False})
    conf.update(
        {
            "reply-budget-ms": 3000,
            "api-base-url": "http://127.0.0.1:9000/",
            "api-ca-file": "/etc/ssl/sim.pem",
            "max-body-bytes": 131072,
        }
    )
    config, warnings = load(conf)
    assert warnings == []
    assert config.reply_budget_ms == 3000
    assert config.api_base_url == "http://127.0.0.1:9000"
    assert config.api_ca_file == "/etc/ssl/sim.pem"
    assert config.max_body_bytes == 131072
    assert config.services[0].legacy_click_path
    assert config.services[0].late_reply_via_custom_send is False


def test_keys_match_case_insensitively_like_go() -> None:
    conf = {
        "Listen-Port": 7080,
        "SERVICES": [
            {
                "Name": "s",
                "WORKERNUM": 3,
                "Wx-Params": {"Token": "t", "APP-ID": "wx1", "Aes-Key": v.V1_KEY},
                "listen-ENDPOINTS": {"Service-Path": "/wx"},
            }
        ],
    }
    config, warnings = load(conf)
    assert warnings == []
    assert config.listen_port == 7080
    assert config.services[0].worker_num == 3
    assert config.services[0].wx_params.app_id == "wx1"


def test_repeated_keys_last_wins_with_a_warning() -> None:
    text = (
        '{"listen-port": 1, "Listen-Port": 2, "services": [{"name": "s", "wx-params": '
        '{"token": "t"}, "listen-endpoints": {"service-path": "/wx"}}]}'
    )
    config, warnings = parse_config(text)
    assert config.listen_port == 2
    assert warnings == ["listen-port: given more than once; the last value wins"]


def test_null_is_absent_like_go() -> None:
    conf = minimal(workerNum=None, timeout=None, **{"msg-proxy-pass": None})
    conf["wx-params"] = None
    conf["listen-port"] = None
    conf["common-endpoints"] = None
    conf["services"][0]["wx-params"]["aes-key"] = None
    config, _ = load(conf)
    assert config.listen_port == 0
    assert config.services[0].worker_num == 5
    assert not config.services[0].wx_params.encrypted


def test_bom_and_trailing_text(caplog: pytest.LogCaptureFixture) -> None:
    text = "\ufeff" + json.dumps(minimal()) + "\n  trailing words"
    with caplog.at_level(logging.WARNING):
        config, _ = parse_config(text.encode())
    assert config.services[0].name == "s"
    assert "text after the JSON object" in caplog.text


# ---------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        ({"services": []}, "services: at least one service is required"),
        ({}, "services: at least one service is required"),
        ({"services": {"name": "s"}}, "services: must be an array, got an object"),
        ({"services": ["s"]}, "services[0]: must be an object"),
        (minimal(name=""), "services[0].name: is required"),
        (minimal(name=5), "services[0].name: must be a string, got the number 5"),
        (minimal(workerNum=0), "services[0].workerNum: must be at least 1, got 0"),
        (minimal(workerNum="5"), "services[0].workerNum: must be an integer, got a string"),
        (minimal(workerNum=5.0), "services[0].workerNum: must be an integer, got the number 5.0"),
        (minimal(workerNum=True), "services[0].workerNum: must be an integer, got a boolean"),
        (minimal(timeout=-1), "services[0].timeout: must be at least 0, got -1"),
        (minimal(**{"wx-params": "t"}), "services[0].wx-params: must be an object"),
        (minimal(**{"wx-params": {}}), "services[0].wx-params.token: is required"),
        (
            minimal(**{"wx-params": {"token": "t", "app-id": "wx1", "aes-key": "short"}}),
            "services[0].wx-params.aes-key: must be 43 characters, got 5",
        ),
        (
            minimal(**{"wx-params": {"token": "t", "app-id": "wx1", "aes-key": "+" * 43}}),
            "services[0].wx-params.aes-key: must contain only the characters A-Z, a-z and 0-9",
        ),
        (
            minimal(**{"wx-params": {"token": "t", "aes-key": v.V1_KEY}}),
            "services[0].wx-params.app-id: is required when aes-key is set",
        ),
        (
            minimal(**{"listen-endpoints": {}}),
            "services[0].listen-endpoints.service-path: is required",
        ),
        (
            minimal(**{"listen-endpoints": {"service-path": "wx"}}),
            "services[0].listen-endpoints.service-path: must be a URL path",
        ),
        (
            minimal(**{"listen-endpoints": {"service-path": "/wx?x=1"}}),
            "services[0].listen-endpoints.service-path: must be a URL path",
        ),
        (
            minimal(**{"redirect-url": "http://h/r"}),
            "services[0].listen-endpoints.redirect-path: is required when redirect-url is set",
        ),
        (minimal(**{"msg-proxy-pass": "ftp://h"}), "services[0].msg-proxy-pass: must be an http"),
        (minimal(**{"msg-proxy-pass": "http://"}), "services[0].msg-proxy-pass: must be an http"),
        (
            minimal(**{"is-channels-ec": "true"}),
            "services[0].is-channels-ec: must be true or false",
        ),
        (
            minimal(**{"legacy-click-path": 1}),
            "services[0].legacy-click-path: must be true or false",
        ),
        (
            {**minimal(), "listen-port": 70000},
            "listen-port: must be between 0 and 65535, got 70000",
        ),
        ({**minimal(), "listen-port": "7080"}, "listen-port: must be an integer, got a string"),
        ({**minimal(), "listen-host": 0}, "listen-host: must be a string, got the number 0"),
        ({**minimal(), "dont-append-userinfo": 1}, "dont-append-userinfo: must be true or false"),
        ({**minimal(), "common-endpoints": []}, "common-endpoints: must be an object"),
        (
            {**minimal(), "common-endpoints": {"wx-qr": "qr"}},
            "common-endpoints.wx-qr: must be a URL",
        ),
        ({**minimal(), "reply-budget-ms": 5000}, "reply-budget-ms: must be between 100 and 4900"),
        ({**minimal(), "max-body-bytes": 10}, "max-body-bytes: must be between 1024 and"),
        ({**minimal(), "api-base-url": "api.weixin.qq.com"}, "api-base-url: must be an http"),
    ],
)
def test_each_kind_of_broken_key_is_refused_with_its_path(conf: Any, expected: str) -> None:
    found = problems(conf)
    assert any(p.startswith(expected) for p in found), found


def test_d24_worker_num_zero_is_refused() -> None:
    """D24: ``workerNum: 0`` hung every request in go-wx-gateway."""
    assert problems(minimal(workerNum=0)) == ("services[0].workerNum: must be at least 1, got 0",)


def test_duplicate_names_and_paths() -> None:
    conf = minimal()
    second = copy.deepcopy(conf["services"][0])
    second["listen-endpoints"]["redirect-path"] = "/health"
    conf["services"].append(second)
    conf["common-endpoints"] = {"health-check": "/health"}
    found = problems(conf)
    assert "services[1].name: 's' is already used by services[0]" in found
    assert (
        "services[1].listen-endpoints.service-path: '/wx' is already used by "
        "services[0].listen-endpoints.service-path"
    ) in found
    assert (
        "common-endpoints.health-check: '/health' is already used by "
        "services[1].listen-endpoints.redirect-path"
    ) in found


def test_all_problems_are_reported_at_once() -> None:
    conf = minimal(workerNum=0, timeout="x")
    conf["listen-port"] = -1
    with pytest.raises(MpConfigError) as info:
        parse_config(json.dumps(conf), source="/etc/wx.json")
    assert len(info.value.problems) == 3
    assert str(info.value).startswith("/etc/wx.json: 3 problems:\n  ")


def test_not_an_object_and_not_json() -> None:
    with pytest.raises(MpConfigError, match="must be a JSON object"):
        parse_config("[]")
    with pytest.raises(MpConfigError, match="not valid JSON"):
        parse_config("")
    with pytest.raises(MpConfigError, match="not valid JSON"):
        parse_config('{"listen-port": NaN}')
    with pytest.raises(MpConfigError, match="not UTF-8"):
        parse_config(b"\xff{}")


def test_msg_proxy_pass_with_trailing_slash_warns() -> None:
    _, warnings = load(minimal(**{"msg-proxy-pass": "http://h/"}))
    assert warnings == [
        "services[0].msg-proxy-pass: ends with '/'; it is a plain prefix, so forwarded URLs "
        "will contain '//' (as with go-wx-gateway)"
    ]


# --------------------------------------------------------------------------- files


def test_load_config_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "wx-gateway-conf.json"
    path.write_text(json.dumps(filled_seed(), ensure_ascii=False), encoding="utf-8")
    config, warnings = load_config(path)
    assert config.listen_port == 7080
    assert len(warnings) == 10
    assert load_config(str(path))[0] == config


def test_load_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MpConfigError, match="cannot read"):
        load_config(tmp_path / "nope.json")


def test_problems_carry_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(minimal(workerNum=0)))
    with pytest.raises(MpConfigError) as info:
        load_config(path)
    assert info.value.source == str(path)
    assert str(info.value) == f"{path}: services[0].workerNum: must be at least 1, got 0"


# ------------------------------------------------------------------------- secrets


def test_d5_secrets_never_printed() -> None:
    """D5: go-wx-gateway printed the whole config, app-secret and aes-key included."""
    config, _ = load(filled_seed())
    dumps = [
        repr(config),
        str(config),
        repr(config.services[0]),
        repr(config.services[0].wx_params),
        f"{config.services[0].wx_params.token}",
        json.dumps(config.redacted(), ensure_ascii=False),
        repr(config.services[0].wx_params.msg_crypto()),
    ]
    for text in dumps:
        for secret in (APP_SECRET, v.V1_KEY, TOKEN, "shoptoken"):
            assert secret not in text
    redacted: Any = config.redacted()
    wx_params = redacted["services"][0]["wx-params"]
    assert wx_params == {
        "token": "***",
        "app-id": v.V1_APPID,
        "app-secret": "***",
        "aes-key": "***",
    }
    shop_params = redacted["services"][1]["wx-params"]
    assert shop_params["aes-key"] == ""  # plaintext-only shows as empty, not as a secret


def test_secret_errors_do_not_echo_the_key() -> None:
    bad_key = "SECRETKEY" * 5  # 45 characters
    conf = minimal(**{"wx-params": {"token": "t", "app-id": "wx1", "aes-key": bad_key}})
    with pytest.raises(MpConfigError) as info:
        load(conf)
    assert "SECRETKEY" not in str(info.value)


def test_redacted_dump_has_every_key() -> None:
    config, _ = load(filled_seed())
    dump = config.redacted()
    assert list(dump) == [
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
    ]
    reparsed = json.loads(json.dumps(dump))
    assert reparsed["services"][0]["listen-endpoints"]["service-path"] == "/wx"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://wg:pw-s3cret@db:5432/wg", "postgresql://wg:***@db:5432/wg"),
        ("postgres://wg:pw-s3cret@db/wg?ssl=require", "postgres://wg:***@db/wg?ssl=require"),
        ("postgresql://wg@db/wg", "postgresql://wg@db/wg"),
        ("sqlite:////var/lib/wg/weixin-gateway.db", "sqlite:////var/lib/wg/weixin-gateway.db"),
        ("/var/lib/wg/weixin-gateway.db", "/var/lib/wg/weixin-gateway.db"),
        ("", ""),
    ],
)
def test_database_url_is_read_and_its_password_redacted(url: str, shown: str) -> None:
    conf = minimal()
    if url:
        conf["database-url"] = url
    config, warnings = load(conf)
    assert warnings == []
    assert config.database_url == url
    assert config.redacted()["database-url"] == shown
    assert "pw-s3cret" not in repr(config)


def test_secret_type() -> None:
    s = Secret("abc")
    assert s.reveal() == "abc"
    assert repr(s) == "Secret('***')"
    assert str(s) == "***"
    assert bool(s)
    assert not Secret("")
    assert repr(Secret("")) == "Secret('')"
    assert Secret("abc") == Secret("abc")
    assert Secret("abc") != Secret("abd")
    assert hash(Secret("abc")) == hash(Secret("abc"))
    assert Secret("abc") != "abc"


def test_msg_crypto_from_config_works_on_v1() -> None:
    config, _ = load(filled_seed())
    crypto = config.services[0].wx_params.msg_crypto()
    assert crypto is not None
    assert crypto.decrypt(v.V1_ENCRYPT) == v.V1_PLAINTEXT.encode()
    fixed = config.services[0].wx_params.msg_crypto(random=lambda n: v.V1_RANDOM)
    assert fixed is not None
    assert fixed.encrypt(v.V1_PLAINTEXT) == v.V1_ENCRYPT


def test_config_is_frozen() -> None:
    config, _ = load(minimal())
    with pytest.raises(AttributeError):
        config.listen_port = 1  # type: ignore[misc]


def test_require_encryption() -> None:
    conf = minimal(**{"require-encryption": True})
    assert problems(conf) == ("services[0].require-encryption: needs wx-params.aes-key",)
    conf["services"][0]["wx-params"] = {"token": "t", "app-id": "wx1", "aes-key": v.V1_KEY}
    config, _ = load(conf)
    assert config.services[0].require_encryption
    assert config.redacted()["services"][0]["require-encryption"] is True  # type: ignore[index,call-overload]


def test_problem_paths_keep_the_original_index() -> None:
    conf = minimal()
    broken: dict[str, Any] = {"name": "x", "workerNum": 0}
    conf["services"] = [broken, conf["services"][0], copy.deepcopy(conf["services"][0])]
    found = problems(conf)
    assert "services[2].name: 's' is already used by services[1]" in found
