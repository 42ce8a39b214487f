"""`vllm` backend: in-process vLLM on a CUDA machine (an optional extra, imported only when chosen).

Requests go through `LLM.chat` (the model's own chat template) in chunks of `batch_size`; after
each chunk every output is reported through `on_output`, so the call cache keeps finished work if
a long run stops. Token counts come from the prompt and completion token ids. `latency_ms` is the
chunk's wall time divided by the number of requests in it (vLLM batches them; per-request wall time
is not meaningful). A chunk that raises (say, one prompt longer than `max_model_len`) is retried
one request at a time, so only the bad requests become `Output(error=...)`; more than
`max_failures` failed calls raise `BackendError`.
"""

from __future__ import annotations

import time

from imagine.llm.base import Backend, BackendError, OnOutput, Output, Request, Sampling

INSTALL_HINT = "pip install -e .[vllm] on a CUDA machine"


class VLLMBackend(Backend):
    name = "vllm"

    def __init__(self, model: str, dtype: str = "bfloat16", gpu_memory_utilization: float = 0.85,
                 max_model_len: int | None = 8192, tensor_parallel_size: int = 1, seed: int = 0,
                 batch_size: int = 256, max_failures: int | None = 25, chat_template_kwargs: dict | None = None,
                 enforce_eager: bool = False, trust_remote_code: bool = False, engine_kwargs: dict | None = None):
        try:
            import vllm
        except ImportError as exc:
            raise BackendError(f"the vllm backend needs vLLM, which is not installed ({exc}): {INSTALL_HINT}") from exc
        if batch_size < 1:
            raise BackendError(f"vllm backend: batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.batch_size = int(batch_size)
        self.max_failures = max_failures
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.failures = 0
        self._vllm = vllm
        kwargs = dict(model=model, dtype=dtype, gpu_memory_utilization=gpu_memory_utilization,
                      tensor_parallel_size=tensor_parallel_size, seed=seed, enforce_eager=enforce_eager,
                      trust_remote_code=trust_remote_code, **(engine_kwargs or {}))
        if max_model_len is not None:
            kwargs["max_model_len"] = int(max_model_len)
        self._llm = vllm.LLM(**kwargs)

    def __repr__(self) -> str:
        return f"VLLMBackend(model={self.model!r})"

    def _params(self, sampling: Sampling):
        return self._vllm.SamplingParams(
            n=1, max_tokens=sampling.max_tokens, temperature=sampling.temperature, top_p=sampling.top_p,
            seed=sampling.seed, stop=list(sampling.stop) or None)

    def _chat(self, conversations: list[list[dict]], params):
        kwargs = {"use_tqdm": False}
        if self.chat_template_kwargs:
            kwargs["chat_template_kwargs"] = self.chat_template_kwargs
        return self._llm.chat(conversations, params, **kwargs)

    @staticmethod
    def _output(result, latency_ms: float) -> Output:
        completion = result.outputs[0]
        return Output(completion.text, len(result.prompt_token_ids or ()), len(completion.token_ids or ()),
                      latency_ms)

    def _fail(self, error: str) -> Output:
        self.failures += 1
        output = Output(None, error=error)
        if self.max_failures is not None and self.failures > self.max_failures:
            raise BackendError(f"vllm backend: {self.failures} failed calls exceed max_failures="
                               f"{self.max_failures}; last: {error}")
        return output

    def generate(self, requests: list[Request], sampling: Sampling, on_output: OnOutput | None = None) -> list[Output]:
        params = self._params(sampling)
        outputs: list[Output] = []
        for start in range(0, len(requests), self.batch_size):
            chunk = [[dict(m) for m in r.messages] for r in requests[start:start + self.batch_size]]
            began = time.perf_counter()
            try:
                results = self._chat(chunk, params)
                latency = (time.perf_counter() - began) * 1000 / len(chunk)
                produced = [self._output(result, latency) for result in results]
            except BackendError:
                raise
            except Exception:  # noqa: BLE001 - isolate the bad request(s) one by one
                produced = []
                for conversation in chunk:
                    began = time.perf_counter()
                    try:
                        result = self._chat([conversation], params)[0]
                        produced.append(self._output(result, (time.perf_counter() - began) * 1000))
                    except Exception as exc:  # noqa: BLE001
                        produced.append(self._fail(f"vllm ({self.model}): {type(exc).__name__}: {exc}"[:500]))
            for j, output in enumerate(produced):
                outputs.append(output)
                if on_output is not None:
                    on_output(start + j, output)
        return outputs

    def close(self) -> None:
        llm = getattr(self, "_llm", None)
        self._llm = None
        if llm is not None:
            del llm
            try:
                import gc

                import torch

                gc.collect()
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            except Exception:  # noqa: BLE001 - best effort
                pass
