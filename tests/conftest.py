"""Shared test setup: a guard that fails any test reaching beyond 127.0.0.1."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


class NetworkGuardError(AssertionError):
    """A test tried to reach a host other than loopback."""


def _check_host(host: Any) -> None:
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return
    if host in ("localhost", ""):
        return
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        raise NetworkGuardError(f"test tried to resolve non-loopback host {host!r}") from None
    if not addr.is_loopback:
        raise NetworkGuardError(f"test tried to reach non-loopback address {host!r}")


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check_host(address[0])
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check_host(address[0])
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    _check_host(host)
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True)
def _network_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)
