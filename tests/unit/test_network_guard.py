from __future__ import annotations

import socket

import pytest


def test_guard_refuses_public_address() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(AssertionError, match="non-loopback"):
            sock.connect(("203.0.113.7", 443))
    finally:
        sock.close()


def test_guard_refuses_dns_of_real_hosts() -> None:
    with pytest.raises(AssertionError, match="non-loopback"):
        socket.getaddrinfo("ilinkai.weixin.qq.com", 443)


def test_guard_allows_loopback() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        client.connect(server.getsockname())
    finally:
        client.close()
        server.close()
