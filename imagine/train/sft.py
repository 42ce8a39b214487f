"""Supervised fine-tuning of the student on the filtered MAS traces (TRL `SFTTrainer`).

The data is TRL's conversational prompt-completion format (`prompt` = system + user messages,
`completion` = the assistant turn), so with `completion_only_loss=True` the loss covers the assistant
turn only: every prompt token gets label -100 (`completion_mask` = 0). Samples longer than
`max_length` tokens are dropped (`overlong: drop`): TRL only truncates the end, which would cut the
plan (or the whole completion) off, and a sample without its plan teaches the wrong thing.

Checkpoints go to `<out>/checkpoint-N` every `save_steps` and are all kept (no save limit), so the
`rl_init_step` checkpoint GRPO starts from (the paper starts RL from an early SFT checkpoint) is
always there; the final weights go to `<out>/final`. A killed run resumes from its newest checkpoint
(see `imagine.train.runs.RunDir`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from imagine.errors import UserError
from imagine.train.runs import (RunDir, device_flags, fingerprint, make_live_callback, positive_int, positive_number,
                                 precision_flags, save_final)

LIVE_METRICS = {"loss": "loss", "learning_rate": "learning_rate", "grad_norm": "grad_norm",
                "mean_token_accuracy": "mean_token_accuracy"}
SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
              "inverse_sqrt", "warmup_stable_decay")


class TrainError(UserError):
    """A training input or configuration problem, worded for the user."""


@dataclass
class SFTParams:
    model: str = "models/base"
    data: str = "data/filtered/sft.parquet"
    splits: list[str] = field(default_factory=lambda: ["train"])
    max_samples: int | None = None
    max_steps: int = 4
    learning_rate: float = 2e-5
    lr_scheduler_type: str = "cosine"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    per_device_train_batch_size: int = 1
    gradient_accumulation_steps: int = 1
    max_length: int = 2048
    overlong: str = "drop"
    precision: str = "fp32"
    gradient_checkpointing: bool = False
    pad_to_multiple_of: int | None = 128
    save_steps: int = 2
    rl_init_step: int = 2
    seed: int = 0

    def __post_init__(self):
        for name in ("max_steps", "per_device_train_batch_size", "gradient_accumulation_steps", "max_length",
                     "save_steps", "rl_init_step"):
            positive_int(f"sft.{name}", getattr(self, name))
        positive_int("sft.max_samples", self.max_samples, allow_none=True)
        positive_int("sft.pad_to_multiple_of", self.pad_to_multiple_of, allow_none=True)
        positive_number("sft.learning_rate", self.learning_rate)
        if self.lr_scheduler_type not in SCHEDULERS:
            raise ValueError(f"sft.lr_scheduler_type must be one of {list(SCHEDULERS)}, got {self.lr_scheduler_type!r}")
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ValueError(f"sft.warmup_steps must be an integer >= 0, got {self.warmup_steps!r}")
        if self.weight_decay < 0 or self.max_grad_norm <= 0:
            raise ValueError("sft.weight_decay must be >= 0 and sft.max_grad_norm > 0")
        if self.overlong != "drop":
            raise ValueError(f"sft.overlong must be 'drop' (the only mode that keeps plans whole), got {self.overlong!r}")
        precision_flags(self.precision)
        if not self.splits or not all(isinstance(s, str) for s in self.splits):
            raise ValueError(f"sft.splits must be a non-empty list of split names, got {self.splits!r}")
        if self.rl_init_step > self.max_steps:
            raise ValueError(f"sft.rl_init_step ({self.rl_init_step}) is past sft.max_steps ({self.max_steps})")
        if self.rl_init_step % self.save_steps:
            raise ValueError(f"sft.rl_init_step ({self.rl_init_step}) is not a multiple of sft.save_steps "
                             f"({self.save_steps}): that checkpoint would never be saved")

    @classmethod
    def from_params(cls, params: dict | None) -> SFTParams:
        from imagine.params import from_section

        return from_section(cls, params, "sft")


def load_dataset(config: SFTParams):
    """The TRL prompt-completion dataset, and counts of what was kept/dropped; the file must pass the sft suite."""
    import polars as pl
    from datasets import Dataset

    from imagine.checks.filtered import validate_sft

    path = Path(config.data)
    if not path.is_file():
        raise TrainError(f"no SFT data at {str(path)!r}: run `dvc repro filter` first")
    frame = pl.read_parquet(path)
    # The sft suite before any work (structure and layout, no token budget): a corrupt or hostile file
    # raises DataValidationError (a ValueError) naming the file, column and expectation.
    validate_sft(frame, source=str(path))
    frame = frame.filter(pl.col("split").is_in(config.splits))
    total = frame.height
    kept = frame.filter(pl.col("tokens") <= config.max_length)
    if config.max_samples is not None:
        kept = kept.head(config.max_samples)
    if kept.height == 0:
        raise TrainError(f"no SFT sample of splits {config.splits} fits sft.max_length={config.max_length} tokens "
                         f"({total} samples; raise max_length)")
    dataset = Dataset.from_list(kept.select("prompt", "completion").to_dicts())
    return dataset, {"samples_in_splits": total, "samples_used": kept.height,
                     "samples_dropped_overlong": total - frame.filter(pl.col("tokens") <= config.max_length).height}


def build_trainer(config: SFTParams, dataset, out: str | Path, *, live_dir: str | Path | None = None,
                  resume: bool = False):
    """An `SFTTrainer` (assistant-only loss) writing checkpoints into `out`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig

    model_dir = Path(config.model)
    if not (model_dir / "config.json").is_file():
        raise TrainError(f"no model checkpoint in {str(model_dir)!r} (sft.model): run `dvc repro base_model` first")
    # The config comes before the model: under `accelerate launch` with DeepSpeed ZeRO-3 it is what
    # makes from_pretrained shard the weights while loading (else every process holds a full copy).
    args = SFTConfig(
        output_dir=str(out), max_steps=config.max_steps, learning_rate=float(config.learning_rate),
        lr_scheduler_type=config.lr_scheduler_type, warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay, max_grad_norm=config.max_grad_norm,
        per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps, max_length=config.max_length,
        completion_only_loss=True, pad_to_multiple_of=config.pad_to_multiple_of,
        save_strategy="steps", save_steps=config.save_steps, save_total_limit=None, seed=config.seed,
        data_seed=config.seed, logging_steps=1, report_to="none", disable_tqdm=True,
        dataloader_num_workers=0, activation_checkpointing=config.gradient_checkpointing,  # TRL defaults it on
        **precision_flags(config.precision), **device_flags(config.precision))
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype="float32", local_files_only=True,
                                                 use_safetensors=True)
    callbacks = [make_live_callback(live_dir, LIVE_METRICS, resume=resume)] if live_dir else []
    return _trainer_class()(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                            callbacks=callbacks)


def _trainer_class():
    """`SFTTrainer` whose loss projects only the completion's positions onto the vocabulary.

    The loss covers the assistant turn only, yet TRL's loss builds log-probabilities (and entropy) at
    every position through the 49k-word head; on a CPU that is ~40% of a step for a sample whose prompt
    is half its length. Here the model's hidden states are taken at the positions that predict a label,
    and only those go through the head: the same mean token cross-entropy, and the same token accuracy
    metric, for less work. Multi-process token averaging follows TRL's (num_items_in_batch)."""
    import torch
    from trl import SFTTrainer

    class Trainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs["labels"][:, 1:]
            keep = labels != -100
            # No attention mask: TRL pads on the right, and under causal attention no real token sees a pad,
            # so the mask only moves attention off its fast path (an explicit mask is ~2x slower on a CPU).
            # accelerate applies mixed precision by wrapping `model.forward`; the body and the head are
            # called here without it, so the autocast is entered explicitly (else bf16 runs in fp32).
            with self.accelerator.autocast():
                hidden = model.model(input_ids=inputs["input_ids"], use_cache=False).last_hidden_state[:, :-1][keep]
                logits = model.lm_head(hidden).float()
            targets = labels[keep]
            count = keep.sum() if num_items_in_batch is None else num_items_in_batch
            loss = torch.nn.functional.cross_entropy(logits, targets, reduction="sum") / torch.as_tensor(count).clamp(min=1)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes
            mode = "train" if model.training else "eval"
            correct = self.accelerator.gather_for_metrics((logits.argmax(-1) == targets).sum()).sum()
            valid = self.accelerator.gather_for_metrics(keep.sum()).sum()
            self._metrics[mode]["mean_token_accuracy"].append((correct / valid).item() if valid > 0 else 0.0)
            return (loss, {"logits": logits}) if return_outputs else loss

    return Trainer


def run_sft(config: SFTParams, out: str | Path, live_dir: str | Path) -> dict:
    """Train (or resume a killed run), save `<out>/final`; returns the metrics report."""
    started = time.perf_counter()
    dataset, counts = load_dataset(config)
    run = RunDir(out)
    resume_from = run.prepare(fingerprint({k: v for k, v in asdict(config).items() if k != "rl_init_step"},
                                          Path(config.data)))
    trainer = build_trainer(config, dataset, out, live_dir=live_dir, resume=resume_from is not None)
    start_step = int(resume_from.name.rsplit("-", 1)[1]) if resume_from else 0
    trained = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    train_seconds = time.perf_counter() - trained
    save_final(trainer, run.path / "final")
    init = run.checkpoint(config.rl_init_step)
    if not init.is_dir():
        raise TrainError(f"checkpoint for sft.rl_init_step={config.rl_init_step} missing in {run.path}")
    run.finish(rl_init_checkpoint=init.name)
    live = next((c for c in trainer.callback_handler.callbacks if hasattr(c, "logged")), None)
    steps_run = trainer.state.global_step - start_step
    return {
        **counts, "steps": trainer.state.global_step, "resumed_from_step": start_step,
        "train_loss": result.training_loss, "last": getattr(live, "logged", {}),
        "rl_init_checkpoint": str(init), "checkpoints": sorted(p.name for p in run.checkpoints().values()),
        "seconds": {"train": round(train_seconds, 2), "per_step": round(train_seconds / max(steps_run, 1), 2),
                    "wall": round(time.perf_counter() - started, 2)},
    }
