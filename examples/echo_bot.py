"""Echo every text back to its sender. Run it against `weixin-gateway simulator` (see README)."""

import asyncio
import os

from weixin_gateway.ilink import WeixinClient, WeixinMessage


async def main() -> None:
    async with WeixinClient(
        base_url=os.environ.get("WEIXIN_BASE_URL", "http://127.0.0.1:9100"),
        token=os.environ["WEIXIN_BOT_TOKEN"],
        cdn_base_url=os.environ.get("WEIXIN_CDN_BASE_URL", "http://127.0.0.1:9100/c2c"),
    ) as client:

        async def echo(msg: WeixinMessage) -> None:
            if msg.from_user_id and msg.text:
                await client.send_text(
                    msg.from_user_id, f"Echo: {msg.text}", context_token=msg.context_token
                )

        await client.run_polling(echo)


asyncio.run(main())
