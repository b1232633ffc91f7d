"""The one place that turns ``ret``/``errcode`` inside an HTTP 200 into errors (ilink.md §3)."""

from __future__ import annotations

from collections.abc import Mapping

from weixin_gateway._ints import as_int
from weixin_gateway.errors import ApiError, SendRejectedError, SessionExpiredError

from .protocol import SEND_REJECTED_CODE, STALE_TOKEN_CODE

__all__ = ["raise_for_envelope"]


def raise_for_envelope(endpoint: str, body: Mapping[str, object]) -> None:
    """Raise if ``body`` carries a non-zero ``ret`` or ``errcode``; a missing ``ret`` is success.

    ``-14`` in either field is :class:`SessionExpiredError`; ``-2`` from ``sendmessage`` is
    :class:`SendRejectedError`; anything else non-zero is :class:`ApiError`.
    """
    ret = as_int(body.get("ret"))
    errcode = as_int(body.get("errcode"))
    if not ret and not errcode:
        return
    raw_msg = body.get("errmsg")
    errmsg = raw_msg if isinstance(raw_msg, str) else None
    error: type[ApiError] = ApiError
    if STALE_TOKEN_CODE in (ret, errcode):
        error = SessionExpiredError
    elif endpoint == "sendmessage" and SEND_REJECTED_CODE in (ret, errcode):
        error = SendRejectedError
    raise error(endpoint, ret=ret, errcode=errcode, errmsg=errmsg)
