"""GRPO of the SFT student with the paper's rule reward (TRL `GRPOTrainer`).

The policy starts from the SFT checkpoint `sft.rl_init_step` picks (`<sft_dir>/checkpoint-N`). The
reward is `imagine.train.rewards.Reward` over the shared *strict* scorer, as four TRL reward
functions (format, commonsense, hard, reflection) that sum to the paper's reward, so TRL logs each
component; TRL also logs `frac_reward_zero_std`, the fraction of prompt groups whose completions all
got the same reward (no learning signal). Rollouts: with `use_vllm` (GPU configs) TRL generates with
vLLM, in-process (`vllm_mode: colocate`) or from a `trl vllm-serve` server (`vllm_mode: server`);
otherwise `engine` picks the lean KV-cache decoder (`imagine.llm.decode`, the transformers backend's
fast path; `auto` = lean for a plain Llama policy on the CPU) or TRL's own `model.generate`.

The policy trains over float32 master weights in every precision (bf16/fp16 are autocast mixed
precision): an update of lr ~1e-6 is far below a bf16 weight's rounding step and would vanish.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from imagine.train.rewards import FIXED, Reward, RewardWeights
from imagine.train.runs import (RunDir, device_flags, fingerprint, make_live_callback, positive_int, positive_number,
                                 precision_flags, save_final)
from imagine.train.sft import TrainError

def live_metrics(reward: Reward) -> dict[str, str]:
    """Trainer log key -> dvclive name: the reward, each of its components, the group spread, KL, lengths."""
    return {
        "reward": "reward", "reward_std": "reward_std", "frac_reward_zero_std": "frac_reward_zero_std",
        **{f"rewards/reward_{c}/mean": f"reward_{c}" for c in reward.components},
        "kl": "kl", "completions/mean_length": "completion_length", "completions/clipped_ratio": "clipped_ratio",
        "entropy": "entropy", "loss": "loss", "learning_rate": "learning_rate", "grad_norm": "grad_norm",
    }
ENGINES = ("auto", "lean", "generate")
LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")


@dataclass
class GRPOParams:
    data: str = "data/filtered/grpo_prompts.parquet"
    sandbox: str = "data/sandbox"
    max_prompt_tokens: int | None = None
    max_samples: int | None = None
    max_steps: int = 2
    learning_rate: float = 1e-6
    lr_scheduler_type: str = "constant"
    per_device_train_batch_size: int = 2
    gradient_accumulation_steps: int = 1
    num_generations: int = 2
    max_completion_length: int = 64
    beta: float = 0.04
    temperature: float = 1.0
    top_p: float = 1.0
    loss_type: str = "grpo"
    num_iterations: int = 1
    mask_truncated_completions: bool = False
    positive_advantages_only: bool = False
    scale_rewards: str = "group"
    precision: str = "fp32"
    gradient_checkpointing: bool = False
    pad_to_multiple_of: int | None = 128
    save_steps: int = 2
    seed: int = 0
    reward: dict = field(default_factory=dict)
    use_vllm: bool = False
    vllm_mode: str = "colocate"
    vllm_server_base_url: str | None = None
    vllm_gpu_memory_utilization: float = 0.3
    engine: str = "auto"

    def __post_init__(self):
        for name in ("max_steps", "per_device_train_batch_size", "gradient_accumulation_steps",
                     "max_completion_length", "save_steps", "num_iterations"):
            positive_int(f"grpo.{name}", getattr(self, name))
        positive_int("grpo.max_prompt_tokens", self.max_prompt_tokens, allow_none=True)
        positive_int("grpo.max_samples", self.max_samples, allow_none=True)
        positive_int("grpo.pad_to_multiple_of", self.pad_to_multiple_of, allow_none=True)
        if isinstance(self.num_generations, bool) or not isinstance(self.num_generations, int) \
                or self.num_generations < 2:
            raise ValueError(f"grpo.num_generations must be an integer >= 2 (a group), got {self.num_generations!r}")
        batch = self.per_device_train_batch_size * self.gradient_accumulation_steps
        if batch % self.num_generations:
            raise ValueError(f"grpo.per_device_train_batch_size x gradient_accumulation_steps ({batch}) must be a "
                             f"multiple of grpo.num_generations ({self.num_generations})")
        positive_number("grpo.learning_rate", self.learning_rate)
        if self.beta < 0:
            raise ValueError(f"grpo.beta (KL coefficient) must be >= 0, got {self.beta!r}")
        if not self.temperature > 0 or not 0 < self.top_p <= 1:
            raise ValueError("grpo.temperature must be > 0 and grpo.top_p in (0, 1]")
        for name in ("mask_truncated_completions", "positive_advantages_only"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"grpo.{name} must be true or false, got {getattr(self, name)!r}")
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(f"grpo.loss_type must be one of {list(LOSS_TYPES)}, got {self.loss_type!r}")
        if self.scale_rewards not in ("group", "batch", "none"):
            raise ValueError(f"grpo.scale_rewards must be group, batch or none, got {self.scale_rewards!r}")
        if self.vllm_mode not in ("colocate", "server"):
            raise ValueError(f"grpo.vllm_mode must be colocate or server, got {self.vllm_mode!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"grpo.engine must be one of {list(ENGINES)}, got {self.engine!r}")
        if not 0 < self.vllm_gpu_memory_utilization <= 1:
            raise ValueError("grpo.vllm_gpu_memory_utilization must lie in (0, 1]")
        precision_flags(self.precision)
        reward = dict(self.reward or {})  # the values now; the group names once the domain is known
        RewardWeights({k: v for k, v in reward.items() if k not in FIXED}, **{k: reward[k] for k in FIXED if k in reward})

    @classmethod
    def from_params(cls, params: dict | None) -> GRPOParams:
        from imagine.params import from_section

        return from_section(cls, params, "grpo")


def init_checkpoint(sft_dir: str | Path, rl_init_step: int) -> Path:
    """The SFT checkpoint GRPO starts from, checked to be a complete, loadable folder."""
    folder = Path(sft_dir) / f"checkpoint-{rl_init_step}"
    if not (folder / "config.json").is_file() or not (folder / "tokenizer_config.json").is_file():
        raise TrainError(f"no SFT checkpoint {str(folder)!r} (sft.rl_init_step={rl_init_step}): "
                         "run `dvc repro sft` first")
    return folder


def load_prompts(config: GRPOParams, domain):
    """The TRL prompt dataset (prompt, query_json) and its counts; the file must pass `domain`'s
    grpo_prompts suite (its checker reads each prompt's query)."""
    import polars as pl
    from datasets import Dataset

    from imagine.checks.filtered import validate_grpo

    path = Path(config.data)
    if not path.is_file():
        raise TrainError(f"no GRPO prompts at {str(path)!r}: run `dvc repro filter` first")
    frame = pl.read_parquet(path)
    # The grpo_prompts suite before any work (no prompt-token budget: that filter follows): a corrupt or
    # hostile file raises DataValidationError (a ValueError) naming the file, column and expectation.
    validate_grpo(frame, source=str(path), domain=domain)
    total = frame.height
    if config.max_prompt_tokens is not None:
        if "prompt_tokens" not in frame.columns:
            raise TrainError(f"{path} has no prompt_tokens column for grpo.max_prompt_tokens")
        frame = frame.filter(pl.col("prompt_tokens") <= config.max_prompt_tokens)
    if config.max_samples is not None:
        frame = frame.head(config.max_samples)
    if frame.height == 0:
        raise TrainError(f"no GRPO prompt left of {total} (grpo.max_prompt_tokens={config.max_prompt_tokens})")
    dataset = Dataset.from_list(frame.select("prompt", "query_json").to_dicts())
    return dataset, {"prompts_total": total, "prompts_used": frame.height}


def build_trainer(config: GRPOParams, model_dir: str | Path, dataset, reward: Reward, out: str | Path, *,
                  live_dir: str | Path | None = None, resume: bool = False):
    from transformers import AutoTokenizer
    from trl import GRPOConfig

    if config.use_vllm:
        import torch

        if not torch.cuda.is_available():
            raise TrainError("grpo.use_vllm needs a CUDA GPU (and the vllm package); set it to false on CPU")
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    vllm = {"use_vllm": True, "vllm_mode": config.vllm_mode,
            "vllm_gpu_memory_utilization": config.vllm_gpu_memory_utilization,
            **({"vllm_server_base_url": config.vllm_server_base_url} if config.vllm_server_base_url else {})} \
        if config.use_vllm else {}
    args = GRPOConfig(
        output_dir=str(out), max_steps=config.max_steps, learning_rate=float(config.learning_rate),
        lr_scheduler_type=config.lr_scheduler_type, per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps, num_generations=config.num_generations,
        max_completion_length=config.max_completion_length, beta=config.beta, temperature=config.temperature,
        top_p=config.top_p, loss_type=config.loss_type, scale_rewards=config.scale_rewards,
        num_iterations=config.num_iterations, mask_truncated_completions=config.mask_truncated_completions,
        pad_to_multiple_of=config.pad_to_multiple_of,
        save_strategy="steps", save_steps=config.save_steps, seed=config.seed, data_seed=config.seed,
        logging_steps=1, report_to="none", disable_tqdm=True, dataloader_num_workers=0,
        activation_checkpointing=config.gradient_checkpointing,  # TRL defaults it on
        model_init_kwargs={"dtype": "float32", "use_safetensors": True, "local_files_only": True},
        **vllm, **precision_flags(config.precision), **device_flags(config.precision))
    callbacks = [make_live_callback(live_dir, live_metrics(reward), resume=resume)] if live_dir else []
    rollout = None if config.use_vllm else lean_rollout(config, model_dir, tokenizer)
    trainer_class = _trainer_class(config.positive_advantages_only)
    return trainer_class(model=str(model_dir), reward_funcs=reward.functions(), args=args, train_dataset=dataset,
                         processing_class=tokenizer, callbacks=callbacks, rollout_func=rollout)


def lean_rollout(config: GRPOParams, model_dir: str | Path, tokenizer):
    """TRL's `rollout_func` on the lean decoder, or None where `config.engine` leaves rollouts to TRL.

    TRL hands it the batch's prompts, each already repeated once per completion of its group; each gets
    one sampled completion (ending with its end-of-turn token, as TRL's own generation keeps it). The
    decoder reads the policy's current weights at every call, and the sampling seed is derived from
    (seed, step, process), so a resumed run draws what the uninterrupted one would have."""
    import torch
    from transformers import AutoConfig

    from imagine.llm.decode import Decoder, supports

    if config.engine == "generate":
        return None
    lean_ok = supports(AutoConfig.from_pretrained(str(model_dir), local_files_only=True))
    if config.engine == "lean" and not lean_ok:
        raise TrainError(f"grpo.engine: lean decodes plain Llama checkpoints only, not {model_dir}")
    if config.engine == "auto" and (not lean_ok or torch.cuda.is_available()):
        return None
    dtype = torch.float32 if config.precision == "fp32" else torch.bfloat16
    end_ids = {tokenizer.eos_token_id} | ({tokenizer.pad_token_id} if tokenizer.pad_token_id is not None else set())

    def rollout(prompts: list, trainer) -> dict:
        ids = [tokenizer(tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False),
                         add_special_tokens=False).input_ids for p in prompts]
        policy = trainer.accelerator.unwrap_model(trainer.model)
        seed = (config.seed * 1_000_003 + trainer.state.global_step) * 64 + trainer.accelerator.process_index
        completions = Decoder(policy, dtype).generate(ids, config.max_completion_length, end_ids,
                                                      temperature=config.temperature, top_p=config.top_p, seed=seed)
        return {"prompt_ids": ids, "completion_ids": completions, "logprobs": None}

    return rollout


def _trainer_class(positive_advantages_only: bool):
    """`GRPOTrainer` with five changes.

    Prompt order. In epoch e it depends on (seed, e) only, so a resumed run sees the same order.

    TRL's `RepeatSampler` draws every epoch's permutation from one generator that advances per pass and
    has no `set_epoch`: a run resumed in a later epoch starts that generator afresh and sees epoch 0's
    order again, so its prompts (and completions) differ from an uninterrupted run's. The Trainer calls
    `set_epoch(e)` on the dataloader before each epoch (resumed or not); accelerate forwards it to the
    sampler, which reseeds its generator with seed + e (epoch 0 keeps TRL's order).

    Positive advantages only (`grpo.positive_advantages_only`, off by default). Completions below their
    group's mean get advantage 0 instead of a negative one: each step only raises the better completions
    of every group, fine-tuning on the policy's own better samples weighted by how much better they are,
    and never pushes down the sampled tokens of the worse ones (at lr 2e-5 the plain loss taught the
    greedy student to loop). Measured against the plain loss in docs/cpu-long-run.md.

    No work for no gradient. With `beta` 0 every loss type is the advantage times a function of the
    log-probabilities, so a micro-batch whose advantages are all 0 (a zero-spread group, or the worse
    half under positive advantages only) adds nothing: on one process its forward and backward are skipped.

    Micro-batches without the generation batch's padding (`trim_padding`).

    The LM head on the completion positions only, on the CPU too (`completion_positions_only`)."""
    import torch
    from torch.utils.data import Sampler
    from trl import GRPOTrainer

    class EpochSeededSampler(Sampler):
        def __init__(self, sampler):
            self.sampler = sampler

        def set_epoch(self, epoch: int) -> None:
            generator = getattr(self.sampler, "generator", None)
            if generator is not None:
                generator.manual_seed((self.sampler.seed or 0) + epoch)

        def __iter__(self):
            return iter(self.sampler)

        def __len__(self):
            return len(self.sampler)

    class Trainer(GRPOTrainer):
        def _get_train_sampler(self, dataset=None):
            return EpochSeededSampler(super()._get_train_sampler(dataset))

        def _get_per_token_logps_and_entropies(self, *args, **kwargs):
            with completion_positions_only():
                return super()._get_per_token_logps_and_entropies(*args, **kwargs)

        def _generate_and_score_completions(self, inputs):
            batch = super()._generate_and_score_completions(inputs)
            if positive_advantages_only:
                batch["advantages"] = batch["advantages"].clamp(min=0.0)
            return batch

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            # Several processes must all run the backward pass (their gradients are reduced together).
            if self.beta == 0.0 and self.accelerator.num_processes == 1 and not inputs["advantages"].any():
                return torch.zeros((), device=inputs["advantages"].device, requires_grad=True)
            return super().compute_loss(model, trim_padding(inputs, self.pad_to_multiple_of), return_outputs,
                                        num_items_in_batch)

    return Trainer


def trim_padding(inputs: dict, multiple: int | None) -> dict:
    """A micro-batch without the padding columns none of its rows uses (kept to a multiple of `multiple`).

    TRL pads the prompts (on the left) and the completions (on the right) of a whole generation batch to
    the batch's longest, and splits it into micro-batches afterwards: a completion trained on its own
    still ran through the batch's longest prompt and longest completion. Padding is masked out of the
    loss and of attention, and rotary position embeddings (the Llama students here) make attention depend
    on relative positions only, so the loss is the same. A model with absolute position embeddings would
    differ slightly: its prompt would start at position 0, as in generation, instead of after the padding."""
    def kept(used: int, total: int) -> int:
        return min(total, -(-max(used, 1) // multiple) * multiple) if multiple else max(used, 1)

    prompt_mask, completion_mask = inputs["prompt_mask"], inputs["completion_mask"]
    prompt_len, completion_len = prompt_mask.size(1), completion_mask.size(1)
    prompt_cols = prompt_mask.any(0).nonzero()
    prompt_keep = kept(prompt_len - int(prompt_cols[0]) if len(prompt_cols) else 0, prompt_len)
    completion_cols = completion_mask.any(0).nonzero()
    completion_keep = kept(int(completion_cols[-1]) + 1 if len(completion_cols) else 0, completion_len)
    trimmed = dict(inputs)
    for key, value in inputs.items():
        if key in ("prompt_ids", "prompt_mask"):
            trimmed[key] = value[:, prompt_len - prompt_keep:]
        elif hasattr(value, "shape") and tuple(value.shape) == tuple(completion_mask.shape):
            trimmed[key] = value[:, :completion_keep]  # ids, mask and every per-token tensor of the completions
    return trimmed


@contextmanager
def completion_positions_only():
    """TRL's fused LM head projects only the completion positions through the vocabulary on CUDA/XPU,
    but every position (the ~1k-token prompt and the padding too) on other devices, to keep tile shapes
    fixed for compilers that need them. On the CPU nothing recompiles and the head is a third of the
    cost: scoring the completion only took a 2.2k-token GRPO sample's forward+backward from ~10 s to ~7 s.
    The log-probabilities are the same (tests/test_train.py)."""
    import trl.trainer.utils as trl_utils

    device_check = trl_utils._use_triton
    trl_utils._use_triton = lambda device: device.type == "cpu" or device_check(device)
    try:
        yield
    finally:
        trl_utils._use_triton = device_check


def strict_reward(config: GRPOParams, domain) -> Reward:
    """The reward over `domain`'s strict checker on the world at `grpo.sandbox`, weighted by `grpo.reward`."""
    if not Path(config.sandbox).is_dir():
        raise TrainError(f"no sandbox at {str(config.sandbox)!r} (grpo.sandbox): run `dvc repro sandbox` first")
    checker = domain.checker(domain.load_world(config.sandbox), "strict")
    return Reward(checker, RewardWeights.from_params(config.reward, checker.groups))


def run_grpo(config: GRPOParams, model_dir: str | Path, out: str | Path, live_dir: str | Path,
             reward: Reward, domain) -> dict:
    """Train from `model_dir` (or resume a killed run) with `reward` (see `strict_reward`) on `domain`'s
    prompts, save `<out>/final`; returns the metrics report."""
    started = time.perf_counter()
    dataset, counts = load_prompts(config, domain)
    run = RunDir(out)
    weights = [p for p in sorted(Path(model_dir).glob("*.safetensors"))]
    resume_from = run.prepare(fingerprint(asdict(config), str(Path(model_dir).resolve()), *weights,
                                          Path(config.data)))
    trainer = build_trainer(config, model_dir, dataset, reward, out, live_dir=live_dir,
                            resume=resume_from is not None)
    start_step = int(resume_from.name.rsplit("-", 1)[1]) if resume_from else 0
    trained = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    train_seconds = time.perf_counter() - trained
    save_final(trainer, run.path / "final")
    run.finish()
    live = next((c for c in trainer.callback_handler.callbacks if hasattr(c, "logged")), None)
    steps_run = trainer.state.global_step - start_step
    return {
        **counts, "init_checkpoint": str(model_dir), "steps": trainer.state.global_step,
        "resumed_from_step": start_step, "train_loss": result.training_loss, "last": getattr(live, "logged", {}),
        "seconds": {"train": round(train_seconds, 2), "per_step": round(train_seconds / max(steps_run, 1), 2),
                    "wall": round(time.perf_counter() - started, 2)},
    }
