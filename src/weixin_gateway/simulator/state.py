"""The simulated world in memory: users, bots, their mailboxes, context tokens and what they sent.

Everything is indexed so that a request touches only its own bot: tokens map to bots, message
IDs to retained messages, context tokens to the inbound message they came with.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import TypeVar

from weixin_gateway.ilink.wire import WeixinMessage

from ._errors import SimulatorError, SimulatorNotFoundError
from ._ids import IdSource
from .config import SimulatorConfig
from .mailbox import Mailbox, StoredMessage
from .records import Notification, SimUser, TypingEvent

__all__ = ["BotState", "Outbound", "World"]

log = logging.getLogger(__name__)

#: Context tokens remembered per bot (oldest forgotten first).
CONTEXT_TOKENS_PER_BOT = 100_000

_T = TypeVar("_T")


def _push(queue: deque[_T], value: _T, cap: int) -> None:
    queue.append(value)
    while len(queue) > cap:
        queue.popleft()


@dataclass(slots=True, eq=False)
class _Context:
    """What a context token stands for: one inbound message from one user."""

    user_id: str
    message_id: int
    replies: int = 0


@dataclass(frozen=True, slots=True)
class Outbound:
    """A ``sendmessage`` the simulator accepted, as received."""

    bot_id: str
    message_id: int
    time: float
    msg: WeixinMessage = field(repr=False)


class BotState:
    """One bot account and everything that happened to it."""

    __slots__ = (
        "bot_id",
        "contexts",
        "expired",
        "last_inbound",
        "mailbox",
        "notifications",
        "owner",
        "sent",
        "token",
        "typing",
    )

    def __init__(self, bot_id: str, token: str, owner: str, cursor_key: bytes) -> None:
        self.bot_id = bot_id
        self.token = token
        self.owner = owner
        self.expired = False
        self.mailbox = Mailbox(cursor_key)
        self.contexts: dict[str, _Context] = {}
        self.last_inbound: dict[str, float] = {}
        self.sent: deque[Outbound] = deque()
        self.typing: deque[TypingEvent] = deque()
        self.notifications: deque[Notification] = deque()


class World:
    """Users and bots of one simulator."""

    def __init__(self, ids: IdSource) -> None:
        self.ids = ids
        self.users: dict[str, SimUser] = {}
        self.bots: dict[str, BotState] = {}
        self._by_token: dict[str, BotState] = {}
        self._messages: dict[int, tuple[BotState, StoredMessage]] = {}

    # --- users and bots ---------------------------------------------------------------------

    def add_user(self, name: str | None = None, user_id: str | None = None) -> SimUser:
        """A new user, or the existing one when ``user_id`` is already known."""
        if user_id is not None:
            if not user_id.strip():
                raise SimulatorError("user_id must not be empty", field="user_id")
            existing = self.users.get(user_id)
            if existing is not None:
                return existing
        user = SimUser(user_id or self.ids.user_id(), name)
        self.users[user.user_id] = user
        return user

    def user(self, user_id: str, *, field: str = "user_id") -> SimUser:
        user = self.users.get(user_id)
        if user is None:
            raise SimulatorNotFoundError(f"unknown user {user_id!r}", field=field)
        return user

    def add_bot(
        self, owner: str, *, bot_id: str | None = None, token: str | None = None
    ) -> BotState:
        if bot_id is not None and (not bot_id.strip() or bot_id in self.bots):
            raise SimulatorError(f"bot_id {bot_id!r} is empty or already exists", field="bot_id")
        if token is not None and (not token.strip() or token in self._by_token):
            raise SimulatorError("bot_token is empty or already in use", field="bot_token")
        bot_id = bot_id or self.ids.bot_id()
        bot = BotState(
            bot_id, token or self.ids.bot_token(bot_id), owner, self.ids.cursor_key(bot_id)
        )
        self.bots[bot_id] = bot
        self._by_token[bot.token] = bot
        return bot

    def bot(self, bot_id: str) -> BotState:
        bot = self.bots.get(bot_id)
        if bot is None:
            raise SimulatorNotFoundError(f"unknown bot {bot_id!r}", field="bot_id")
        return bot

    def bot_for_token(self, token: str | None) -> BotState | None:
        """The bot a token belongs to (expired or not), or ``None``."""
        return self._by_token.get(token) if token else None

    def expire(self, bot: BotState) -> None:
        """Revoke the bot's token: every later call gets -14, held polls answer at once."""
        bot.expired = True
        bot.mailbox.waiters.wake()
        log.info("bot %s expired", bot.bot_id)

    # --- inbound ----------------------------------------------------------------------------

    def deliver(
        self, bot: BotState, message: WeixinMessage, *, retention: int, received_at: float | None
    ) -> StoredMessage:
        """Queue ``message`` for ``bot`` and wake its polls.

        ``received_at`` registers the message's context token and reopens the user's reply
        window; a re-delivery passes ``None`` and changes neither.
        """
        stored, evicted = bot.mailbox.append(message, retention=retention)
        for message_id in evicted:
            self._messages.pop(message_id, None)
        self._messages[stored.message_id] = (bot, stored)
        user = message.from_user_id or ""
        if received_at is not None:
            bot.last_inbound[user] = received_at
            if message.context_token:
                bot.contexts[message.context_token] = _Context(user, stored.message_id)
                if len(bot.contexts) > CONTEXT_TOKENS_PER_BOT:
                    del bot.contexts[next(iter(bot.contexts))]
        return stored

    def message(self, message_id: int) -> tuple[BotState, StoredMessage] | None:
        """A retained inbound message by its ID."""
        return self._messages.get(message_id)

    # --- outbound ---------------------------------------------------------------------------

    def refusal(
        self, bot: BotState, msg: WeixinMessage, *, now: float, config: SimulatorConfig
    ) -> str | None:
        """The name of the rule that refuses this send with ``ret:-2``, or ``None``."""
        user = msg.to_user_id or ""
        token = msg.context_token or None
        context: _Context | None = None
        if token is None:
            if config.require_context_token:
                return "require_context_token"
        else:
            context = bot.contexts.get(token)
            if context is not None and context.user_id != user:
                context = None
            if context is None and config.check_context_token:
                return "check_context_token"
        if config.reply_window_seconds is not None:
            last = bot.last_inbound.get(user)
            if last is None or now - last > config.reply_window_seconds:
                return "reply_window_seconds"
        limit = config.max_replies_per_inbound
        if context is not None and limit is not None and context.replies >= limit:
            return "max_replies_per_inbound"
        return None

    def record_send(
        self, bot: BotState, msg: WeixinMessage, *, message_id: int, now: float, cap: int
    ) -> Outbound:
        """Count an accepted send against its context token and keep it."""
        if msg.context_token:
            context = bot.contexts.get(msg.context_token)
            if context is not None and context.user_id == msg.to_user_id:
                context.replies += 1
        outbound = Outbound(bot.bot_id, message_id, now, msg)
        _push(bot.sent, outbound, cap)
        return outbound

    def record_typing(self, bot: BotState, event: TypingEvent, *, cap: int) -> None:
        _push(bot.typing, event, cap)

    def record_notification(self, bot: BotState, event: Notification, *, cap: int) -> None:
        _push(bot.notifications, event, cap)
