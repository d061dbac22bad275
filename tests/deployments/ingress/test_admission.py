"""The edge's admission books: admit, degrade or shed from the estimated latency."""

from __future__ import annotations

import pytest

from deployments.ingress.admission import Admission
from deployments.ingress.config import AdmissionConfig


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def books(**cfg) -> tuple[Admission, Clock]:
    clock = Clock()
    return Admission(AdmissionConfig(**cfg), clock=clock), clock


def measure(b: Admission, clock: Clock, route: str, plan_name: str, latency: float) -> None:
    plan = next(p for p in b.plans if p.name == plan_name)
    ticket = b.start(route, plan)
    clock.now += latency
    b.done(ticket)


def test_before_anything_is_measured_only_the_backstop_bounds_admission() -> None:
    b, _ = books(max_in_flight=3)
    tickets = []
    for _ in range(3):
        decision = b.decide("query", budget_s=30)
        assert decision.plan is not None and decision.plan.name == "full"
        tickets.append(b.start("query", decision.plan))
    shed = b.decide("query", budget_s=30)
    assert shed.plan is None and shed.retry_after_s >= 1.0


def test_an_idle_graph_measures_the_demand_of_one_query() -> None:
    b, clock = books()
    measure(b, clock, "query", "full", 0.25)
    assert b.demand("query", b.plans[0]) == pytest.approx(0.25)
    assert b.in_flight == 0 and b.load_s == 0.0


def test_queries_in_flight_raise_the_estimate_then_degrade_then_shed() -> None:
    b, clock = books(latency_objective_s=1.1, prior_cost_ratios={"shallow": 0.5, "light": 0.1})
    measure(b, clock, "query", "full", 0.3)
    names = []
    for _ in range(12):
        decision = b.decide("query", budget_s=30)
        names.append(decision.plan.name if decision.plan else "shed")
        if decision.plan:
            b.start("query", decision.plan)
    # 0.3 s each: three full queries fit 1.1 s (0.6 + 0.3), a shallow one (0.15) fits
    # after them, a light one (0.03) after that, then nothing fits.
    assert names[:6] == ["full", "full", "full", "shallow", "light", "shed"]
    assert set(names[6:]) == {"shed"}


def test_a_short_deadline_degrades_where_a_long_one_does_not() -> None:
    b, clock = books(latency_objective_s=5.0, prior_cost_ratios={"shallow": 0.5, "light": 0.2})
    measure(b, clock, "query", "full", 1.0)
    b.start("query", b.plans[0])  # one full query in flight: a new full one ~2 s
    assert b.decide("query", budget_s=10).plan.name == "full"
    assert b.decide("query", budget_s=1.6).plan.name == "shallow"
    assert b.decide("query", budget_s=1.3).plan.name == "light"
    assert b.decide("query", budget_s=0.5).plan is None


def test_without_degradation_the_ladder_is_the_full_plan_only() -> None:
    b, clock = books(latency_objective_s=1.0, degrade=False)
    measure(b, clock, "query", "full", 0.6)
    b.start("query", b.plans[0])
    assert b.decide("query", budget_s=30).plan is None


def test_an_idle_replica_never_sheds_even_when_its_estimate_is_stale() -> None:
    b, clock = books(latency_objective_s=1.0)
    measure(b, clock, "query", "full", 50.0)  # measured in a bad minute
    decision = b.decide("query", budget_s=30)
    assert decision.plan is not None and decision.plan.name == "light"


def test_each_route_has_its_own_demand() -> None:
    b, clock = books()
    measure(b, clock, "query", "full", 0.8)
    measure(b, clock, "search", "full", 0.1)
    assert b.demand("query", b.plans[0]) > b.demand("search", b.plans[0])


def test_a_failed_query_leaves_the_books_but_teaches_nothing() -> None:
    b, clock = books()
    measure(b, clock, "query", "full", 0.2)
    ticket = b.start("query", b.plans[0])
    clock.now += 9.0
    b.done(ticket, measured=False)
    assert b.demand("query", b.plans[0]) == pytest.approx(0.2)
    assert b.in_flight == 0


def test_retry_after_grows_while_the_crowd_outruns_admissions_then_shrinks() -> None:
    b, clock = books(max_in_flight=1, max_retry_after_s=20)
    b.start("query", b.plans[0])  # the one slot is taken: everything else is shed
    first = b.decide("query", budget_s=30).retry_after_s
    for _ in range(10):  # ten seconds of 50 arrivals/s, none admitted
        for _ in range(50):
            b.decide("query", budget_s=30)
        clock.now += 1.0
    crowded = b.decide("query", budget_s=30).retry_after_s
    assert first == 1.0 and crowded == 20.0  # doubled each second, up to the maximum
    b.in_flight, b.load_s = 0, 0.0
    for _ in range(10):  # a quiet spell: every arrival admitted (and done)
        ticket = b.start("query", b.decide("query", budget_s=30).plan)
        b.done(ticket, measured=False)
        clock.now += 1.0
    assert b.retry_after < crowded / 4


def test_by_default_the_objective_is_three_times_the_latency_alone() -> None:
    b, clock = books()  # latency_objective_s None, objective_factor 3
    assert b.objective_s("query") == float("inf")  # unmeasured: only the backstop holds
    measure(b, clock, "query", "full", 0.2)
    assert b.objective_s("query") == pytest.approx(0.6)
    assert b.objective_s("search") == float("inf")  # each route its own
    # An LLM route that takes 5 s alone is not shed for taking 5 s.
    measure(b, clock, "search", "full", 5.0)
    assert b.decide("search", budget_s=30).plan.name == "full"


def test_only_queries_run_alone_set_the_objective() -> None:
    b, clock = books()
    measure(b, clock, "query", "full", 0.2)
    busy = b.start("query", b.plans[0])
    measure(b, clock, "query", "full", 3.0)  # started with one in flight: not alone
    b.done(busy, measured=False)
    assert b.objective_s("query") == pytest.approx(0.6)


def test_a_reply_that_waited_out_a_restart_does_not_shed_the_healed_graph() -> None:
    b, clock = books(latency_objective_s=1.0)
    measure(b, clock, "query", "full", 0.2)
    for _ in range(3):  # three replies stalled 12 s behind a Retriever restart
        measure(b, clock, "query", "full", 12.0)
    assert b.demand("query", b.plans[0]) < 0.5
    b.start("query", b.plans[0])  # one in flight: a second full query still fits 1 s
    assert b.decide("query", budget_s=30).plan.name == "full"


def test_a_few_refusals_a_second_keep_retry_after_short() -> None:
    b, clock = books(max_in_flight=1, steer_from_sheds_per_s=20)
    b.start("query", b.plans[0])
    for _ in range(10):  # a fault's handful of clients: 12 refusals a second
        for _ in range(12):
            b.decide("query", budget_s=30)
        clock.now += 1.0
    assert b.decide("query", budget_s=30).retry_after_s == 1.0
