"""WeChat's business errors: HTTP 200 with ``{"errcode": N, "errmsg": "<text> rid: <rid>"}``."""

from __future__ import annotations

__all__ = ["ERRMSG", "WeChatApiError", "errmsg_for"]

#: errmsg texts (official-account.md §5.13); unverified ones are plausible, not quoted.
ERRMSG: dict[int, str] = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40004: "invalid media type",
    40005: "invalid file type",
    40006: "invalid meida size",
    40007: "invalid media_id",
    40008: "invalid message type",
    40013: "invalid appid",
    40014: "invalid access_token",
    40029: "invalid code",
    40030: "invalid refresh_token",
    40035: "invalid args",
    40037: "invalid template_id",
    40097: "invalid args",
    40125: "invalid appsecret",
    40163: "code been used",
    40243: "AppSecret已被冻结，请登录MP解冻后再次调用。",
    41001: "access_token missing",
    41002: "appid missing",
    41003: "refresh_token missing",
    41004: "appsecret missing",
    41005: "media data missing",
    41008: "missing code",
    41009: "missing openid",
    41030: "invalid page",
    42001: "access_token expired",
    42002: "refresh_token expired",
    43001: "require GET method",
    43002: "require POST method",
    43004: "require subscribe",
    43101: "user refuse to accept the msg",
    43116: "This template_id is banned",
    44003: "empty news data",
    44004: "empty content",
    45002: "content size out of limit",
    45008: "article size out of limit",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit, must slower, retry next minute",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    45103: "This API has been unsupported",
    45109: "This API has been unsupported",
    47001: "data format error",
    47003: "argument invalid!",
    48001: "api unauthorized",
    89503: "此IP调用需要管理员确认,请联系管理员",
    100002: "order not exist",
}


def errmsg_for(errcode: int) -> str:
    return ERRMSG.get(errcode, "simulated error")


class WeChatApiError(Exception):
    """Raised inside an API handler; answered as HTTP 200 + errcode/errmsg (+ rid)."""

    def __init__(
        self, errcode: int, detail: str | None = None, *, errmsg: str | None = None
    ) -> None:
        self.errcode = errcode
        base = errmsg if errmsg is not None else errmsg_for(errcode)
        self.errmsg = f"{base} {detail}" if detail else base
        super().__init__(f"{errcode}: {self.errmsg}")
