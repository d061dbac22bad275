"""The supervisor's view of the generator: one ``generate`` for either deployment kind."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal

from deployments.calls import as_stage_error
from deployments.common.generation import GenerationSettings
from deployments.common.prompt import build_messages
from deployments.errors import StageUnavailableError
from deployments.supervisor.clients import as_client
from deployments.types import Generation, Hit


class GeneratorClient:
    """Calls the ``Generator`` deployment through its handle.

    Args:
        handle: Handle of the ``Generator`` deployment (LLMServer or ExtractiveGenerator),
            or an in-process ExtractiveGenerator.
        cfg: What each request asks for (model id, sampling, passage length, the prompt's
            token budget: lowest-ranked passages are left out of a prompt over it).
        kind: Which deployment the handle points at.
    """

    def __init__(
        self, handle, cfg: GenerationSettings, kind: Literal["vllm", "extractive"]
    ) -> None:
        self._handle = handle
        self._cfg = cfg
        self.kind = kind

    async def generate(self, query: str, hits: Sequence[Hit]) -> Generation:
        if self.kind == "extractive":
            return await as_client(self._handle).generate(query, list(hits))
        try:
            return await asyncio.wait_for(self._chat(query, hits), self._cfg.request_timeout_s)
        except TimeoutError as exc:
            raise StageUnavailableError(
                f"the LLM did not answer within generator.request_timeout_s="
                f"{self._cfg.request_timeout_s}s; retry, or raise the timeout",
                param=None,
            ) from exc

    async def _chat(self, query: str, hits: Sequence[Hit]) -> Generation:
        from ray.serve.llm.openai_api_models import ChatCompletionRequest, ErrorResponse

        request = ChatCompletionRequest(
            model=self._cfg.served_model_id,
            messages=build_messages(
                query,
                hits,
                max_chars=self._cfg.max_passage_chars,
                max_prompt_tokens=self._cfg.max_prompt_tokens,
            ),
            max_tokens=self._cfg.max_tokens,
            temperature=self._cfg.temperature,
            ignore_eos=self._cfg.ignore_eos,
            stream=False,
        )
        stream = self._handle.options(stream=True).chat.remote(request, None)
        try:
            async for response in stream:
                if isinstance(response, ErrorResponse):
                    raise StageUnavailableError(f"the LLM failed: {response.error.message}")
                return Generation(
                    answer=(response.choices[0].message.content or "").strip(),
                    generator="vllm",
                    model=self._cfg.served_model_id,
                    completion_tokens=response.usage.completion_tokens if response.usage else None,
                    prompt_tokens=response.usage.prompt_tokens if response.usage else None,
                )
        except asyncio.CancelledError:
            # The query's deadline passed or its client left: cancelling the Serve request
            # makes the LLMServer abort the sequence in vLLM, freeing its batch slot.
            stream.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - Ray's failures mapped, others re-raised
            mapped = as_stage_error(exc, "Generator")
            if mapped is exc:
                raise
            raise mapped from exc
        raise StageUnavailableError("the LLM returned no response")
