"""Backend by name, imported only when chosen (vLLM and torch stay off CPU-only paths)."""

from __future__ import annotations

import importlib

from imagine.llm.base import Backend

# backend name -> "module:class"; each class takes the role's params (minus `backend`) as keywords.
BACKENDS = {
    "rules": "imagine.domains.travelplanner.rules:RulesBackend",
    "transformers": "imagine.llm.transformers_backend:TransformersBackend",
    "openai": "imagine.llm.openai_backend:OpenAIBackend",
    "vllm": "imagine.llm.vllm_backend:VLLMBackend",
}


def build_backend(spec: dict, **shared) -> Backend:
    """`spec` is one role's params, e.g. {"backend": "openai", "model": ..., "base_url": ...};
    `shared` are objects some backends need (the rules teacher takes the sandbox)."""
    spec = dict(spec)
    name = spec.pop("backend", None)
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {sorted(BACKENDS)}, got {name!r}")
    module, cls = BACKENDS[name].split(":")
    backend_class = getattr(importlib.import_module(module), cls)
    accepted = getattr(backend_class, "SHARED", ())
    return backend_class(**spec, **{k: v for k, v in shared.items() if k in accepted})
