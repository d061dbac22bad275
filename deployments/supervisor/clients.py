"""How the supervisor calls a stage: through a deployment handle, or in process."""

from __future__ import annotations

from typing import Any

from ray.serve.handle import DeploymentHandle

from deployments.calls import call_stage


class _Remote:
    """Exposes ``await client.m(*args)`` for ``handle.m.remote(*args)``, per stage protocol:
    cancelled with the caller, retried once if the replica died (:func:`call_stage`)."""

    def __init__(self, handle: DeploymentHandle) -> None:
        self._handle = handle

    def __getattr__(self, method: str):
        remote = getattr(self._handle, method).remote
        stage = self._handle.deployment_name

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await call_stage(lambda: remote(*args, **kwargs), stage=stage)

        return call


def as_client(stage: Any) -> Any:
    """A stage's client: a handle is wrapped; an in-process stage object (the evaluation
    harness, tests) already has the async methods the graph calls.

    >>> class Stage:
    ...     async def rewrite(self, q): return q
    >>> stage = Stage()
    >>> as_client(stage) is stage
    True
    """
    return _Remote(stage) if isinstance(stage, DeploymentHandle) else stage
