"""The sink upstream: a separate process that receives what the gateways forward.

``python -m benchmarks.sink --port P [--delay-ms D]``

* ``POST /callback/weixin-gateway`` (the iLink gateway's callback events): the event's text is
  ``b <seq> <ns>`` (``ns``: when the driver's message fell due); the sink notes each arrival's
  seq and time (``CLOCK_MONOTONIC`` is one clock for every process on the machine), the latency
  from ``ns``, duplicates and, per user, whether the sequence numbers arrive in order. It
  answers ``200 {"ok": true}`` after ``--delay-ms``.
* ``POST /msg/<type>`` and ``POST /event/<event>`` (the Official Account gateway's forwards):
  answers ``{"type": "text", "msg": ...}`` after ``--delay-ms``.
* ``GET /stats``: what arrived; ``POST /reset``: forget it.
* ``GET /media``: the events that carried attachments, each with its arrival time (the media
  scenarios wait for these; ``/stats`` counts them as ``unmarked``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from aiohttp import web

__all__ = ["SinkState", "main", "parse_marker"]


def parse_marker(text: str) -> tuple[int, int] | None:
    """``b <seq> <ns>`` → ``(seq, ns)``; ``None`` for any other text."""
    parts = text.split(" ")
    if len(parts) != 3 or parts[0] != "b":
        return None
    try:
        return int(parts[1]), int(parts[2])
    except ValueError:
        return None


class SinkState:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.latencies_ns: list[int] = []
        self.arrivals_ns: list[int] = []
        self.seqs: list[int] = []  # the marker's seq of each arrival, in arrival order
        self.seen: set[int] = set()
        self.duplicates = 0
        self.out_of_order = 0
        self.unmarked = 0
        self.last_seq_by_user: dict[str, int] = {}
        self.forwards = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.media_events: list[dict[str, object]] = []

    def note_media(self, event: dict[str, object], now_ns: int) -> None:
        """Keep an event that carries attachments: its arrival time and what it says of them."""
        attachments = event.get("attachments")
        if not isinstance(attachments, list) or not attachments:
            return
        self.media_events.append(
            {
                "arrival_ns": now_ns,
                "event_id": event.get("event_id"),
                "account_id": event.get("account_id"),
                "user_id": event.get("user_id"),
                "attachments": attachments,
            }
        )

    def note_event(self, event: dict[str, object], now_ns: int) -> None:
        text = event.get("text")
        marker = parse_marker(text) if isinstance(text, str) else None
        if marker is None:
            self.unmarked += 1
            return
        seq, sent_ns = marker
        if seq in self.seen:
            self.duplicates += 1
            return
        self.seen.add(seq)
        self.latencies_ns.append(now_ns - sent_ns)
        self.arrivals_ns.append(now_ns)
        self.seqs.append(seq)
        user = f"{event.get('account_id')}/{event.get('user_id')}"
        last = self.last_seq_by_user.get(user)
        if last is not None and seq < last:
            self.out_of_order += 1
        self.last_seq_by_user[user] = seq

    def view(self) -> dict[str, object]:
        return {
            "received": len(self.latencies_ns),
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "unmarked": self.unmarked,
            "forwards": self.forwards,
            "max_in_flight": self.max_in_flight,
            "latencies_ns": self.latencies_ns,
            "arrivals_ns": self.arrivals_ns,
            "seqs": self.seqs,
        }


def create_app(delay_s: float) -> web.Application:
    state = SinkState()

    async def hold() -> None:
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            if delay_s > 0:
                await asyncio.sleep(delay_s)
        finally:
            state.in_flight -= 1

    async def on_event(request: web.Request) -> web.Response:
        body = await request.read()
        now_ns = time.monotonic_ns()
        event = json.loads(body)
        state.note_event(event, now_ns)
        state.note_media(event, now_ns)
        await hold()
        return web.json_response({"ok": True})

    async def on_forward(request: web.Request) -> web.Response:
        body = await request.read()
        state.forwards += 1
        await hold()
        content = json.loads(body).get("Content", "")
        return web.json_response({"type": "text", "msg": f"echo: {content}"})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(state.view())

    async def media(request: web.Request) -> web.Response:
        return web.json_response({"events": state.media_events})

    async def reset(request: web.Request) -> web.Response:
        state.reset()
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/callback/weixin-gateway", on_event)
    app.router.add_post("/msg/{kind}", on_forward)
    app.router.add_post("/event/{kind}", on_forward)
    app.router.add_get("/stats", stats)
    app.router.add_get("/media", media)
    app.router.add_post("/reset", reset)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    web.run_app(
        create_app(args.delay_ms / 1000),
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
        backlog=2048,
    )


if __name__ == "__main__":
    main()
