"""Two OS processes sharing a FileTokenStore directory refresh the access_token only once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests._children import run_together
from weixin_gateway.simulator.mp import ApiFaultPlan, OfficialAccountSimulator

STABLE = "/cgi-bin/stable_token"
USER_INFO = "/cgi-bin/user/info"

# Run in a child process: wait for the start signal, then make one protected call.
CHILD = """
import asyncio, os
from weixin_gateway.mp.client import MpApiClient, MpClientConfig, MpTimeouts
from weixin_gateway.mp.tokens import FileTokenStore

async def main() -> None:
    await wait_for_start()
    config = MpClientConfig(
        token_mode=os.environ["TOKEN_MODE"], timeouts=MpTimeouts(connect=2, request=10)
    )
    async with MpApiClient(
        os.environ["APP_ID"],
        os.environ["APP_SECRET"],
        api_base_url=os.environ["API_BASE_URL"],
        token_store=FileTokenStore(os.environ["TOKEN_DIR"]),
        config=config,
    ) as client:
        info = await client.user.info(os.environ["OPENID"])
        print(info["openid"], flush=True)

asyncio.run(main())
"""


async def _run_children(
    wx: OfficialAccountSimulator, appid: str, openid: str, tmp_path: Path, mode: str, n: int
) -> list[str]:
    env = {
        "TOKEN_MODE": mode,
        "APP_ID": appid,
        "APP_SECRET": wx.app(appid).secret,
        "API_BASE_URL": wx.api_base_url,
        "TOKEN_DIR": str(tmp_path / "tokens"),
        "OPENID": openid,
    }
    return await run_together(CHILD, env, tmp_path, n=n)


@pytest.mark.parametrize("mode", ["stable", "classic"])
async def test_two_processes_share_one_refresh(tmp_path: Path, mode: str) -> None:
    async with OfficialAccountSimulator() as wx:  # real clock: the children use theirs
        app = wx.create_app()
        user = wx.add_user(app.appid)
        # a slow token endpoint makes the two refreshes overlap in time
        path = STABLE if mode == "stable" else "/cgi-bin/token"
        wx.add_fault(ApiFaultPlan("latency", path=path, count=None, latency_ms=300))
        openids = await _run_children(wx, app.appid, user.openid, tmp_path, mode, n=2)
        assert openids == [user.openid, user.openid]
        assert len(wx.calls(path)) == 1  # one token between the two processes
        calls = wx.calls(USER_INFO)
        assert [c.errcode for c in calls] == [0, 0]
        assert len({c.access_token for c in calls}) == 1
        stored = json.loads((tmp_path / "tokens" / app.appid).read_text())
        assert stored["token"] == calls[0].access_token
