"""The Official Account push scenario at tiny size: every safe-mode push is answered with the
encrypted echo of its own text, at both upstream delays."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.results import write_result
from benchmarks.scenarios import RunContext
from benchmarks.scenarios.oa_push import GH_ID, PushFactory, run

from weixin_gateway.mp.xml import build_xml


async def test_oa_push_tiny(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    result = await run(RunContext("tiny", work))

    assert [(r["upstream"], r["pushers"]) for r in result.rows] == [
        ("0 ms", 4),
        ("0 ms", 16),
        ("50 ms", 16),
    ]
    for row, data in zip(result.rows, result.data.values(), strict=True):
        assert row["errors"] == 0, data  # every reply decrypted and echoed its own push
        assert row["pushes"] == data["offered"] == data["answered"] > 0
        assert row["req/s"] > 0
        assert 0 < row["p50 ms"] <= row["p95 ms"] <= row["p99 ms"] <= row["max ms"]
        assert row["gateway CPU µs/push"] > 0
    slow = result.rows[-1]
    assert slow["p50 ms"] >= 50  # the slow upstream really took its 50 ms
    assert set(result.cpu) == set(result.data)
    procs = {"gateway", "driver", "sink-0ms", "sink-50ms"}
    assert all(procs <= set(cpu) for cpu in result.cpu.values())
    assert [t.met for t in result.targets] == [None, None, True]  # a tiny run claims no rate

    out = tmp_path / "out"
    paths = write_result(result, out)
    assert json.loads((out / "oa-push.json").read_text())["rows"] == result.rows
    for plot in ("throughput", "latency"):
        assert (out / f"oa-push-{plot}.png") in paths
        assert (out / f"oa-push-{plot}.png").stat().st_size > 0


def test_the_check_refuses_anything_but_the_encrypted_echo() -> None:
    factory = PushFactory(port=1)
    push = factory.build("/wx")
    crypto = factory.crypto

    def sealed(content: str, to_user: str = push.openid) -> bytes:
        reply = build_xml(
            {
                "ToUserName": to_user,
                "FromUserName": GH_ID,
                "CreateTime": 1,
                "MsgType": "text",
                "Content": content,
            }
        )
        return crypto.seal(reply, timestamp="1", nonce="n").encode()

    assert factory.check(push, 200, sealed(f"echo: {push.content}")) is None
    assert factory.check(push, 200, sealed("echo: something else")) == (
        "reply does not echo the push"
    )
    assert factory.check(push, 200, sealed(f"echo: {push.content}", to_user="o_other")) == (
        "reply not addressed to the pushing user"
    )
    assert factory.check(push, 200, b"success") == "bad reply: XmlError"
    assert factory.check(push, 503, b"server busy\n") == "HTTP 503"
    tampered = sealed(f"echo: {push.content}").replace(b"<Nonce><![CDATA[n", b"<Nonce><![CDATA[m")
    assert factory.check(push, 200, tampered) == "bad reply: SignatureError"
