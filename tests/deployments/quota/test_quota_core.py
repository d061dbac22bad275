"""The Quota stage's token buckets on a fake clock, and its Serve shim without Ray."""

from __future__ import annotations

import asyncio

import pytest

from deployments.errors import ConfigError
from deployments.quota.config import check_quota_replicas
from deployments.quota.core import Limits, QuotaBook
from deployments.quota.deployment import Quota

QuotaImpl = Quota.func_or_class


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_new_key_gets_one_minute_of_requests_as_a_burst(clock: Clock) -> None:
    book = QuotaBook(clock=clock)
    limits = Limits(requests_per_min=60)
    assert [book.admit("k", limits) for _ in range(60)] == [0.0] * 60
    assert book.admit("k", limits) == pytest.approx(1.0)  # 60/min: one per second


def test_requests_refill_continuously_and_retry_after_shrinks(clock: Clock) -> None:
    book = QuotaBook(clock=clock)
    limits = Limits(requests_per_min=60)
    for _ in range(60):
        book.admit("k", limits)
    clock.now += 0.25
    assert book.admit("k", limits) == pytest.approx(0.75)
    clock.now += 0.75
    assert book.admit("k", limits) == 0.0
    assert book.admit("k", limits) == pytest.approx(1.0)
    clock.now += 3600  # the bucket caps at one minute's budget
    assert sum(book.admit("k", limits) == 0.0 for _ in range(100)) == 60


def test_a_refused_request_costs_nothing(clock: Clock) -> None:
    book = QuotaBook(clock=clock)
    limits = Limits(requests_per_min=1)
    assert book.admit("k", limits) == 0.0
    for _ in range(5):
        assert book.admit("k", limits) == pytest.approx(60.0)
    clock.now += 60
    assert book.admit("k", limits) == 0.0


def test_the_token_charge_can_go_negative_and_refuses_until_it_refills(clock: Clock) -> None:
    book = QuotaBook(clock=clock)
    limits = Limits(requests_per_min=100, tokens_per_min=600)  # 10 tokens/s
    assert book.admit("k", limits) == 0.0
    assert book.charge("k", 700, limits) == pytest.approx(-100.0)
    assert book.admit("k", limits) == pytest.approx(10.0)  # -100 tokens at 10/s
    clock.now += 4
    assert book.admit("k", limits) == pytest.approx(6.0)
    clock.now += 6
    assert book.admit("k", limits) == 0.0


def test_the_wait_is_the_longer_of_the_two_buckets(clock: Clock) -> None:
    book = QuotaBook(clock=clock)
    limits = Limits(requests_per_min=1, tokens_per_min=60)  # 1 request/min, 1 token/s
    assert book.admit("k", limits) == 0.0
    book.charge("k", 80, limits)  # 60 - 80 = -20 tokens: 20 s
    assert book.admit("k", limits) == pytest.approx(60.0)  # the request bucket: 60 s
    clock.now += 59
    assert book.admit("k", limits) == pytest.approx(1.0)


def test_keys_and_unlimited_budgets_are_independent(clock: Clock) -> None:
    book = QuotaBook(clock=clock)
    one = Limits(requests_per_min=1)
    assert book.admit("a", one) == 0.0
    assert book.admit("a", one) > 0
    assert book.admit("b", one) == 0.0
    assert all(book.admit("c", Limits()) == 0.0 for _ in range(1000))
    assert book.charge("c", 10_000, Limits()) == 0.0  # no token limit: nothing to charge
    assert len(book) == 2  # unlimited keys keep no state


def test_several_replicas_share_one_budget(clock: Clock) -> None:
    """Three Ingress replicas calling one Quota: the key's 10/min holds in total."""
    quota = QuotaImpl(book=QuotaBook(clock=clock))
    limits = (10, 1000)

    async def replica(n: int) -> list[float]:
        return [await quota.admit("shared", *limits) for _ in range(n)]

    async def all_replicas() -> list[list[float]]:
        return await asyncio.gather(replica(5), replica(5), replica(5))

    waits = [w for r in asyncio.run(all_replicas()) for w in r]
    assert waits.count(0.0) == 10
    assert all(w == pytest.approx(6.0) for w in waits if w)  # 10/min: one per 6 s
    assert asyncio.run(quota.charge("shared", 1500, *limits)) == pytest.approx(-500.0)
    clock.now += 6
    assert asyncio.run(quota.admit("shared", *limits)) == pytest.approx(24.0)  # tokens owe


def test_a_full_book_forgets_refilled_keys_first(clock: Clock) -> None:
    book = QuotaBook(clock=clock, max_tracked_keys=2)
    limits = Limits(requests_per_min=1)
    book.admit("old", limits)
    clock.now += 30
    book.admit("new", limits)
    clock.now += 31  # "old" has refilled, "new" has not
    book.admit("third", limits)
    assert len(book) == 2
    assert book.admit("new", limits) > 0  # still remembered: still spent


def test_limits_that_admit_nothing_are_refused() -> None:
    with pytest.raises(ValueError, match="requests_per_min=0.5 admits no request"):
        Limits(requests_per_min=0.5)
    with pytest.raises(ValueError, match="tokens_per_min=0"):
        Limits(tokens_per_min=0)


def test_the_quota_deployment_must_not_scale() -> None:
    check_quota_replicas({"deployments": [{"name": "Quota", "num_replicas": 1}]})
    for options in ({"num_replicas": 2}, {"num_replicas": "auto"}, {"autoscaling_config": {}}):
        with pytest.raises(ConfigError, match="must run one replica"):
            check_quota_replicas({"deployments": [{"name": "Quota", **options}]})


def test_a_bad_config_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="invalid quota config"):
        QuotaImpl({"max_tracked_keys": 0})


def test_deployment_options() -> None:
    assert Quota.name == "Quota"
    assert Quota.num_replicas == 1
    assert Quota.max_ongoing_requests >= 1000
    assert Quota.ray_actor_options["num_cpus"] <= 0.05
