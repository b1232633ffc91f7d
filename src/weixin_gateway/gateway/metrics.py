"""The gateway service's Prometheus metrics, on a registry of their own.

Each :class:`GatewayMetrics` owns its :class:`~prometheus_client.CollectorRegistry`, so several
gateways in one process (tests) never clash and nothing is global. Names start with
``weixin_gateway_``; no metric has a per-account label (cardinality). Label values:

* ``polls_total{outcome}`` — ok, empty, error, expired
* ``duplicates_dropped_total{reason}`` — message_id, content
* ``deliveries_total{mode,outcome}`` — callback: delivered, retry, dead;
  inbox: claimed, completed, failed, dead
* ``sends_total{outcome}`` — ok, error
* ``accounts{state}`` — active, expired (see :meth:`GatewayMetrics.set_accounts`)
* ``pending_events{status}`` — the event store's statuses

The known label combinations are created up front, so they are exported as 0 before first use.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["LATENCY_BUCKETS", "GatewayMetrics"]

# Seconds, from 1 ms to 60 s.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)

_PREFIX = "weixin_gateway_"


class GatewayMetrics:
    """The gateway's counters, gauges and histograms; :meth:`render` exports them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.polls_total = Counter(
            _PREFIX + "polls_total", "getUpdates long-polls by outcome.", ["outcome"], registry=reg
        )
        self.messages_in_total = Counter(
            _PREFIX + "messages_in_total", "Inbound messages stored.", registry=reg
        )
        self.duplicates_dropped_total = Counter(
            _PREFIX + "duplicates_dropped_total",
            "Inbound messages dropped as re-deliveries.",
            ["reason"],
            registry=reg,
        )
        self.deliveries_total = Counter(
            _PREFIX + "deliveries_total",
            "Event deliveries to the upstream by mode and outcome.",
            ["mode", "outcome"],
            registry=reg,
        )
        self.delivery_latency_seconds = Histogram(
            _PREFIX + "delivery_latency_seconds",
            "From an event being stored to the upstream's 2xx.",
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.sends_total = Counter(
            _PREFIX + "sends_total", "Outbound sends by outcome.", ["outcome"], registry=reg
        )
        self.send_latency_seconds = Histogram(
            _PREFIX + "send_latency_seconds",
            "Duration of an outbound send.",
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.accounts = Gauge(
            _PREFIX + "accounts", "Logged-in accounts by state.", ["state"], registry=reg
        )
        self.pollers_running = Gauge(
            _PREFIX + "pollers_running", "Pollers currently running.", registry=reg
        )
        self.pending_events = Gauge(
            _PREFIX + "pending_events", "Undelivered events by status.", ["status"], registry=reg
        )

        #: ``polls_total`` by outcome, looked up once (``labels()`` was 3 % of an idle
        #: gateway's CPU with 10,000 accounts)
        self.polls = {
            outcome: self.polls_total.labels(outcome)
            for outcome in ("ok", "empty", "error", "expired")
        }
        for reason in ("message_id", "content"):
            self.duplicates_dropped_total.labels(reason)
        for outcome in ("delivered", "retry", "dead"):
            self.deliveries_total.labels("callback", outcome)
        for outcome in ("claimed", "completed", "failed", "dead"):
            self.deliveries_total.labels("inbox", outcome)
        for outcome in ("ok", "error"):
            self.sends_total.labels(outcome)
        self.set_accounts(0, 0)

    def set_accounts(self, active: int, expired: int) -> None:
        """Set the ``accounts`` gauge for both states."""
        self.accounts.labels("active").set(active)
        self.accounts.labels("expired").set(expired)

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type, for a ``/metrics`` response."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
