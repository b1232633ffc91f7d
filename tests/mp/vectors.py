"""The known-correct vectors of official-account.md §7 (and wechatpy's own crypto fixtures)."""

from __future__ import annotations

# V1 — inbound safe-mode text message (§7.1)
V1_TOKEN = "pamtest"
V1_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
V1_AES_KEY_HEX = "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051"
V1_APPID = "wxb11529c136998cb6"
V1_TIMESTAMP = "1409304348"
V1_NONCE = "xxxxxx"
V1_RANDOM = b"0123456789abcdef"
V1_PLAINTEXT = (
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>"
    "<FromUserName><![CDATA[oia2TjjewbmiOUlr6X-1crbLOvLw]]></FromUserName>"
    "<CreateTime>1409304348</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[hello 你好]]></Content><MsgId>6054768590064713728</MsgId></xml>"
)
V1_ENCRYPT = (
    "Q3stYC6hdFzMh9T8HCvyDBzTOeT6LZAVRV+KJkF5K1iYD4Pzv6kZyHEfqj/MDnSlttdqbbQq4BEV4pxiDAAH4JwZ3yh4"
    "UzGDIOh4J40b0aIolXUZm7FQpLpG0TP63r57eaAYwnlj2Q6iMIdceQtEfaFeZvaK6P3IhM6gMHSi7HIu0M2qfg5V9dqd"
    "WG93JsL9pXctUPU6eDLhX9WYV2AX/cDOkOHUl+43I3vkEzvBOHS0euQHbW1wUK46J2zihnvY3bGuxRzNUvD25YXiy0fY"
    "+7ZDDgSzKnj5ElwMbLTVlY6gFDidw37Ib7keYCq+SsykxkqEZVfIEopSjNoHW1t7IehBzGhYxo7lw2hNg2DE+klO9WPT"
    "DfA80zde8OYwVOdII50OKX09Kc8bOG0VLbsxXxN+fW9GO3kuzTqjT7NHqzc="
)
V1_SIGNATURE = "76480565cbe296026c53aaacd1ad523a1ddba24f"
V1_MSG_SIGNATURE = "f2a33cae94c2f689ef438ea2f2493e7c62e9f0a3"
V1_OPENID = "oia2TjjewbmiOUlr6X-1crbLOvLw"
V1_QUERY = {
    "signature": V1_SIGNATURE,
    "timestamp": V1_TIMESTAMP,
    "nonce": V1_NONCE,
    "openid": V1_OPENID,
    "encrypt_type": "aes",
    "msg_signature": V1_MSG_SIGNATURE,
}
V1_BODY = (
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>"
    f"<Encrypt><![CDATA[{V1_ENCRYPT}]]></Encrypt></xml>"
).encode()

# V2 — encrypted passive reply, identical to wechatpy tests/test_crypto.py (§7.2)
V2_TOKEN = "123456"
V2_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
V2_APPID = "wx49f0ab532d5d035a"
V2_TIMESTAMP = "1411525903"
V2_NONCE = "461056294"
V2_RANDOM = b"1234567890123456"
V2_PLAINTEXT = """<xml>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[test]]></Content>
<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>
<ToUserName><![CDATA[messense]]></ToUserName>
<AgentID>1</AgentID>
<CreateTime>1411525903</CreateTime>
</xml>"""
V2_ENCRYPT = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGs"
    "L8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSj"
    "PUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJv"
    "FurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFY"
    "FMNMpatF9XiKzHo3"
)
V2_MSG_SIGNATURE = "407518b7649e86ef23978113f92d27afa9296533"
# the companion decrypt fixture of the same wechatpy file
V2_DECRYPT_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTy"
    "eDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYy"
    "olBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWO"
    "MZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7ml"
    "sl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)
V2_DECRYPT_MSG_SIGNATURE = "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"

# V3 — subscribe-by-QR event, full-block padding (§7.3); only the ciphertext's ends are published
V3_TOKEN = "WxGatewayTok3n"
V3_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
V3_APPID = "wx0123456789abcdef"
V3_TIMESTAMP = "1700000000"
V3_NONCE = "1234567890"
V3_RANDOM = b"RANDOMRANDOM1234"
V3_PLAINTEXT_LENGTH = 410
V3_ENCRYPT_PREFIX = "q3WAy0nt57QecqUj/YzFNeTOktCL1QP4"
V3_SIGNATURE = "507bb217ad0404c6ed3b9a3ff429f3d8be246376"

# V4 — encrypted reply to V1, TimeStamp/Nonce echoed (§7.4)
V4_RANDOM = b"fedcba9876543210"
V4_CREATE_TIME = 1409304350
V4_CONTENT = "echo: hello 你好"
V4_PLAINTEXT = (
    "<xml><ToUserName><![CDATA[oia2TjjewbmiOUlr6X-1crbLOvLw]]></ToUserName>"
    "<FromUserName><![CDATA[gh_10f6c3c3ac5a]]></FromUserName>"
    "<CreateTime>1409304350</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[echo: hello 你好]]></Content></xml>"
)
V4_ENCRYPT_PREFIX = "DpQeJfnf/MGZ/+GTIspwVINqeF9V5xs4"
V4_MSG_SIGNATURE = "bd2ecf18fa31261b10874b2d0236cf08a0d35ae3"

# P1/P2 — plain-mode signatures (§7.6)
P1 = ("test", "1410685589", "test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff")
P2_ECHOSTR = "5837397520665436492"

# J1/J2 — JS-SDK (§5.9, §7.7)
J_TICKET = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
J_NONCESTR = "Wm3WZYTPz0wzccnW"
J_TIMESTAMP = 1414587457
J1_URL = "http://mp.weixin.qq.com?params=value"
J1_SIGNATURE = "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
J2_URL = "https://example.com/pay/index.html?order=42&from=menu#/confirm"
J2_SIGNATURE = "65fc2b5419a951afc9f1eda0281ecddea5048485"

# §7.8 negative cases
NEG_SHORT = "AAAAAAAAAAAAAAAAAAAAAA=="
NEG_NOT_BASE64 = "@@@@"
NEG_TRUNCATED = V1_ENCRYPT[:-8]
