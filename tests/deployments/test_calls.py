"""Stage calls: retried once when the replica died, cancelled with their caller."""

from __future__ import annotations

import asyncio

import pytest
from ray.exceptions import ActorDiedError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

from deployments.calls import call_stage
from deployments.errors import OverloadedError, StageUnavailableError


class Response:
    """A DeploymentResponse stand-in: awaitable, cancellable."""

    def __init__(self, outcome, delay: float = 0.0) -> None:
        self.outcome, self.delay, self.cancelled = outcome, delay, False

    def cancel(self) -> None:
        self.cancelled = True

    def __await__(self):
        return self._run().__await__()

    async def _run(self):
        await asyncio.sleep(self.delay)
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def sender(*outcomes, delay: float = 0.0):
    sent: list[Response] = []
    queue = list(outcomes)

    def send() -> Response:
        sent.append(Response(queue.pop(0), delay))
        return sent[-1]

    return send, sent


NO_PAUSE = (0.0, 0.0, 0.0)


def test_a_call_whose_replica_died_is_sent_again() -> None:
    send, sent = sender(ActorDiedError(), ActorDiedError(), "answer")
    assert asyncio.run(call_stage(send, stage="Retriever", pauses_s=NO_PAUSE)) == "answer"
    assert len(sent) == 3


def test_replicas_dying_on_every_attempt_is_stage_unavailable() -> None:
    send, sent = sender(*[ActorDiedError()] * 4, "never")
    with pytest.raises(StageUnavailableError, match="Retriever") as err:
        asyncio.run(call_stage(send, stage="Retriever", pauses_s=NO_PAUSE))
    assert len(sent) == 4 and err.value.headers()["Retry-After"] == "2"


def test_back_pressure_is_overloaded_and_not_retried() -> None:
    send, sent = sender(BackPressureError(num_queued_requests=4, max_queued_requests=4), "x")
    with pytest.raises(OverloadedError, match="Reranker"):
        asyncio.run(call_stage(send, stage="Reranker"))
    assert len(sent) == 1


def test_a_missing_deployment_is_stage_unavailable() -> None:
    send, _ = sender(DeploymentUnavailableError("Reranker"))
    with pytest.raises(StageUnavailableError):
        asyncio.run(call_stage(send, stage="Reranker"))


def test_an_error_of_the_stage_itself_passes_through_unchanged() -> None:
    send, sent = sender(ValueError("bad"))
    with pytest.raises(ValueError, match="bad"):
        asyncio.run(call_stage(send, stage="Reranker"))
    assert len(sent) == 1


def test_cancelling_the_caller_cancels_the_downstream_request() -> None:
    send, sent = sender("late", delay=10.0)

    async def run() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(call_stage(send, stage="Generator"), 0.05)

    asyncio.run(run())
    assert sent[0].cancelled
