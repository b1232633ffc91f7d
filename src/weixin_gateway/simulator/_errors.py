"""The one error the simulator raises for a control call it refuses (Python or HTTP)."""

from __future__ import annotations

from weixin_gateway.errors import WeixinError

__all__ = ["SimulatorError", "SimulatorNotFoundError"]


class SimulatorError(WeixinError, ValueError):
    """A request to the simulator's control surface is invalid.

    ``field`` names what is wrong (``"items[0].data_base64"``); ``status`` is the HTTP status the
    control API answers with.
    """

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class SimulatorNotFoundError(SimulatorError):
    """The bot, user, QR session or fault named does not exist."""

    status = 404
