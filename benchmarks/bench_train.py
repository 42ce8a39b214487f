"""Training speed of the student: SFT tokens/s, and one GRPO step split into generation and update.

    python benchmarks/bench_train.py [--model models/base] [--sft-steps 3] [--seq-len 512]
                                     [--grpo-steps 2] [--completion-length 32] [--precision fp32 bf16]

SFT: real `SFTTrainer` steps (batch 1, the sft stage's trainer) on the samples of
data/filtered/sft.parquet that fit --seq-len tokens (the stage's sft.max_length rule), else on
synthetic chat samples of --seq-len tokens (the default 512 is shorter than any real sample, which
run ~1.9k-4.7k tokens: `--seq-len 2048` trains on the real ones that fit, as the default pipeline
does, at ~4x the time). tokens/s counts every token trained through (prompt included) and leaves
out the first step (warm-up).
GRPO: `GRPOTrainer` steps (the grpo stage's trainer, KL term included) with a trivial length reward,
2 completions of one prompt per step (num_generations 2, batch 2), on the shortest prompt of
data/filtered/grpo_prompts.parquet (else a synthetic request). The last step is reported:
generation = time inside the trainer's `_generate` (rollouts), update = step - generation (reward,
reference log-probs, forward, backward, optimizer).

Needs the student checkpoint (`dvc repro base_model`). The defaults take about 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

SFT_DATA = Path("data/filtered/sft.parquet")
GRPO_DATA = Path("data/filtered/grpo_prompts.parquet")
FILLER = ("Day 1: fly from Seattle to Los Angeles, check in at a private room downtown, lunch at a taco stand, "
          "visit the observatory, dinner at an Italian place. The budget still covers the return flight. ")
REQUEST = "Plan a 3-day trip from Seattle to Los Angeles for 2 people, March 3 to 5, 2022, with a budget of $1,800."


def step_timer():
    """A TrainerCallback recording each optimizer step's wall time and the tokens logged for it."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.seconds: list[float] = []
            self.tokens: list[float] = []
            self._begin = 0.0
            self._seen_tokens = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self._begin = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.seconds.append(time.perf_counter() - self._begin)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "num_tokens" in logs:  # cumulative in TRL's logs
                self.tokens.append(float(logs["num_tokens"]) - self._seen_tokens)
                self._seen_tokens = float(logs["num_tokens"])

    return StepTimer()


def for_timing(trainer) -> None:
    """The stage's trainer minus what the bench does not time: checkpoint writes and per-step log prints."""
    from transformers.trainer_callback import PrinterCallback

    trainer.args.save_strategy = "no"
    trainer.remove_callback(PrinterCallback)


def chat_tokens(tokenizer, messages, add_generation_prompt: bool = False) -> int:
    encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, return_dict=True)
    return len(encoded["input_ids"])


def synthetic_samples(tokenizer, seq_len: int, count: int) -> list[dict]:
    """Chat samples (system + user prompt, assistant completion) of at most, and about, `seq_len` tokens."""
    prompt = [{"role": "system", "content": "You are a travel planner."}, {"role": "user", "content": REQUEST}]
    filler_ids = tokenizer(FILLER * (seq_len // 8 + 1), add_special_tokens=False)["input_ids"]
    samples = []
    for i in range(count):
        keep = seq_len - chat_tokens(tokenizer, prompt, add_generation_prompt=True)
        for _ in range(5):  # decoding and re-encoding can shift the count by a token or two
            completion = [{"role": "assistant", "content": f"<think> option {i}. " + tokenizer.decode(filler_ids[:keep])}]
            over = chat_tokens(tokenizer, prompt + completion) - seq_len
            if over <= 0:
                break
            keep -= over
        samples.append({"prompt": prompt, "completion": completion})
    return samples


def sft_samples(tokenizer, seq_len: int, count: int) -> tuple[list[dict], str]:
    import polars as pl

    if SFT_DATA.is_file():
        frame = pl.read_parquet(SFT_DATA).filter(pl.col("tokens") <= seq_len).sort("tokens", descending=True)
        if frame.height:
            rows = frame.head(count).select("prompt", "completion", "tokens").to_dicts()
            rows = (rows * count)[:count]  # reuse samples when fewer fit
            return rows, f"{frame.height} samples of {SFT_DATA} fit {seq_len} tokens"
        source = f"no sample of {SFT_DATA} fits {seq_len} tokens: synthetic samples"
    else:
        source = f"no {SFT_DATA}: synthetic samples"
    return synthetic_samples(tokenizer, seq_len, count), source


def bench_sft(model: str, steps: int, seq_len: int, precision: str, work: Path) -> None:
    from datasets import Dataset
    from transformers import AutoTokenizer

    from imagine.train.sft import SFTParams, build_trainer

    tokenizer = AutoTokenizer.from_pretrained(model)
    rows, source = sft_samples(tokenizer, seq_len, steps)
    # Tokens per sample (prompt + completion under the chat template); the trainer sees one per step.
    lengths = [row.pop("tokens", None) or seq_len for row in rows]
    config = SFTParams(model=model, max_steps=steps, save_steps=steps, rl_init_step=steps, max_length=seq_len,
                       precision=precision, learning_rate=1e-5)
    trainer = build_trainer(config, Dataset.from_list(rows), work / "sft")
    for_timing(trainer)
    timer = step_timer()
    trainer.add_callback(timer)
    trainer.train()
    if not timer.tokens:  # TRL logs no num_tokens when the loss is computed on completion positions only
        timer.tokens = [sum(lengths) / len(lengths)] * len(timer.seconds)
    timed_tokens, timed_seconds = sum(timer.tokens[1:]), sum(timer.seconds[1:])
    print(f"SFT ({source}; batch 1, max_length {seq_len}, {precision}):")
    print("  step seconds: " + ", ".join(f"{s:.2f}" for s in timer.seconds)
          + "  tokens/step: " + ", ".join(f"{t:.0f}" for t in timer.tokens))
    if timed_seconds > 0:
        print(f"  {timed_tokens / timed_seconds:.1f} tokens/s over steps 2-{len(timer.seconds)} "
              f"({timed_tokens:.0f} tokens in {timed_seconds:.2f} s; step 1 = warm-up, left out)")
    else:
        print("  (one step only: nothing left after the warm-up step; use --sft-steps >= 2)")


class LengthReward:
    """A trivial reward (completion length / 100), so a group's two completions differ and the update is real."""

    def functions(self):
        def reward_length(prompts, completions, **columns):
            return [len(str(c)) / 100 for c in completions]

        return [reward_length]


def grpo_prompt() -> tuple[list[dict], str]:
    import polars as pl

    if GRPO_DATA.is_file():
        frame = pl.read_parquet(GRPO_DATA).sort("prompt_tokens").head(1)
        if frame.height:
            return frame.to_dicts()[0]["prompt"], f"the shortest prompt of {GRPO_DATA}"
    return [{"role": "user", "content": REQUEST}], "a synthetic request"


def timed(method, spent: list[float]):
    def wrapper(*args, **kwargs):
        begin = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - begin)

    return wrapper


def bench_grpo(model: str, steps: int, completion_length: int, precision: str, work: Path) -> None:
    from datasets import Dataset

    from imagine.train.grpo import GRPOParams, build_trainer

    prompt, source = grpo_prompt()
    config = GRPOParams(max_steps=steps, save_steps=steps, num_generations=2, per_device_train_batch_size=2,
                        max_completion_length=completion_length, precision=precision)
    dataset = Dataset.from_list([{"prompt": prompt}] * 4)
    trainer = build_trainer(config, model, dataset, LengthReward(), work / "grpo")
    for_timing(trainer)
    generation: list[float] = []
    # GRPOTrainer._generate produces the rollouts (prompt in, completion ids out); the rest of the step
    # (_generate_and_score_completions' rewards and log-probs, then the loss) counts as the update.
    trainer._generate = timed(trainer._generate, generation)
    timer = step_timer()
    trainer.add_callback(timer)
    trainer.train()
    total, generated = timer.seconds[-1], generation[-1]
    prompt_tokens = chat_tokens(trainer.processing_class, prompt, add_generation_prompt=True)
    print(f"GRPO ({source}, {prompt_tokens} tokens; 2 completions of up to {completion_length} tokens, batch 2, "
          f"{precision}, beta {config.beta}):")
    print("  step seconds: " + ", ".join(f"{s:.2f}" for s in timer.seconds)
          + "  generation seconds: " + ", ".join(f"{g:.2f}" for g in generation))
    print(f"  step {len(timer.seconds)}: total {total:.2f} s = generation {generated:.2f} s "
          f"({generated / total:.0%}) + update {total - generated:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/base", help="student checkpoint folder (default: %(default)s)")
    parser.add_argument("--sft-steps", type=int, default=3, help="SFT steps; the first is warm-up (default: %(default)s)")
    parser.add_argument("--seq-len", type=int, default=512,
                        help="SFT max_length, and the synthetic samples' length (default: %(default)s)")
    parser.add_argument("--grpo-steps", type=int, default=2,
                        help="GRPO steps; the last is reported (default: %(default)s)")
    parser.add_argument("--completion-length", type=int, default=32,
                        help="GRPO max_completion_length (default: %(default)s)")
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=("fp32", "bf16"),
                        help="each precision is benched in turn, side by side (default: %(default)s)")
    parser.add_argument("--skip", choices=("sft", "grpo"), help="leave one part out")
    args = parser.parse_args()
    if not Path(args.model, "config.json").is_file():
        print(f"no student checkpoint at {args.model}: build it with `dvc repro base_model` "
              "(or pass --model PATH)", file=sys.stderr)
        return 1
    if args.sft_steps < 1 or args.grpo_steps < 1 or args.seq_len < 64 or args.completion_length < 1:
        parser.error("need --sft-steps >= 1, --grpo-steps >= 1, --seq-len >= 64, --completion-length >= 1")

    import datasets
    import torch
    import transformers

    datasets.disable_progress_bars()  # the printed numbers only: no progress bars or library notices
    warnings.simplefilter("ignore", (UserWarning, FutureWarning))
    transformers.utils.logging.disable_progress_bar()
    print(f"student {args.model}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{'CUDA' if torch.cuda.is_available() else 'CPU'}")
    with tempfile.TemporaryDirectory(prefix="bench_train.") as tmp:
        for precision in args.precision:
            if args.skip != "sft":
                bench_sft(args.model, args.sft_steps, args.seq_len, precision, Path(tmp))
            if args.skip != "grpo":
                bench_grpo(args.model, args.grpo_steps, args.completion_length, precision, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
