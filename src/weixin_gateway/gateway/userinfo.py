"""The ``userInfo`` object go-wx-gateway hands upstream, and safe error texts (§6.5, §6.8, §6.9).

go-wx-gateway decoded every user record (``cgi-bin/user/info`` and ``sns/userinfo`` alike) into
one Go struct and sent exactly nine keys, in this order: ``openid``, ``nickname``, ``sex``
(number), ``province``, ``city``, ``country``, ``headimgurl``, ``privilege`` (``null`` for
user/info), ``unionid``. Everything else WeChat said (``subscribe``, ``subscribe_time``,
``language``, ``remark``, ``tagid_list``, ``subscribe_scene`` …) was dropped. Here the nine keys
come first with the same types, and the rest of WeChat's record follows unchanged (defect D29,
an additive change).

Error texts sent upstream (``userInfoError``) or to a caller never carry a URL, a secret or a
token (defects D13, D14): for a WeChat refusal it is WeChat's ``errmsg`` (what go-wx-gateway sent),
otherwise the short description the client already scrubbed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from weixin_gateway.errors import ApiError, WeixinError
from weixin_gateway.mp.gojson import JsonObject, JsonValue

__all__ = ["USER_INFO_KEYS", "error_text", "user_info_object"]

USER_INFO_KEYS: Final = (
    "openid",
    "nickname",
    "sex",
    "province",
    "city",
    "country",
    "headimgurl",
    "privilege",
    "unionid",
)


def _str(value: JsonValue) -> str:
    return value if isinstance(value, str) else ""


def _int(value: JsonValue) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def user_info_object(record: Mapping[str, JsonValue]) -> JsonObject:
    """go-wx-gateway's nine keys (typed as it typed them), then the rest of ``record``."""
    privilege = record.get("privilege")
    out: JsonObject = {
        "openid": _str(record.get("openid")),
        "nickname": _str(record.get("nickname")),
        "sex": _int(record.get("sex")),
        "province": _str(record.get("province")),
        "city": _str(record.get("city")),
        "country": _str(record.get("country")),
        "headimgurl": _str(record.get("headimgurl")),
        "privilege": privilege if isinstance(privilege, list) else None,
        "unionid": _str(record.get("unionid")),
    }
    for key, value in record.items():
        if key not in out and key not in ("errcode", "errmsg"):
            out[key] = value
    return out


def error_text(exc: BaseException) -> str:
    """A short, credential-free description of a failed WeChat call.

    A refusal gives WeChat's ``errmsg`` (``invalid openid rid: …``), as go-wx-gateway did; the
    client's transport and decode errors are already scrubbed of URLs and credentials.
    """
    if isinstance(exc, ApiError):
        return exc.errmsg or f"errcode {exc.errcode}"
    if isinstance(exc, WeixinError):
        return str(exc)
    return type(exc).__name__
