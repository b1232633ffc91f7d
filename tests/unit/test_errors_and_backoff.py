from __future__ import annotations

import random

import pytest

from weixin_gateway import errors
from weixin_gateway._backoff import PollBackoffConfig, full_jitter_delay, poll_failure_delay
from weixin_gateway._clock import FakeClock


def test_network_and_decode_errors_are_not_api_errors() -> None:
    for cls in (errors.NetworkError, errors.RequestTimeoutError, errors.HttpStatusError,
                errors.DecodeError, errors.TransportError):  # fmt: skip
        assert not issubclass(cls, errors.ApiError)
        assert issubclass(cls, errors.WeixinError)
    assert issubclass(errors.SessionExpiredError, errors.ApiError)
    assert issubclass(errors.SendRejectedError, errors.ApiError)
    assert not issubclass(errors.DecodeError, errors.TransportError)


def test_every_public_error_is_drawn_in_the_module_docstring() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        assert name in doc, name


def test_missing_extra_names_the_extra() -> None:
    err = errors.MissingExtraError("voice transcoding", "voice", "silk-python")
    assert "pip install 'weixin-gateway[voice]'" in str(err)


def test_official_poll_backoff_schedule() -> None:
    cfg = PollBackoffConfig()
    failures, delays = 0, []
    for _ in range(7):
        failures += 1
        delay, failures = poll_failure_delay(cfg, failures)
        delays.append(delay)
    assert delays == [2.0, 2.0, 30.0, 2.0, 2.0, 30.0, 2.0]


@pytest.mark.parametrize("attempt", [0, 1, 5, 30])
def test_full_jitter_stays_within_cap(attempt: int) -> None:
    rng = random.Random(attempt)
    for _ in range(100):
        delay = full_jitter_delay(attempt, base=0.5, cap=60.0, rng=rng)
        assert 0.0 <= delay <= min(60.0, 0.5 * 2**attempt)


async def test_fake_clock_records_sleeps() -> None:
    clock = FakeClock()
    start = clock.monotonic()
    await clock.sleep(2)
    await clock.sleep(30)
    assert clock.sleeps == [2, 30]
    assert clock.monotonic() - start == 32
