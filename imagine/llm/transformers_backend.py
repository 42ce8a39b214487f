"""`transformers` backend: a local checkpoint folder, batched generation on CPU or GPU.

Only a local folder is accepted (config.json + weights + tokenizer with a chat template); a hub id is
refused, never downloaded. Each request's messages go through the tokenizer's chat template
(`add_generation_prompt=True`); requests are sorted by prompt length (longest first) into batches of
`batch_size` to reduce padding, padded on the LEFT (a decoder-only model continues from the last
position), and the outputs come back in input order.

Sampling: `temperature == 0` is greedy decoding; otherwise multinomial sampling with `temperature`
and `top_p` (top-k off, no repetition penalty: the same semantics as the OpenAI-compatible backends,
whatever the checkpoint's generation_config says). The RNG is reseeded with `sampling.seed` before
every batch, inside a forked RNG state so the caller's global torch RNG is untouched: the same
requests with the same sampling give the same outputs. A sampled output still depends on its batch
mates (the batch shares one RNG stream), as in any batched sampler. Stop strings end a sequence
early (transformers' stop-string criterion) and the text is cut before the first one.

Counts: `tokens_in` = prompt tokens (chat template applied, no padding); `tokens_out` = generated
tokens up to, not including, the first end-of-sequence token (padding after it excluded).
`latency_ms` = the batch's wall time divided by its size (per-call latency is not observable in a
batched forward pass). `on_output(i, output)` is called for every item of a batch as soon as that
batch finishes.

Engine: `lean` decodes with `imagine.llm.decode.Decoder` (a KV-cache loop for plain Llama
checkpoints, several times faster than `generate` on a CPU); `generate` uses `transformers.generate`;
`auto` (default) is `lean` for a supported checkpoint on the CPU, else `generate`. Greedy float32 output
is the same token for token under both (tests/test_decode.py). The lean engine also ends an answer
whose first tokens rule out `sampling.must_start_with` (the evaluation's `<think>`): the base model's
answers stop after a token instead of running to the limit, at the same score.

The cache key's model name is `"{folder}@{fingerprint}:{dtype}"`, the fingerprint a content hash of
the folder's files, so a retrained checkpoint at the same path (or another precision) never serves
stale cached outputs.

torch and transformers are imported here only, never at package import time.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

from imagine.llm.base import Backend, OnOutput, Output, Request, Sampling, cannot_start_with

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")
ENGINES = ("auto", "lean", "generate")
STOP_WINDOW = 24  # tokens decoded from the end of an answer to look for a stop string
OPENING_WINDOW = 16  # first tokens of an answer checked against Sampling.must_start_with (< STOP_WINDOW)


def checkpoint_fingerprint(folder: str | Path, length: int = 12) -> str:
    """sha256 over the names and bytes of every file in a checkpoint folder (sorted)."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()[:length]


def check_checkpoint_folder(model: str | Path) -> Path:
    """The folder as a Path, or a ValueError that says why it is not a usable local checkpoint."""
    folder = Path(model)
    if not folder.is_dir():
        raise ValueError(
            f"transformers backend: model {str(model)!r} is not a local checkpoint folder (it does not exist). "
            "Models are never downloaded from a hub: give the path of a folder holding config.json, the weights "
            "and the tokenizer (e.g. models/base, written by the base_model stage).")
    if not (folder / "config.json").is_file():
        raise ValueError(f"transformers backend: {folder} has no config.json, so it is not a transformers checkpoint")
    return folder


def resolve_device(device: str) -> str:
    import torch

    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA GPU (use device: auto or cpu)")
    return device


def resolve_dtype(dtype: str, device: str):
    """torch dtype for a name; `auto` is bfloat16 on a GPU that supports it, else float32."""
    import torch

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if dtype == "auto":
        if device == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return getattr(torch, dtype)


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """`text` up to (not including) the earliest stop string."""
    cut = len(text)
    for s in stop:
        if s:
            at = text.find(s)
            if at != -1:
                cut = min(cut, at)
    return text[:cut]


def count_generated(row, end_ids: set[int]) -> int:
    """Generated tokens before the first end-of-sequence/padding id in one output row (tensor or list)."""
    for n, token in enumerate(row if isinstance(row, list) else row.tolist()):
        if token in end_ids:
            return n
    return len(row)


class TransformersBackend(Backend):
    """A local transformers checkpoint behind `generate`.

    model: checkpoint folder (never a hub id); device: auto | cpu | cuda; dtype: auto | float32 |
    bfloat16 | float16; batch_size: requests per forward batch (halved on a CUDA out-of-memory
    error); threads: torch CPU threads (None leaves torch's setting alone); attn_implementation:
    passed to from_pretrained (None = transformers' default, sdpa); engine: auto | lean | generate.
    """

    name = "transformers"

    def __init__(self, model: str, device: str = "auto", dtype: str = "auto", batch_size: int = 8,
                 threads: int | None = None, attn_implementation: str | None = None, engine: str = "auto"):
        folder = check_checkpoint_folder(model)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(int(threads))
        self.folder = folder
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.batch_size = int(batch_size)
        # the cache identity: the checkpoint's content and the precision it runs in
        self.model = f"{model}@{checkpoint_fingerprint(folder)}:{str(self.dtype).removeprefix('torch.')}"

        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        if not self.tokenizer.chat_template:
            raise ValueError(f"transformers backend: the tokenizer in {folder} has no chat template")
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
        self.lm = AutoModelForCausalLM.from_pretrained(folder, dtype=self.dtype, local_files_only=True,
                                                       use_safetensors=True, **extra)  # never pickle
        self.lm.to(self.device).eval()

        eos = self.lm.generation_config.eos_token_id
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in eos:
            eos.append(self.tokenizer.eos_token_id)
        if not eos:
            raise ValueError(f"transformers backend: {folder} defines no end-of-sequence token")
        self.eos_ids = eos
        self.end_ids = set(eos) | {self.tokenizer.pad_token_id}
        self.context = getattr(self.lm.config.get_text_config(), "max_position_embeddings", None)
        self.decoder = None
        if engine != "generate":
            from imagine.llm.decode import Decoder, supports

            if supports(self.lm.config) and (engine == "lean" or self.device == "cpu"):
                self.decoder = Decoder(self.lm, self.dtype)
            elif engine == "lean":
                raise ValueError(f"transformers backend: engine 'lean' decodes plain Llama checkpoints only; "
                                 f"{folder} is {self.lm.config.model_type!r} (use engine: auto or generate)")
        self.engine = "lean" if self.decoder is not None else "generate"

    # -- prompts -----------------------------------------------------------------------------------

    def prompt_text(self, request: Request) -> str:
        return self.tokenizer.apply_chat_template(list(request.messages), add_generation_prompt=True, tokenize=False)

    def encode(self, texts: list[str]):
        """Left-padded batch encoding (the chat template already holds any special tokens)."""
        return self.tokenizer(texts, padding=True, add_special_tokens=False, return_tensors="pt")

    def _generation_config(self, sampling: Sampling, max_new_tokens: int):
        from transformers import GenerationConfig

        common = dict(max_new_tokens=max_new_tokens, eos_token_id=self.eos_ids,
                      pad_token_id=self.tokenizer.pad_token_id,
                      num_beams=1, repetition_penalty=1.0, no_repeat_ngram_size=0)
        if sampling.stop:
            common["stop_strings"] = list(sampling.stop)
        if sampling.temperature == 0:
            return GenerationConfig(do_sample=False, temperature=1.0, top_p=1.0, **common)
        return GenerationConfig(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=0,
                                **common)

    # -- generation --------------------------------------------------------------------------------

    def generate(self, requests: list[Request], sampling: Sampling, on_output: OnOutput | None = None) -> list[Output]:
        outputs: list[Output | None] = [None] * len(requests)

        def finish(i: int, output: Output) -> None:
            outputs[i] = output
            if on_output:
                on_output(i, output)

        texts = [self.prompt_text(r) for r in requests]
        lengths = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False).input_ids] if texts else []
        todo = []
        for i, n in enumerate(lengths):
            if self.context and n >= self.context:
                error = f"prompt has {n} tokens; the model's context is {self.context}"
                finish(i, Output(None, tokens_in=n, error=error))
            else:
                todo.append(i)
        order = sorted(todo, key=lambda i: (-lengths[i], i))
        for start in range(0, len(order), self.batch_size):
            self._run_batch(order[start:start + self.batch_size], texts, lengths, sampling, finish)
        return outputs

    def _run_batch(self, items: list[int], texts: list[str], lengths: list[int], sampling: Sampling, finish) -> None:
        import torch

        started = time.perf_counter()
        try:
            results = self._generate_batch([texts[i] for i in items], sampling)
        except Exception as exc:  # noqa: BLE001 - a failed batch becomes error outputs, per the Backend contract
            if self.device == "cuda":
                torch.cuda.empty_cache()
            if _is_oom(exc) and len(items) > 1:
                half = len(items) // 2
                log.warning("transformers backend: out of memory at batch %d, retrying as %d + %d",
                            len(items), half, len(items) - half)
                self._run_batch(items[:half], texts, lengths, sampling, finish)
                self._run_batch(items[half:], texts, lengths, sampling, finish)
                return
            log.exception("transformers backend: batch of %d failed", len(items))
            for i in items:
                finish(i, Output(None, tokens_in=lengths[i], error=f"{type(exc).__name__}: {exc}"))
            return
        latency = (time.perf_counter() - started) * 1000 / len(items)
        for i, (text, n_out) in zip(items, results):
            finish(i, Output(text, tokens_in=lengths[i], tokens_out=n_out, latency_ms=latency))

    def _generate_batch(self, texts: list[str], sampling: Sampling) -> list[tuple[str, int]]:
        if self.decoder is not None:
            return self._decode_batch(texts, sampling)
        import torch

        batch = self.encode(texts).to(self.device)
        width = batch["input_ids"].shape[1]
        config = self._generation_config(sampling, sampling.max_tokens)
        extra = {"tokenizer": self.tokenizer} if sampling.stop else {}
        devices = [torch.cuda.current_device()] if self.device == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.inference_mode():
            torch.manual_seed(sampling.seed)
            sequences = self.lm.generate(**batch, generation_config=config, **extra)
        results = []
        for row in sequences[:, width:].cpu():
            n = count_generated(row, self.end_ids)
            text = self.tokenizer.decode(row[:n], skip_special_tokens=True)
            results.append((cut_at_stop(text, sampling.stop), n))
        return results

    def _decode_batch(self, texts: list[str], sampling: Sampling) -> list[tuple[str, int]]:
        prompts = self.tokenizer(texts, add_special_tokens=False).input_ids

        def stopped(i: int, ids: list[int]) -> bool:
            # One decode serves both tests: within OPENING_WINDOW (< STOP_WINDOW) tokens the tail is the whole answer.
            tail = self.tokenizer.decode(ids[-STOP_WINDOW:], skip_special_tokens=True)
            if (sampling.must_start_with and len(ids) <= OPENING_WINDOW
                    and cannot_start_with(tail, sampling.must_start_with)):
                return True
            return any(s and s in tail for s in sampling.stop)

        answers = self.decoder.generate(prompts, sampling.max_tokens, self.end_ids, temperature=sampling.temperature,
                                        top_p=sampling.top_p, seed=sampling.seed,
                                        stop=stopped if sampling.stop or sampling.must_start_with else None)
        results = []
        for ids in answers:
            n = count_generated(ids, self.end_ids)
            text = self.tokenizer.decode(ids[:n], skip_special_tokens=True)
            results.append((cut_at_stop(text, sampling.stop), n))
        return results

    def close(self) -> None:
        import torch

        self.decoder = None
        self.lm = None
        if self.device == "cuda":
            torch.cuda.empty_cache()
