"""Student model preparation: a plain transformers checkpoint in `models/base/`.

The default student ships as a GGUF file (see `imagine.llm.gguf`). transformers reads a GGUF
(tokenizer and chat template included), but by default the model stays flagged as quantized: it
can be neither trained nor saved. `convert_gguf` loads it fully dequantized instead (a plain dense
model) and saves safetensors + tokenizer + generation config. `prepare_local` takes a student that is
already a checkpoint folder and validates + copies it instead. Both finish with a generation
check on the written folder, loaded fresh, *before* the folder is moved into place, so a broken
student never lands at `out_dir`.

torch and transformers are imported inside the functions (the `imagine` package stays light).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from imagine.errors import UserError
from imagine.io import atomic_path

DTYPES = ("float32", "bfloat16", "float16")
CHECK_MESSAGES = ({"role": "user", "content": "What is the capital of France? Answer in one sentence."},)
WEIGHT_PATTERNS = ("*.safetensors",)  # safetensors only: pickled weights (*.bin) can run code on load


class StudentError(UserError, RuntimeError):
    """The student could not be converted, validated or failed its generation check."""


def _torch_dtype(dtype: str):
    import torch

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    return getattr(torch, dtype)


def folder_bytes(folder: str | Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def count_parameters(model) -> int:
    """Distinct parameters (tied embeddings counted once)."""
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def convert_gguf(gguf_path: str | Path, out_dir: str | Path, dtype: str = "float32", check: bool = True,
                 check_tokens: int = 16) -> dict:
    """Convert a GGUF file to a plain safetensors checkpoint + tokenizer at `out_dir` (atomically).

    The GGUF is loaded with `GgufConfig(dequantize=True)`: every weight is unpacked into a dense
    tensor and the quantization config is dropped, so the model is an ordinary, trainable and
    saveable one. The written folder is then loaded fresh: its logits on a chat prompt must match
    the in-memory model's, and it must answer the prompt (`generation_check`).

    Returns a report: parameters, seconds (load, save, check), checkpoint bytes, the max absolute
    logit difference after the save/load round trip, and the generation check's result.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise StudentError(f"GGUF file {gguf_path} does not exist")
    torch_dtype = _torch_dtype(dtype)
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, local_files_only=True)
    if not tokenizer.chat_template:
        raise StudentError(f"{gguf_path.name}: its tokenizer has no chat template")
    model = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, dtype=torch_dtype, local_files_only=True,
        quantization_config=GgufConfig(dequantize=True)).eval()
    if getattr(model, "hf_quantizer", None) is not None or getattr(model, "is_quantized", False):
        raise StudentError(f"{gguf_path.name}: transformers kept the model quantized; it cannot be saved")
    parameters = count_parameters(model)
    loaded = time.perf_counter()

    with atomic_path(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        saved = time.perf_counter()
        result = generation_check(tmp, max_new_tokens=check_tokens, reference=model) if check else None
        size = folder_bytes(tmp)
    return {
        "source": str(gguf_path),
        "dtype": dtype,
        "parameters": parameters,
        "checkpoint_bytes": size,
        "seconds": {"load_gguf": round(loaded - started, 2), "save": round(saved - loaded, 2),
                    "check": round(time.perf_counter() - saved, 2)},
        "generation_check": result,
    }


def validate_checkpoint(folder: str | Path) -> None:
    """Raise StudentError unless `folder` is a transformers causal-LM checkpoint with a chat template."""
    folder = Path(folder)
    if not folder.is_dir():
        raise StudentError(f"student checkpoint folder {folder} does not exist")
    if not (folder / "config.json").is_file():
        raise StudentError(f"{folder} has no config.json")
    if not any(next(folder.glob(pattern), None) for pattern in WEIGHT_PATTERNS):
        raise StudentError(f"{folder} holds no weights ({' or '.join(WEIGHT_PATTERNS)})")
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - any tokenizer load failure means an unusable student
        raise StudentError(f"{folder}: the tokenizer does not load: {exc}") from exc
    if not tokenizer.chat_template:
        raise StudentError(f"{folder}: the tokenizer has no chat template")


def prepare_local(src: str | Path, out_dir: str | Path, check: bool = True, check_tokens: int = 16) -> dict:
    """Validate a local checkpoint folder and copy it to `out_dir` (atomically), then check it generates."""
    src = Path(src)
    validate_checkpoint(src)
    started = time.perf_counter()
    with atomic_path(out_dir) as tmp:
        shutil.copytree(src, tmp, ignore=shutil.ignore_patterns(".git", ".cache", "*.tmp"))
        copied = time.perf_counter()
        result = generation_check(tmp, max_new_tokens=check_tokens) if check else None
        size = folder_bytes(tmp)
        parameters = result.pop("parameters") if result else None
    return {
        "source": str(src),
        "parameters": parameters,
        "checkpoint_bytes": size,
        "seconds": {"copy": round(copied - started, 2), "check": round(time.perf_counter() - copied, 2)},
        "generation_check": result,
    }


def generation_check(folder: str | Path, messages=CHECK_MESSAGES, max_new_tokens: int = 16, reference=None) -> dict:
    """Load `folder` fresh and greedily answer one chat prompt; StudentError if nothing comes out.

    With `reference` (the model that was saved), the fresh model's logits on the prompt must equal
    its logits (a save/load round-trip check). tokens/s is measured after a warm-up forward pass.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, use_safetensors=True).eval()
    if not tokenizer.chat_template:
        raise StudentError(f"{folder}: the saved tokenizer has no chat template")
    loaded = time.perf_counter()
    inputs = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    report = {}
    with torch.inference_mode():
        logits = model(**inputs).logits.float()  # also the warm-up
        if reference is not None:
            diff = float((reference(**inputs).logits.float() - logits).abs().max())
            if not diff <= 1e-4:
                raise StudentError(f"{folder}: logits after the save/load round trip differ by {diff}")
            report["logit_max_abs_diff"] = diff
        begin = time.perf_counter()
        sequences = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
        seconds = time.perf_counter() - begin
    new = sequences[0, inputs["input_ids"].shape[1]:]
    text = tokenizer.decode(new, skip_special_tokens=True).strip()
    if not text:
        raise StudentError(f"{folder}: the generation check produced no text (tokens {new.tolist()})")
    return {
        "prompt": messages[-1]["content"],
        "text": text,
        "tokens": int(new.numel()),
        "tokens_per_second": round(new.numel() / seconds, 2),
        "load_seconds": round(loaded - started, 2),
        "parameters": count_parameters(model),
        "dtype": str(model.dtype).removeprefix("torch."),
        **report,
    }
