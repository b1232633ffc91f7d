"""The async iLink Bot SDK: wire types, crypto, the low-level API, QR login, the client."""

from .api import ILinkApi, ILinkConfig
from .login import AlreadyBoundError, LoginResult, QrLogin, login_with_qr

__all__ = [
    "AlreadyBoundError",
    "ILinkApi",
    "ILinkConfig",
    "LoginResult",
    "QrLogin",
    "login_with_qr",
]
