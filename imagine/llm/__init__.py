"""LLM backends behind one batched `generate()` interface, and the content-hash call cache."""

from imagine.llm.base import Backend, Output, Request, Sampling, call_key  # noqa: F401
from imagine.llm.cache import CallCache, cached_generate  # noqa: F401
