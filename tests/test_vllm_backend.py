"""The `vllm` backend needs a CUDA machine; here we check only that it is imported lazily and that
choosing it without vLLM installed fails with a clear, actionable message."""

import sys

import pytest

from imagine.llm.base import BackendError


def test_vllm_module_imports_without_vllm(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # as if vLLM were not installed
    from imagine.llm import vllm_backend  # noqa: F401 - importing the module must not import vllm


def test_choosing_vllm_without_it_installed_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    from imagine.llm.registry import build_backend

    with pytest.raises(BackendError, match=r"pip install -e \.\[vllm\] on a CUDA machine"):
        build_backend({"backend": "vllm", "model": "Qwen/Qwen3-8B"})
