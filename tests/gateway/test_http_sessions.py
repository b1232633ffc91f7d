"""The gateway's shared HTTP sessions keep no cookies: one user's never reach another's call."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestServer

from weixin_gateway.gateway.http import open_session


async def test_a_cookie_set_by_one_answer_is_not_sent_with_the_next_request() -> None:
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.Response(text="ok")
        response.set_cookie("session", f"secret-of-{request.query.get('user')}")
        return response

    app = web.Application()
    app.router.add_get("/relay", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    session = open_session()
    try:
        # by name: aiohttp's default jar ignores cookies from bare IP addresses
        url = f"http://localhost:{server.port}/relay"
        for user in ("alice", "bob"):
            async with session.get(url, params={"user": user}) as response:
                assert response.status == 200
                assert "secret-of" in response.headers["Set-Cookie"]
    finally:
        await session.close()
        await server.close()
    assert seen == [None, None]
