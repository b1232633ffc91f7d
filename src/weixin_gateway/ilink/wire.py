"""iLink wire models: the JSON bodies exactly as they travel (ilink.md §6-§10).

These are *wire* types: pydantic models whose field names are the protocol's, unknown fields are
kept (``extra="allow"``) and survive a round trip, and 64-bit IDs (``message_id``, ``msg_id``,
``svr_id``) are Python ``int`` end to end — parsed exactly even above 2**53 and accepted as
numeric strings too (2.4.9 rewrites them to strings before parsing). Nothing here goes through a
float. Secrets (bot tokens, AES keys, typing tickets) are hidden from ``repr()``.

Serialise with :func:`dump_wire` to get the compact JSON the official client sends: ``None``
fields are left out (the client never sends ``null``) and keys keep declaration order.
"""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "BaseInfo",
    "CDNMedia",
    "FileItem",
    "GetConfigRequest",
    "GetConfigResponse",
    "GetUpdatesRequest",
    "GetUpdatesResponse",
    "GetUploadUrlRequest",
    "GetUploadUrlResponse",
    "ImageItem",
    "MediaType",
    "MessageItem",
    "MessageItemType",
    "MessageState",
    "MessageType",
    "NotifyRequest",
    "NotifyResponse",
    "PartialText",
    "QrCodeRequest",
    "QrCodeResponse",
    "QrStatus",
    "QrStatusResponse",
    "RefMessage",
    "SendMessageRequest",
    "SendMessageResponse",
    "SendTypingRequest",
    "SendTypingResponse",
    "TextItem",
    "ToolCallResultItem",
    "ToolCallStartItem",
    "TypingStatus",
    "VideoItem",
    "VoiceItem",
    "WeixinMessage",
    "WireModel",
    "dump_wire",
    "dumps_wire",
]


class MessageType(IntEnum):
    NONE = 0
    USER = 1
    BOT = 2


class MessageState(IntEnum):
    NEW = 0
    GENERATING = 1
    FINISH = 2


class MessageItemType(IntEnum):
    NONE = 0
    TEXT = 1
    IMAGE = 2
    VOICE = 3
    FILE = 4
    VIDEO = 5
    TOOL_CALL_START = 11
    TOOL_CALL_RESULT = 12


class MediaType(IntEnum):
    """``media_type`` of ``getuploadurl``."""

    IMAGE = 1
    VIDEO = 2
    FILE = 3
    VOICE = 4


class TypingStatus(IntEnum):
    TYPING = 1
    CANCEL = 2


class QrStatus:
    """The values of ``get_qrcode_status``'s ``status`` (ilink.md §4.2)."""

    WAIT = "wait"
    SCANED = "scaned"
    NEED_VERIFYCODE = "need_verifycode"
    VERIFY_CODE_BLOCKED = "verify_code_blocked"
    SCANED_BUT_REDIRECT = "scaned_but_redirect"
    BINDED_REDIRECT = "binded_redirect"
    EXPIRED = "expired"
    CONFIRMED = "confirmed"


class WireModel(BaseModel):
    """Base of every wire model: unknown fields kept, validation lax like the JSON it reads."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, use_enum_values=True)

    def wire(self) -> dict[str, Any]:
        """This model as the JSON-ready dict the official client would send."""
        return dump_wire(self)


def dump_wire(model: BaseModel) -> dict[str, Any]:
    """Dump a wire model: ``None`` left out, declared keys in order, extras kept."""
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


def dumps_wire(model: BaseModel | dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, byte-compatible with ``JSON.stringify``."""
    data = dump_wire(model) if isinstance(model, BaseModel) else model
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _exact_int(value: Any) -> Any:
    """Accept IDs as JSON numbers or numeric strings; refuse floats that would lose digits."""
    if isinstance(value, float):
        raise ValueError("64-bit IDs must not travel as floats")
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return None
        if not text.lstrip("-").isdigit():
            raise ValueError(f"not an integer ID: {value!r}")
        return int(text)
    return value


class BaseInfo(WireModel):
    channel_version: str | None = None
    bot_agent: str | None = None


class CDNMedia(WireModel):
    encrypt_query_param: str | None = None
    aes_key: str | None = Field(default=None, repr=False)
    encrypt_type: int | None = None
    full_url: str | None = None


class TextItem(WireModel):
    text: str | None = None


class ImageItem(WireModel):
    media: CDNMedia | None = None
    thumb_media: CDNMedia | None = None
    aeskey: str | None = Field(default=None, repr=False)
    url: str | None = None
    mid_size: int | None = None
    thumb_size: int | None = None
    thumb_height: int | None = None
    thumb_width: int | None = None
    hd_size: int | None = None


class VoiceItem(WireModel):
    media: CDNMedia | None = None
    encode_type: int | None = None
    bits_per_sample: int | None = None
    sample_rate: int | None = None
    playtime: int | None = None
    text: str | None = None


class FileItem(WireModel):
    media: CDNMedia | None = None
    file_name: str | None = None
    md5: str | None = None
    len: str | None = None

    @field_validator("len", mode="before")
    @classmethod
    def _len_as_string(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class VideoItem(WireModel):
    media: CDNMedia | None = None
    video_size: int | None = None
    play_length: int | None = None
    video_md5: str | None = None
    thumb_media: CDNMedia | None = None
    thumb_size: int | None = None
    thumb_height: int | None = None
    thumb_width: int | None = None


class ToolCallStartItem(WireModel):
    tool_name: str | None = None
    tool_call_id: str | None = None


class ToolCallResultItem(WireModel):
    tool_name: str | None = None
    tool_call_id: str | None = None
    status: str | None = None


class PartialText(WireModel):
    start: str | None = None
    end: str | None = None
    startindex: int | None = None
    endindex: int | None = None
    quotemd5: str | None = None


class RefMessage(WireModel):
    message_item: MessageItem | None = None
    title: str | None = None
    svr_id: int | None = None
    partial_text: PartialText | None = None

    _ids = field_validator("svr_id", mode="before")(_exact_int)


class MessageItem(WireModel):
    type: int | None = None
    create_time_ms: int | None = None
    update_time_ms: int | None = None
    is_completed: bool | None = None
    msg_id: int | None = None
    text_item: TextItem | None = None
    image_item: ImageItem | None = None
    voice_item: VoiceItem | None = None
    file_item: FileItem | None = None
    video_item: VideoItem | None = None
    tool_call_start_item: ToolCallStartItem | None = None
    tool_call_result_item: ToolCallResultItem | None = None
    ref_msg: RefMessage | None = None

    _ids = field_validator("msg_id", mode="before")(_exact_int)

    @property
    def media(self) -> CDNMedia | None:
        """The ``media`` of whichever media body this item carries."""
        body = self.image_item or self.video_item or self.file_item or self.voice_item
        return body.media if body is not None else None


class WeixinMessage(WireModel):
    seq: int | None = None
    message_id: int | None = None
    from_user_id: str | None = None
    to_user_id: str | None = None
    client_id: str | None = None
    create_time_ms: int | None = None
    update_time_ms: int | None = None
    delete_time_ms: int | None = None
    session_id: str | None = None
    group_id: str | None = None
    message_type: int | None = None
    message_state: int | None = None
    item_list: list[MessageItem] | None = None
    context_token: str | None = Field(default=None, repr=False)
    run_id: str | None = None

    _ids = field_validator("message_id", mode="before")(_exact_int)

    @property
    def id(self) -> int | None:
        """``message_id``, or the first item's ``msg_id`` when it is missing (2.4.9 rule)."""
        if self.message_id is not None:
            return self.message_id
        for item in self.item_list or ():
            if item.msg_id is not None:
                return item.msg_id
        return None

    @property
    def text(self) -> str:
        """The first text item's text, else the first voice transcript, else ``""``."""
        for item in self.item_list or ():
            if item.text_item is not None and item.text_item.text:
                return item.text_item.text
        for item in self.item_list or ():
            if item.voice_item is not None and item.voice_item.text:
                return item.voice_item.text
        return ""


# --- requests and responses -------------------------------------------------------------------


class _Envelope(WireModel):
    ret: int | None = None
    errcode: int | None = None
    errmsg: str | None = None


class GetUpdatesRequest(WireModel):
    get_updates_buf: str = ""
    base_info: BaseInfo | None = None


class GetUpdatesResponse(_Envelope):
    msgs: list[WeixinMessage] | None = None
    get_updates_buf: str | None = None
    longpolling_timeout_ms: int | None = None
    sync_buf: str | None = None


class SendMessageRequest(WireModel):
    msg: WeixinMessage
    base_info: BaseInfo | None = None


class SendMessageResponse(_Envelope):
    message_id: int | None = None

    _ids = field_validator("message_id", mode="before")(_exact_int)


class GetUploadUrlRequest(WireModel):
    filekey: str
    media_type: int
    to_user_id: str
    rawsize: int
    rawfilemd5: str
    filesize: int
    thumb_rawsize: int | None = None
    thumb_rawfilemd5: str | None = None
    thumb_filesize: int | None = None
    no_need_thumb: bool | None = True
    aeskey: str = Field(repr=False)
    base_info: BaseInfo | None = None


class GetUploadUrlResponse(_Envelope):
    upload_param: str | None = None
    thumb_upload_param: str | None = None
    upload_full_url: str | None = None


class GetConfigRequest(WireModel):
    ilink_user_id: str
    context_token: str | None = Field(default=None, repr=False)
    base_info: BaseInfo | None = None


class GetConfigResponse(_Envelope):
    typing_ticket: str | None = Field(default=None, repr=False)


class SendTypingRequest(WireModel):
    ilink_user_id: str
    typing_ticket: str = Field(repr=False)
    status: int = TypingStatus.TYPING
    base_info: BaseInfo | None = None


class SendTypingResponse(_Envelope):
    pass


class NotifyRequest(WireModel):
    base_info: BaseInfo | None = None


class NotifyResponse(_Envelope):
    pass


class QrCodeRequest(WireModel):
    local_token_list: list[str] = Field(default_factory=list, repr=False)


class QrCodeResponse(_Envelope):
    qrcode: str | None = None
    qrcode_img_content: str | None = None


class QrStatusResponse(_Envelope):
    status: str | None = None
    bot_token: str | None = Field(default=None, repr=False)
    ilink_bot_id: str | None = None
    baseurl: str | None = None
    ilink_user_id: str | None = None
    redirect_host: str | None = None


RefMessage.model_rebuild()
