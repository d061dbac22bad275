"""Fake stage handles for the ingress's HTTP tests (no Ray): the ``method.remote(...)``
shape of a Serve handle, answering from a function and recording what they were sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deployments.ingress.api import create_api
from deployments.ingress.config import IngressConfig
from deployments.ingress.routes import Backends
from deployments.types import Answer, Delta, Hit, IngestResult, Retrieval

HIT = Hit("d1#0000", "d1", "T", "text one", 0.9, {"hybrid": 0.03, "rerank": 0.9})


class FakeMethod:
    """``remote(*args)`` records ``args[:keep]`` and returns a coroutine of ``fn`` on them.

    Args:
        fn: Computes the reply (or raises, as a stage would).
        keep: How many leading arguments reach ``fn`` and ``calls`` (the supervisor's
            methods also get a deadline and a plan, which test_ingress_deadlines covers).
    """

    def __init__(self, fn: Callable[..., Any], keep: int | None = None) -> None:
        self.fn = fn
        self.keep = keep
        self.calls: list[tuple] = []

    def remote(self, *args: Any):
        args = args[: self.keep] if self.keep is not None else args
        self.calls.append(args)

        async def run():
            return self.fn(*args)

        return run()


def _answer(query: str, top_k: int) -> Answer:
    return Answer(
        "an answer [1]",
        [HIT],
        "extractive",
        "simple",
        {"rewrite": 1.0, "retrieve": 2.0, "rerank": 3.0, "generate": 4.0},
        stages=("rewrite", "retrieve", "rerank", "generate"),
    )


def _retrieval(query: str, top_k: int) -> Retrieval:
    return Retrieval(
        [HIT], "comparative", {"rewrite": 1.0, "total": 5.0}, stages=("retrieve_each",)
    )


class FakeStream:
    """A ``DeploymentResponseGenerator`` stand-in over ``items`` (an exception is raised
    where it stands)."""

    def __init__(self, items: list[Any]) -> None:
        self.items, self.cancelled = list(items), False

    def __aiter__(self):
        return self

    async def __anext__(self):
        if not self.items:
            raise StopAsyncIteration
        item = self.items.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    def cancel(self) -> None:
        self.cancelled = True


class FakeSupervisor:
    """``answer`` and ``search`` on (query, top_k); ``fn`` replaces ``answer``'s reply;
    ``options(stream=True).answer_stream.remote(...)`` streams the answer word by word."""

    def __init__(self, fn: Callable[[str, int], Answer] | None = None) -> None:
        self.answer = FakeMethod(fn or _answer, keep=2)
        self.search = FakeMethod(_retrieval, keep=2)
        self.answer_stream = self  # options(stream=True).answer_stream.remote(...)
        self.stream_calls: list[tuple] = []

    def options(self, **kwargs: Any) -> FakeSupervisor:
        assert kwargs == {"stream": True}
        return self

    def remote(self, query: str, top_k: int, *rest: Any) -> FakeStream:
        self.stream_calls.append((query, top_k, *rest))
        answer = self.answer.fn(query, top_k)
        words = answer.answer.split(" ")
        pieces = [Delta(w if i == 0 else " " + w) for i, w in enumerate(words)]
        return FakeStream([*pieces, answer])


class FakeIngester:
    """``ingest`` stores every document (``fn`` replaces the reply)."""

    def __init__(self, fn: Callable[[list], IngestResult] | None = None) -> None:
        self.ingest = FakeMethod(
            fn or (lambda docs: IngestResult(len(docs), 0, len(docs), [d.doc_id for d in docs]))
        )


async def ready() -> tuple[bool, dict[str, str]]:
    return True, {"Ingress": "HEALTHY"}


def fake_api(
    supervisor: Any = None,
    ingester: Any = None,
    readiness: Callable = ready,
    config: IngressConfig | None = None,
):
    """The ingress app over fakes (a fresh :class:`FakeSupervisor` and
    :class:`FakeIngester` unless given)."""
    backends = Backends(supervisor or FakeSupervisor(), ingester or FakeIngester(), readiness)
    return create_api(backends, config)
