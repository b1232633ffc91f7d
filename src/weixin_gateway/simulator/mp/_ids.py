"""Identifiers shaped like WeChat's, from one seedable RNG (deterministic mode)."""

from __future__ import annotations

import base64
import random
import string

__all__ = ["MpIds"]

_ALNUM = string.ascii_letters + string.digits
_TOKEN_ALPHABET = _ALNUM + "_-"
#: Template and mass-send msgids start above 2**31 so that int32 clients break visibly.
_FIRST_TEMPLATE_MSGID = 3_147_483_648
#: Push MsgIds are 64-bit and start above 2**53 so that clients must keep them exact.
_FIRST_PUSH_MSGID = 24_000_000_000_000_000


class MpIds:
    """Every random value of the Official Account simulator comes from here."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng: random.Random = random.Random(seed) if seed is not None else random.SystemRandom()
        self._msgid = _FIRST_PUSH_MSGID + self.rng.randrange(1 << 40)
        self._template_msgid = _FIRST_TEMPLATE_MSGID

    def bytes(self, n: int) -> bytes:
        return bytes(self.rng.getrandbits(8) for _ in range(n))

    def _choose(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def hex(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def digits(self, n: int) -> str:
        return str(self.rng.randint(1, 9)) + "".join(
            self.rng.choice(string.digits) for _ in range(n - 1)
        )

    # --- accounts and users -------------------------------------------------------------------

    def appid(self) -> str:
        return "wx" + self.hex(16)

    def secret(self) -> str:
        return self.hex(32)

    def token(self) -> str:
        return self._choose(_ALNUM, 16)

    def encoding_aes_key(self) -> str:
        return self._choose(_ALNUM, 43)

    def gh_id(self) -> str:
        return "gh_" + self.hex(12)

    def openid(self) -> str:
        """28 characters, ``o`` + base64url, like ``oia2TjjewbmiOUlr6X-1crbLOvLw``."""
        return "o" + base64.urlsafe_b64encode(self.bytes(21)).decode()[:27]

    def unionid(self) -> str:
        return "o" + base64.urlsafe_b64encode(self.bytes(21)).decode()[:27]

    # --- credentials ----------------------------------------------------------------------------

    def access_token(self) -> str:
        """``<nn>_`` + 150 characters of ``[A-Za-z0-9_-]`` (real tokens are ~157 characters)."""
        return f"{self.rng.randint(60, 99)}_" + self._choose(_TOKEN_ALPHABET, 150)

    def refresh_token(self) -> str:
        return f"{self.rng.randint(60, 99)}_" + self._choose(_TOKEN_ALPHABET, 150)

    def ticket(self) -> str:
        """A JS-SDK ticket: 86 characters of base64url, like the official example."""
        return base64.urlsafe_b64encode(self.bytes(64)).decode().rstrip("=")[:86]

    def oauth_code(self) -> str:
        return self._choose(_ALNUM, 32)

    def qr_ticket(self) -> str:
        """Standard base64 that always holds ``+``, ``/`` and ``=`` (to catch a missing encode)."""
        text = "gQH" + base64.b64encode(self.bytes(70)).decode()
        return text[:6] + "+" + text[7:12] + "/" + text[13:]

    def qr_url(self) -> str:
        return "http://weixin.qq.com/q/" + base64.urlsafe_b64encode(self.bytes(18)).decode()

    def media_id(self) -> str:
        return base64.urlsafe_b64encode(self.bytes(48)).decode()

    def nonce(self) -> str:
        """A decimal digit string, as WeChat sends it."""
        return self.digits(10)

    def echostr(self) -> str:
        return self.digits(19)

    def rid(self) -> str:
        """The ``rid`` WeChat appends to every errmsg: ``<hex8>-<hex8>-<hex10>``."""
        return f"{self.hex(8)}-{self.hex(8)}-{self.hex(10)}"

    # --- message IDs ----------------------------------------------------------------------------

    def msg_id(self) -> int:
        """The next push MsgId (64-bit, unique)."""
        self._msgid += 1 + self.rng.randrange(1000)
        return self._msgid

    def template_msgid(self) -> int:
        self._template_msgid += 1 + self.rng.randrange(100)
        return self._template_msgid

    def order_id(self) -> int:
        """A shop order id above 2**53, like 3705115058471208928."""
        return 3_700_000_000_000_000_000 + self.rng.randrange(10**16)
