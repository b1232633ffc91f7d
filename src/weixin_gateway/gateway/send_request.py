"""The body of ``POST /send`` (and ``/send/async``): seed 000's schema, validated.

``items`` holds ``{"type": "text", "text": ...}`` and ``{"type": "file", "file_type": 1-4,
"url": ...}`` entries (plus our ``file_name`` and ``as_voice``); unknown fields such as seed 000's
``srv_send_msg`` are accepted and ignored, so existing upstreams work unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from weixin_gateway.gateway.outbound import FilePart, SendPart, TextPart

__all__ = ["FileItemIn", "SendRequest", "TextItemIn", "parts_of"]


class TextItemIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["text"]
    text: str = Field(min_length=1, max_length=200_000)


class FileItemIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["file"]
    file_type: int = Field(description="1 image, 2 video, 3 voice (sent as a file), 4 file")
    url: str = Field(min_length=1, max_length=8192)
    file_name: str | None = Field(default=None, max_length=255)
    as_voice: bool = Field(default=False, description="send SILK audio as a voice bubble")


SendItemIn = Annotated[TextItemIn | FileItemIn, Field(discriminator="type")]


class SendRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    account_id: str = Field(min_length=1, max_length=255)
    to_user_id: str = Field(min_length=1, max_length=255)
    context_token: str | None = Field(default=None, max_length=4096)
    chat_type: str = "c2c"
    items: list[SendItemIn] = Field(min_length=1, max_length=100)


def _part(item: TextItemIn | FileItemIn) -> SendPart:
    if isinstance(item, TextItemIn):
        return TextPart(item.text)
    return FilePart(item.file_type, item.url, item.file_name, item.as_voice)


def parts_of(request: SendRequest | dict[str, Any]) -> list[SendPart]:
    """The send parts of a request (a model, or a stored request's JSON)."""
    model = request if isinstance(request, SendRequest) else SendRequest.model_validate(request)
    return [_part(item) for item in model.items]
