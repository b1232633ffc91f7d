"""JSON views of the simulator's records, as the control API serves them."""

from __future__ import annotations

import base64

from .faults import Fault, FaultPlan
from .records import Notification, QrSession, SentItem, SentMessage, SimBot, SimUser, TypingEvent

__all__ = [
    "bot_view",
    "fault_view",
    "notification_view",
    "qr_view",
    "sent_view",
    "typing_view",
    "user_view",
]


def user_view(user: SimUser) -> dict[str, object]:
    return {"user_id": user.user_id, "name": user.name}


def bot_view(bot: SimBot) -> dict[str, object]:
    return {
        "bot_id": bot.bot_id,
        "bot_token": bot.bot_token,
        "user_id": bot.user_id,
        "base_url": bot.base_url,
        "cdn_base_url": bot.cdn_base_url,
        "expired": bot.expired,
    }


def _sent_item_view(item: SentItem) -> dict[str, object]:
    if item.type == "text":
        return {"type": "text", "text": item.text}
    if item.type in ("tool_call_start", "tool_call_result"):
        view: dict[str, object] = {
            "type": item.type,
            "tool_name": item.tool_name,
            "tool_call_id": item.tool_call_id,
        }
        if item.type == "tool_call_result":
            view["status"] = item.status
        return view
    if item.type == "unknown":
        return {"type": "unknown", "raw": dict(item.raw)}
    view = {"type": item.type}
    if item.file_name is not None:
        view["file_name"] = item.file_name
    view["size"] = item.size
    view["data_base64"] = base64.b64encode(item.data).decode() if item.data is not None else None
    if item.error is not None:
        view["error"] = item.error
    return view


def sent_view(message: SentMessage) -> dict[str, object]:
    return {
        "to_user_id": message.to_user_id,
        "client_id": message.client_id,
        "context_token": message.context_token,
        "run_id": message.run_id,
        "message_id": message.message_id,
        "time": message.time,
        "items": [_sent_item_view(item) for item in message.items],
    }


def typing_view(event: TypingEvent) -> dict[str, object]:
    return {"user_id": event.user_id, "status": event.status, "time": event.time}


def notification_view(event: Notification) -> dict[str, object]:
    return {"kind": event.kind, "time": event.time}


def qr_view(session: QrSession) -> dict[str, object]:
    return {
        "qrcode": session.qrcode,
        "status": session.status,
        "qrcode_img_content": session.qrcode_img_content,
        "created_at": session.created_at,
        "bot_type": session.bot_type,
        "local_token_count": len(session.local_tokens),
        "user_id": session.user_id,
        "bot_id": session.bot_id,
        "redirect_host": session.redirect_host,
        "wrong_codes": session.wrong_codes,
    }


def fault_view(fault: Fault[FaultPlan]) -> dict[str, object]:
    plan = fault.plan
    return {
        "id": fault.id,
        "kind": plan.kind,
        "route": plan.route,
        "bot_id": plan.bot_id,
        "count": plan.count,
        "delay_ms": plan.delay_ms,
        "status": plan.status,
        "error_message": plan.error_message,
        "message_id": plan.message_id,
        "remaining": fault.remaining,
        "fired": fault.fired,
    }
