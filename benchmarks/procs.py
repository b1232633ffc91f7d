"""Child processes of a benchmark: start, wait until they answer, measure, stop.

Each process is measured from ``/proc``: CPU seconds (user + system), RSS, peak RSS and open file
descriptors. CPU is read at two points and the difference divided by the wall time between them,
so a process's share of the two cores is reported per phase, not since it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

__all__ = [
    "HOST",
    "CpuWindow",
    "Proc",
    "ProcGroup",
    "free_port",
    "gateway_command",
    "python_module",
    "wait_until_up",
]

HOST = "127.0.0.1"
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
#: the checkout: children import ``benchmarks`` from here whatever their working directory
REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def gateway_command(*args: str) -> list[str]:
    """``weixin-gateway ARGS`` run by this interpreter (no reliance on PATH)."""
    return python_module("weixin_gateway", *args)


@dataclass
class Proc:
    """One child process and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the process so far (its threads included)."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return 0.0
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS

    def _status(self, key: str) -> int:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def rss_bytes(self) -> int:
        try:
            pages = int(Path(f"/proc/{self.pid}/statm").read_text().split()[1])
        except OSError:
            return 0
        return pages * _PAGE

    def peak_rss_bytes(self) -> int:
        return self._status("VmHWM")

    def reset_peak_rss(self) -> bool:
        """Reset ``VmHWM`` to the current RSS (Linux ≥ 4.0), so the next peak is this phase's;
        False if refused."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def open_fds(self) -> int:
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return 0

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        if not self.alive():
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)


@dataclass
class CpuWindow:
    """CPU used by each process between :meth:`start` and :meth:`stop`."""

    procs: Sequence[Proc]
    started: float = 0.0
    wall_s: float = 0.0
    _begin: dict[str, float] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)

    def start(self) -> CpuWindow:
        self.started = time.monotonic()
        self._begin = {p.name: p.cpu_seconds() for p in self.procs}
        self._begin["driver"] = time.process_time()
        return self

    def stop(self) -> CpuWindow:
        self.wall_s = time.monotonic() - self.started
        self.cpu_s = {p.name: p.cpu_seconds() - self._begin[p.name] for p in self.procs}
        self.cpu_s["driver"] = time.process_time() - self._begin["driver"]
        return self

    def percent(self) -> dict[str, float]:
        """Each process's CPU as a percentage of one core over the window (200 = both cores)."""
        wall = self.wall_s or 1e-9
        return {name: round(100 * used / wall, 1) for name, used in self.cpu_s.items()}


class ProcGroup:
    """The processes of one benchmark run; all of them are stopped on exit, even on error."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.procs: list[Proc] = []

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Proc:
        log_path = self.work_dir / f"{name}.log"
        path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path, **(env or {})}
        log = log_path.open("wb")
        popen = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            list(argv), stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=self.work_dir
        )
        log.close()
        proc = Proc(name, popen, log_path)
        self.procs.append(proc)
        return proc

    def __enter__(self) -> ProcGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):
                proc.stop()

    def cpu_window(self) -> CpuWindow:
        return CpuWindow(list(self.procs))

    def __iter__(self) -> Iterator[Proc]:
        return iter(self.procs)


async def wait_until_up(proc: Proc, url: str, timeout: float = 30.0) -> None:
    """Wait until ``url`` answers (any status); fail with the process's log if it died."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited early:\n{proc.log_tail()}")
            try:
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                    await response.read()
                    return
            except (aiohttp.ClientError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{proc.name} did not answer {url}:\n{proc.log_tail()}")
            await asyncio.sleep(0.05)
