"""Backend by name, imported only when chosen (vLLM and torch stay off CPU-only paths)."""

from __future__ import annotations

import importlib

from imagine.llm.base import Backend

# backend name -> "module:class"; each class takes the role's params (minus `backend`) as keywords.
BACKENDS = {
    "rules": None,  # the domain's scripted teacher: Domain.teacher, passed as `teacher`
    "transformers": "imagine.llm.transformers_backend:TransformersBackend",
    "openai": "imagine.llm.openai_backend:OpenAIBackend",
    "vllm": "imagine.llm.vllm_backend:VLLMBackend",
}


def build_backend(spec: dict, teacher: str | None = None, **shared) -> Backend:
    """`spec` is one role's params, e.g. {"backend": "openai", "model": ..., "base_url": ...};
    `teacher` is the domain's "module:Class" for `rules`; `shared` are objects some backends need (a
    domain's teacher may take its world)."""
    spec = dict(spec)
    name = spec.pop("backend", None)
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {sorted(BACKENDS)}, got {name!r}")
    path = teacher if name == "rules" else BACKENDS[name]
    if path is None:
        raise ValueError("backend 'rules' is a domain's scripted teacher: build it with the domain's `teacher`")
    module, cls = path.split(":")
    backend_class = getattr(importlib.import_module(module), cls)
    accepted = getattr(backend_class, "SHARED", ())
    return backend_class(**spec, **{k: v for k, v in shared.items() if k in accepted})
