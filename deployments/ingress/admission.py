"""Admission control at the edge: serve fully, degrade, or shed, from the estimated wait.

Each query costs the graph some *demand*: seconds of the graph's time it takes when it
shares the graph with the others in flight. A reply that took ``latency`` seconds while
the demand already in flight was ``load`` (its own being ``d``) spent ``d / (load + d)``
of that time on itself, so ``latency * d / (load + d)`` is one observation of ``d``; with
one plan that is Little's law, ``latency / (requests in flight + 1)``. The estimated
latency of a new query under a plan is then ``load + d(plan)``.

A query is admitted under the first plan of the ladder (full graph first, cheaper ones
after) whose estimate fits both the latency objective and the query's own deadline. The
objective is configured, or (default) three times the latency the route has when a
query runs alone, as measured here: admitted queries then stay within 3x what a lone
user sees, whatever the generator costs. When
not even the cheapest plan fits, or ``max_in_flight`` queries are already in, it is shed:
503 ``overloaded`` with a ``Retry-After`` steered so that the crowd's arrivals come down to
what the graph admits (each second: times arrivals / (1.5 x admissions), within 1 s ..
``max_retry_after_s``, once refusals pass ``steer_from_sheds_per_s``): clients that honour
it stop hammering the edge, whose every refusal also costs CPU the admitted queries need.
A reply that waited out a fault (a replica's restart, a store outage) measured a stall, not
a cost: one observation at most doubles a plan's demand, so a healed graph is not shed.

Each Ingress replica keeps its own books; the demand it measures already includes the
load other replicas put on the stages, so the estimates stay right when it scales out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from deployments.ingress.config import AdmissionConfig
from deployments.types import Plan

_ALPHA = 0.2  # EWMA weight of the newest demand observation
# One observation may at most double a demand: a reply that waited out a replica's restart
# or a store outage measured a stall, not what the query costs, and letting it in whole
# would shed healthy traffic for long after the fault healed. Real growth still shows, at
# up to +20% per reply.
_MAX_RISE = 2.0


@dataclass(frozen=True)
class Decision:
    """What to do with one query."""

    plan: Plan | None  # None: shed
    estimate_s: float
    retry_after_s: float = 0.0


@dataclass
class Ticket:
    """One admitted query's place in the books; give it back with :meth:`Admission.done`."""

    key: str
    demand_s: float
    load_s: float
    in_flight: int
    started: float


def plan_ladder(cfg: AdmissionConfig) -> tuple[Plan, ...]:
    """The plans, most work first: full; a shallow rerank; no rerank, extractive answer.

    >>> [p.name for p in plan_ladder(AdmissionConfig())]
    ['full', 'shallow', 'light']
    >>> [p.name for p in plan_ladder(AdmissionConfig(degrade=False))]
    ['full']
    """
    full = Plan()
    if not cfg.degrade:
        return (full,)
    return (
        full,
        Plan("shallow", rerank_depth=cfg.shallow_rerank_depth),
        Plan("light", rerank=False, extractive=True),
    )


class Admission:
    """The books of one Ingress replica: demand per (route, plan), load in flight.

    Args:
        cfg: Objective, backstop and ladder settings.
        clock: Monotonic seconds (injected by tests).

    >>> books = Admission(AdmissionConfig(latency_objective_s=1.0, max_in_flight=8))
    >>> d = books.decide("query", budget_s=30.0)
    >>> d.plan.name, d.estimate_s  # nothing measured yet: admit, bounded by max_in_flight
    ('full', 0.0)
    """

    def __init__(self, cfg: AdmissionConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.plans = plan_ladder(cfg)
        self._clock = clock
        self._demand: dict[str, float] = {}
        self._alone: dict[str, float] = {}  # route -> latency of a full query run alone (low)
        self.load_s = 0.0
        self.in_flight = 0
        self.retry_after = 1.0
        self._window = (clock(), 0, 0)  # (start, arrivals, admissions) of this second

    def demand(self, route: str, plan: Plan) -> float:
        """Estimated demand of one query (0 until the route has been measured); a plan
        not measured yet is priced from the full plan by its prior cost ratio."""
        own = self._demand.get(f"{route}/{plan.name}")
        if own is not None:
            return own
        full = self._demand.get(f"{route}/full", 0.0)
        return full * self.cfg.prior_cost_ratios.get(plan.name, 1.0)

    def decide(self, route: str, budget_s: float) -> Decision:
        """Admit ``route``'s query under the first plan that fits, or shed it.

        Args:
            route: The kind of query (``query``, ``search``): each has its own demand.
            budget_s: Seconds left before the query's deadline.
        """
        plan, estimate = self._pick(route, budget_s)
        self._count(admitted=plan is not None)
        if plan is None:
            return Decision(None, estimate, round(self.retry_after, 3))
        return Decision(plan, estimate)

    def _pick(self, route: str, budget_s: float) -> tuple[Plan | None, float]:
        limit = min(self.objective_s(route), budget_s)
        estimate = 0.0
        if self.in_flight < self.cfg.max_in_flight:
            for plan in self.plans:
                estimate = self.load_s + self.demand(route, plan)
                if estimate <= limit:
                    return plan, estimate
            if self.in_flight == 0:
                # Idle: the estimate is a guess from older, busier times, and refusing
                # here would leave no reply to correct it; serve the cheapest plan.
                return self.plans[-1], estimate
        return None, estimate

    def objective_s(self, route: str) -> float:
        """The latency ``route``'s queries are admitted within: the configured objective,
        or ``objective_factor`` x its latency alone (unbounded until measured).

        >>> books = Admission(AdmissionConfig())
        >>> books.objective_s("query")
        inf
        >>> books._alone["query"] = 0.1; books.objective_s("query")
        0.30000000000000004
        """
        if self.cfg.latency_objective_s is not None:
            return self.cfg.latency_objective_s
        alone = self._alone.get(route)
        return math.inf if alone is None else self.cfg.objective_factor * alone

    def _count(self, *, admitted: bool) -> None:
        """Count an arrival (admitted or not); once a second, steer ``retry_after``.

        >>> clock = [0.0]
        >>> books = Admission(AdmissionConfig(max_retry_after_s=60), clock=lambda: clock[0])
        >>> for _ in range(30): books._count(admitted=False)  # 30 arrivals, none admitted
        >>> clock[0] = 1.0; books._count(admitted=False); books.retry_after
        2.0
        """
        start, arrivals, admissions = self._window
        now = self._clock()
        if now - start >= 1.0:
            if arrivals:
                # Arrivals above 1.5x what is admitted: ask the crowd to wait longer (at
                # most twice as long each second); below it, shorten the wait. A few
                # refusals a second cost the edge nothing worth steering for (a fault's
                # few clients then keep a short wait and get in within their deadline).
                factor = arrivals / (1.5 * max(admissions, 1))
                if arrivals - admissions < self.cfg.steer_from_sheds_per_s:
                    factor = min(factor, 0.5)
                factor = min(2.0, max(0.5, factor))
                self.retry_after = min(
                    self.cfg.max_retry_after_s, max(1.0, self.retry_after * factor)
                )
            start, arrivals, admissions = now, 0, 0
        self._window = (start, arrivals + 1, admissions + admitted)

    def start(self, route: str, plan: Plan) -> Ticket:
        """Enter an admitted query into the books."""
        demand = self.demand(route, plan)
        ticket = Ticket(f"{route}/{plan.name}", demand, self.load_s, self.in_flight, self._clock())
        self.load_s += demand
        self.in_flight += 1
        return ticket

    def done(self, ticket: Ticket, *, measured: bool = True) -> None:
        """Take a finished query out of the books; ``measured`` (it ran to an answer)
        updates its plan's demand from its latency.

        >>> books = Admission(AdmissionConfig())
        >>> t = books.start("query", books.plans[0]); books._clock = lambda: t.started + 0.2
        >>> books.done(t); round(books.demand("query", books.plans[0]), 3)
        0.2
        """
        self.in_flight -= 1
        self.load_s = max(0.0, self.load_s - ticket.demand_s) if self.in_flight else 0.0
        if not measured:
            return
        latency = max(0.0, self._clock() - ticket.started)
        if ticket.demand_s > 0:
            share = ticket.demand_s / (ticket.load_s + ticket.demand_s)
        else:  # nothing measured when it started: count it as one of the queries in flight
            share = 1.0 / (ticket.in_flight + 1)
        observed = latency * share
        _ewma(self._demand, ticket.key, observed)
        route, _, plan = ticket.key.partition("/")
        if ticket.in_flight == 0 and plan == "full":
            _low_watermark(self._alone, route, latency)


def _low_watermark(table: dict[str, float], key: str, value: float) -> None:
    """Track the latency of a query run alone: its lowest value, drifting up 2% per higher
    sample. "Alone" is alone on this replica only; while other replicas are busy such a
    sample is slower, and an average would let the objective climb with the load.

    >>> t = {}
    >>> for v in (0.2, 0.15, 0.9, 0.9): _low_watermark(t, "q", v)
    >>> round(t["q"], 4)
    0.1561
    """
    old = table.get(key)
    table[key] = value if old is None or value < old else old * 1.02


def _ewma(table: dict[str, float], key: str, value: float) -> None:
    """Move ``table[key]`` a fifth of the way to ``value``, which counts as at most twice
    the old value (a stall is not a cost).

    >>> t = {"q": 0.2}
    >>> _ewma(t, "q", 30.0); round(t["q"], 3)  # a reply that waited out a restart
    0.24
    >>> _ewma(t, "q", 0.1); round(t["q"], 3)
    0.212
    """
    old = table.get(key)
    if old is None:
        table[key] = value
        return
    table[key] = old + _ALPHA * (min(value, _MAX_RISE * old) - old)
