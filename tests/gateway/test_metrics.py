"""GatewayMetrics: own registry per instance, names and labels in the exposition."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from weixin_gateway.gateway.metrics import GatewayMetrics


def _samples(metrics: GatewayMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = metrics.render()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def test_render_shows_names_and_labels() -> None:
    metrics = GatewayMetrics()
    metrics.polls_total.labels(outcome="ok").inc()
    metrics.messages_in_total.inc(3)
    metrics.duplicates_dropped_total.labels(reason="content").inc()
    metrics.deliveries_total.labels(mode="callback", outcome="delivered").inc(2)
    metrics.delivery_latency_seconds.observe(0.02)
    metrics.sends_total.labels(outcome="error").inc()
    metrics.send_latency_seconds.observe(1.5)
    metrics.set_accounts(active=2, expired=1)
    metrics.pollers_running.set(2)
    metrics.pending_events.labels(status="pending").set(7)

    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    assert b"# TYPE weixin_gateway_polls_total counter" in body
    samples = _samples(metrics)
    assert samples["weixin_gateway_polls_total", (("outcome", "ok"),)] == 1
    assert samples["weixin_gateway_polls_total", (("outcome", "expired"),)] == 0
    assert samples["weixin_gateway_messages_in_total", ()] == 3
    assert samples["weixin_gateway_duplicates_dropped_total", (("reason", "content"),)] == 1
    key = (("mode", "callback"), ("outcome", "delivered"))
    assert samples["weixin_gateway_deliveries_total", key] == 2
    assert samples["weixin_gateway_delivery_latency_seconds_count", ()] == 1
    assert samples["weixin_gateway_delivery_latency_seconds_bucket", (("le", "0.025"),)] == 1
    assert samples["weixin_gateway_delivery_latency_seconds_bucket", (("le", "0.01"),)] == 0
    assert samples["weixin_gateway_sends_total", (("outcome", "error"),)] == 1
    assert samples["weixin_gateway_send_latency_seconds_sum", ()] == 1.5
    assert samples["weixin_gateway_accounts", (("state", "active"),)] == 2
    assert samples["weixin_gateway_accounts", (("state", "expired"),)] == 1
    assert samples["weixin_gateway_pollers_running", ()] == 2
    assert samples["weixin_gateway_pending_events", (("status", "pending"),)] == 7


def test_instances_are_independent() -> None:
    first, second = GatewayMetrics(), GatewayMetrics()
    first.messages_in_total.inc()
    first.set_accounts(5, 0)
    assert _samples(first)["weixin_gateway_messages_in_total", ()] == 1
    assert _samples(second)["weixin_gateway_messages_in_total", ()] == 0
    assert _samples(second)["weixin_gateway_accounts", (("state", "active"),)] == 0
    assert first.registry is not second.registry
