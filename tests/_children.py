"""Python child processes released at the same instant, for the cross-process tests."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from pathlib import Path

#: Prepended to every child's code: ``await wait_for_start()`` blocks until the parent says go.
WAIT_FOR_START = """
import asyncio as _asyncio, os as _os, sys as _sys, time as _time

async def wait_for_start() -> None:
    deadline = _time.monotonic() + 20
    while not _os.path.exists(_os.environ["GO_FILE"]):
        if _time.monotonic() > deadline:
            _sys.exit("no start signal")
        await _asyncio.sleep(0.005)
"""


async def run_together(
    child: str, env: Mapping[str, str], tmp_path: Path, *, n: int = 2, timeout: float = 60
) -> list[str]:
    """Run ``n`` copies of ``child``, start them together, and return each one's stdout.

    Every child must exit 0; its stderr is shown when one does not.
    """
    go = tmp_path / "go"
    full_env = {**os.environ, **env, "GO_FILE": str(go)}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WAIT_FOR_START + child,
            env=full_env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(n)
    ]
    try:
        await asyncio.sleep(0.8)  # let every interpreter import and reach wait_for_start()
        go.touch()
        async with asyncio.timeout(timeout):
            outputs = await asyncio.gather(*(p.communicate() for p in procs))
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err.decode()
    return [out.decode().strip() for out, _ in outputs]
