"""Real TRL SFT and GRPO steps on the tiny model: assistant-only loss mask, checkpoints, resume after a
kill, the strict reward's components and the zero-spread fraction in the dvclive logs."""

import json
import math

import polars as pl
import pytest
import yaml

from tests.conftest import ROOT

SYSTEM = "You are a travel planner."


def _sft_rows(n=6):
    """SFT samples that pass the sft suite (the loader validates its input): the DESIGN section 1 layout."""
    from imagine.answer import format_answer

    rows = []
    for i in range(n):
        rows.append({
            "query_id": f"q{i}", "split": "train", "level": "easy",
            "prompt": [{"role": "system", "content": SYSTEM},
                       {"role": "user", "content": f"Plan a 3-day trip from Seattle to Los Angeles, budget {1000 + i}."}],
            "completion": [{"role": "assistant",
                            "content": format_answer(f"budget {i}", None, [{"days": 1, "current_city": "-"}])}],
            "tokens": 80, "reflected": False})
    rows.append({**rows[0], "query_id": "long", "tokens": 10_000})  # longer than max_length: dropped
    return rows


def _grpo_rows(queries):
    """GRPO prompts (data/filtered/grpo_prompts.parquet rows) that pass the grpo_prompts suite, from
    TravelPlanner query records (the loader validates its input)."""
    rows = []
    for query in queries:
        record = {k: v for k, v in query.items() if k not in ("plan", "idx", "query")}
        rows.append({"query_id": f"{len(rows):016x}", "split": "train", "level": query["level"],
                     "prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": query["query"]}],
                     "query_json": json.dumps(record), "prompt_tokens": 50,
                     **{k: query[k] for k in ("org", "dest", "days", "visiting_city_number", "people_number",
                                              "budget")}})
    return rows


@pytest.fixture()
def sft_data(tmp_path):
    path = tmp_path / "sft.parquet"
    pl.DataFrame(_sft_rows()).write_parquet(path)
    return path


def _sft_config(tiny_model, data, **overrides):
    from imagine.train.sft import SFTParams

    values = dict(model=str(tiny_model), data=str(data), max_steps=4, save_steps=2, rl_init_step=2,
                  max_length=256, learning_rate=1e-3, per_device_train_batch_size=2)
    values.update(overrides)
    return SFTParams(**values)


def test_assistant_only_mask(tiny_model, sft_data, tmp_path):
    from imagine.train.sft import build_trainer, load_dataset

    config = _sft_config(tiny_model, sft_data)
    dataset, counts = load_dataset(config)
    assert counts == {"samples_in_splits": 7, "samples_used": 6, "samples_dropped_overlong": 1}
    trainer = build_trainer(config, dataset, tmp_path / "out")
    tokenizer = trainer.processing_class
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    for row in range(2):
        ids, labels = batch["input_ids"][row], batch["labels"][row]
        real = batch["attention_mask"][row].bool()
        trained = (labels != -100) & real
        prompt_len = len(tokenizer.apply_chat_template(dataset[row]["prompt"], add_generation_prompt=True))
        first = int(real.nonzero()[0])  # padding may come first
        assert (labels[first:first + prompt_len] == -100).all(), "a prompt token carries a label"
        assert trained.sum() > 0 and (labels[trained] == ids[trained]).all()
        text = tokenizer.decode(ids[trained])
        assert "<think>\nbudget" in text and SYSTEM not in text and "Seattle" not in text


@pytest.mark.parametrize("precision, autocast", [("bf16", True), ("fp32", False)])
def test_sft_forward_runs_in_the_chosen_precision(tiny_model, sft_data, tmp_path, precision, autocast):
    """The loss calls the model's body and head itself (not the forward accelerate wraps for mixed
    precision), so it must enter the autocast itself: bf16 once ran silently in fp32 at ~1.7x the time."""
    import torch

    from imagine.train.sft import build_trainer, load_dataset

    config = _sft_config(tiny_model, sft_data, precision=precision, max_steps=1, save_steps=1, rl_init_step=1)
    dataset, _ = load_dataset(config)
    trainer = build_trainer(config, dataset, tmp_path / "out")
    trainer.args.save_strategy = "no"
    seen = []
    body = trainer.model.model
    forward = body.forward

    def recording(*args, **kwargs):
        seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return forward(*args, **kwargs)

    body.forward = recording
    trainer.train()
    assert seen and all(enabled == autocast for enabled, _ in seen)
    if autocast:
        assert all(dtype == torch.bfloat16 for _, dtype in seen)


def test_sft_trains_saves_checkpoints_and_resumes(tiny_model, sft_data, tmp_path):
    from imagine.train.runs import RunDir
    from imagine.train.sft import run_sft

    out, live = tmp_path / "sft", tmp_path / "live"
    config = _sft_config(tiny_model, sft_data)
    # A "killed" run: train 2 of 4 steps with the same config, then stop without finishing.
    import dataclasses

    from imagine.train.runs import fingerprint
    from imagine.train.sft import build_trainer, load_dataset
    run = RunDir(out)
    fp = fingerprint({k: v for k, v in dataclasses.asdict(config).items() if k != "rl_init_step"}, sft_data)
    assert run.prepare(fp) is None
    dataset, _ = load_dataset(config)
    partial = build_trainer(config, dataset, out, live_dir=live)
    partial.args.max_steps = 2  # stands in for the kill after the step-2 checkpoint
    partial.train()
    assert list(run.checkpoints()) == [2] and not run.meta()["finished"]

    report = run_sft(config, out, live)
    assert report["resumed_from_step"] == 2 and report["steps"] == 4
    assert math.isfinite(report["train_loss"])
    assert list(run.checkpoints()) == [2, 4] and run.meta()["finished"]
    assert (out / "final" / "model.safetensors").is_file() and (out / "final" / "tokenizer_config.json").is_file()
    assert report["rl_init_checkpoint"].endswith("checkpoint-2")
    for name in ("loss", "learning_rate", "grad_norm", "mean_token_accuracy"):
        rows = (live / "plots" / "metrics" / f"{name}.tsv").read_text().splitlines()
        assert rows[0] == f"step\t{name}"
        steps = [int(r.split("\t")[0]) for r in rows[1:]]
        assert steps == [1, 2, 3, 4], (name, steps)  # resumed rows continue the killed run's
        assert all(math.isfinite(float(r.split("\t")[1])) for r in rows[1:])

    # A finished run (or a params change) starts afresh instead of resuming.
    assert run.prepare(fp) is None and not run.checkpoints()


def test_sft_params_are_validated():
    from imagine.train.sft import SFTParams

    with pytest.raises(ValueError, match="multiple of sft.save_steps"):
        SFTParams(max_steps=10, save_steps=4, rl_init_step=6)
    with pytest.raises(ValueError, match="past sft.max_steps"):
        SFTParams(max_steps=2, save_steps=2, rl_init_step=4)
    with pytest.raises(ValueError, match=r"unknown key sft.max_step \(did you mean max_steps\?\)"):
        SFTParams.from_params({"max_step": 3})
    with pytest.raises(ValueError, match="precision"):
        SFTParams(precision="fp8")
    with pytest.raises(ValueError, match="sft.learning_rate must be a number > 0"):
        SFTParams(learning_rate=0)


def test_grpo_params_are_validated():
    from imagine.train.grpo import GRPOParams

    with pytest.raises(ValueError, match="multiple of grpo.num_generations"):
        GRPOParams(per_device_train_batch_size=3, num_generations=2)
    with pytest.raises(ValueError, match="num_generations"):
        GRPOParams(num_generations=1)
    with pytest.raises(ValueError, match="format_penalty"):
        GRPOParams(reward={"format_penalty": 0.0})
    with pytest.raises(ValueError, match="grpo.engine must be one of"):
        GRPOParams(engine="vllm")
    with pytest.raises(ValueError, match="grpo.num_iterations"):
        GRPOParams(num_iterations=0)
    with pytest.raises(ValueError, match="grpo.mask_truncated_completions must be true or false"):
        GRPOParams(mask_truncated_completions="yes")
    with pytest.raises(ValueError, match="grpo.positive_advantages_only must be true or false"):
        GRPOParams(positive_advantages_only=1)
    # YAML reads 5e-6 (no dot) as a string: the error says so instead of a bare TypeError
    with pytest.raises(ValueError, match=r"grpo.learning_rate must be a number > 0, got '5e-6' \(YAML"):
        GRPOParams.from_params(yaml.safe_load("learning_rate: 5e-6"))


@pytest.mark.parametrize("engine", ["lean", "generate"])  # rollouts by the lean decoder or TRL's generate
def test_grpo_steps_with_the_strict_reward(tiny_model, scorers, train_queries, tmp_path, engine):
    from imagine.domain import get_domain
    from imagine.train.grpo import GRPOParams, run_grpo
    from imagine.train.rewards import Reward, RewardWeights

    data = tmp_path / "grpo.parquet"
    pl.DataFrame(_grpo_rows(train_queries[:2])).write_parquet(data)
    config = GRPOParams(data=str(data), max_steps=2, num_generations=2, per_device_train_batch_size=2,
                        max_completion_length=8, save_steps=2, beta=0.04, engine=engine)
    out, live = tmp_path / "grpo", tmp_path / "live"
    report = run_grpo(config, tiny_model, out, live, reward=Reward(scorers["strict"], RewardWeights.from_params(
        config.reward, scorers["strict"].groups)), domain=get_domain("travelplanner"))
    assert report["steps"] == 2 and (out / "final" / "model.safetensors").is_file()
    metrics = live / "plots" / "metrics"
    for name in ("reward_format", "reward_commonsense", "reward_hard", "reward_reflection",
                 "frac_reward_zero_std", "kl", "completion_length"):
        rows = (metrics / f"{name}.tsv").read_text().splitlines()
        assert len(rows) == 3, name  # header + one row per step
    # A random tiny model writes no <think> block: every completion gets the format penalty, so every
    # group has zero reward spread.
    assert report["last"]["reward_format"] == -1.0 and report["last"]["frac_reward_zero_std"] == 1.0


def _one_reward(component: str, score):
    """A stand-in for `imagine.train.rewards.Reward` with one component: `score(completion)` per completion."""
    class OneReward:
        components = (component,)

        def functions(self):
            def reward(prompts, completions, **columns):
                return [float(score(c)) for c in completions]
            reward.__name__ = f"reward_{component}"  # TRL logs each function under its name
            return [reward]

    return OneReward()


@pytest.fixture()
def hash_reward_trainer(tiny_model, train_queries, tmp_path):
    """A GRPO trainer (beta 0, positive advantages only) on the tiny model whose reward spreads every
    group: different completions, different rewards."""
    import zlib

    from imagine.domain import get_domain
    from imagine.train.grpo import GRPOParams, build_trainer, load_prompts

    data = tmp_path / "grpo.parquet"
    pl.DataFrame(_grpo_rows(train_queries[:2])).write_parquet(data)
    config = GRPOParams(data=str(data), max_steps=1, num_generations=4, per_device_train_batch_size=4,
                        max_completion_length=8, beta=0.0, temperature=1.0, positive_advantages_only=True,
                        pad_to_multiple_of=None)
    dataset, _ = load_prompts(config, get_domain("travelplanner"))
    return build_trainer(config, tiny_model, dataset,
                         _one_reward("hash", lambda c: zlib.crc32(str(c).encode()) % 7), tmp_path / "grpo")


def test_positive_advantages_only_and_no_work_for_zero_advantages(hash_reward_trainer):
    """`positive_advantages_only` floors every advantage at 0; with beta 0 a micro-batch whose advantages
    are all 0 is not run through the model (its loss and gradient are 0 anyway)."""
    import torch

    trainer = hash_reward_trainer
    batch = trainer._generate_and_score_completions(next(iter(trainer.get_train_dataloader())))
    advantages = batch["advantages"]
    assert (advantages >= 0).all() and (advantages > 0).any() and (advantages == 0).any()

    forwards = []
    trainer.model.register_forward_hook(lambda *args: forwards.append(1))
    skipped = trainer.compute_loss(trainer.model, {**batch, "advantages": torch.zeros_like(advantages)})
    assert skipped.item() == 0.0 and skipped.requires_grad and not forwards
    assert trainer.compute_loss(trainer.model, batch).grad_fn is not None and forwards


@pytest.mark.parametrize("engine", ["lean", "generate"])
def test_grpo_raises_a_reward_the_policy_can_reach(tiny_model, train_queries, tmp_path, engine):
    """The whole GRPO loop (rollouts, advantages, the trimmed completion-only loss, the update) moves the
    policy up its reward: rewarded for the share of digits it writes, the tiny model writes more of them
    within 30 steps (an advantage of the wrong sign, or log-probs of the wrong tokens, would not)."""
    from imagine.domain import get_domain
    from imagine.train.grpo import GRPOParams, build_trainer, load_prompts
    from imagine.train.rewards import _text

    def digit_share(completion):
        text = _text(completion)
        return sum(ch.isdigit() for ch in text) / max(len(text), 1)

    data = tmp_path / "grpo.parquet"
    pl.DataFrame(_grpo_rows(train_queries[:4])).write_parquet(data)
    config = GRPOParams(data=str(data), max_steps=30, num_generations=8, per_device_train_batch_size=8,
                        gradient_accumulation_steps=2, max_completion_length=16, beta=0.0, temperature=1.0,
                        learning_rate=1e-3, save_steps=100, engine=engine)
    dataset, _ = load_prompts(config, get_domain("travelplanner"))
    trainer = build_trainer(config, tiny_model, dataset, _one_reward("digits", digit_share), tmp_path / "grpo")
    trainer.train()
    rewards = [entry["reward"] for entry in trainer.state.log_history if "reward" in entry]
    first, last = sum(rewards[:5]) / 5, sum(rewards[-5:]) / 5
    assert len(rewards) == 30 and last > 2 * first, rewards


def test_micro_batches_drop_the_generation_batchs_padding(hash_reward_trainer):
    """A micro-batch padded to a longer prompt and completion than its own (as TRL pads a whole
    generation batch) is trimmed back, and its loss and gradients do not change."""
    import torch
    from trl import GRPOTrainer

    from imagine.train.grpo import trim_padding

    trainer = hash_reward_trainer
    batch = trainer._generate_and_score_completions(next(iter(trainer.get_train_dataloader())))
    batch = {k: v[:1] if isinstance(v, torch.Tensor) and v.dim() else v for k, v in batch.items()}  # one completion
    batch["advantages"] = torch.ones_like(batch["advantages"])
    pad_id = trainer.processing_class.pad_token_id
    padded = {**batch,
              "prompt_ids": torch.nn.functional.pad(batch["prompt_ids"], (5, 0), value=pad_id),
              "prompt_mask": torch.nn.functional.pad(batch["prompt_mask"], (5, 0)),
              "completion_ids": torch.nn.functional.pad(batch["completion_ids"], (0, 3), value=pad_id),
              "completion_mask": torch.nn.functional.pad(batch["completion_mask"], (0, 3))}
    trimmed = trim_padding(padded, None)
    for key in ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask"):
        assert torch.equal(trimmed[key], batch[key]), key
    assert trim_padding(padded, 4)["completion_ids"].size(1) % 4 == 0

    def loss_and_grad(inputs):
        trainer.model.zero_grad()
        loss = GRPOTrainer.compute_loss(trainer, trainer.model, inputs)  # TRL's own loss, no trimming
        loss.backward()
        return loss.detach(), trainer.model.lm_head.weight.grad.clone()

    for a, b in zip(loss_and_grad(padded), loss_and_grad(trimmed)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_completion_only_scoring_gives_the_same_log_probs(tiny_model):
    """On the CPU TRL's fused LM head scores every position; the GRPO trainer scores the completion's
    only (a third faster on real samples): the log-probabilities and their gradients must not change."""
    from contextlib import nullcontext

    import torch
    import trl.trainer.utils as trl_utils
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    from imagine.train.grpo import completion_positions_only

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.float32)
    add_fused_lm_head(model, temperature=0.7, outputs=("log_probs", "entropy"))
    ids = torch.randint(3, model.config.vocab_size, (2, 24))
    mask = torch.ones_like(ids)
    mask[1, :5] = 0  # a left-padded prompt
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, :14] = -100  # the prompt: the last 10 tokens are the completion

    def score(compact):
        model.zero_grad()
        with completion_positions_only() if compact else nullcontext():
            out = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
        out.log_probs.sum().backward()
        return out.log_probs.detach(), out.entropy.detach(), model.lm_head.weight.grad.clone()

    with completion_positions_only():
        assert trl_utils._use_triton(torch.device("cpu"))
    assert not trl_utils._use_triton(torch.device("cpu"))
    every, compact = score(False), score(True)
    for a, b in zip(every, compact):
        torch.testing.assert_close(a, b)
    assert every[0][:, -10:].ne(0).all()


def _stage_params(stage):
    names = []
    for entry in stage.get("params", []):
        names.extend(entry if isinstance(entry, dict) else [entry])
    return [n for n in names if isinstance(n, str)]


def test_dvc_yaml_a_grpo_param_touches_only_grpo_and_what_follows():
    """Static check of dvc.yaml: only grpo and the evaluation after it (the reward weights) read `grpo`
    params, no stage upstream of grpo depends on its outputs, and the SFT run folder survives a kill
    (persist) for resume."""
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    stages = spec["stages"]
    readers = {name: [p for p in _stage_params(stage) if p == "grpo" or p.startswith("grpo.")]
               for name, stage in stages.items()}
    assert {name: read for name, read in readers.items() if read} == {"grpo": ["grpo"], "evaluate": ["grpo.reward"]}
    assert "models/grpo" in stages["evaluate"]["deps"]
    grpo_outs = {next(iter(o)) if isinstance(o, dict) else o for o in stages["grpo"]["outs"]}
    upstream = {"sandbox", "queries", "traces", "filter", "base_model", "sft"}
    for name in upstream & set(stages):
        deps = set(stages[name].get("deps", []))
        assert not any(d == o or d.startswith(o + "/") for d in deps for o in grpo_outs), name
    sft_outs = {next(iter(o)): o[next(iter(o))] for o in stages["sft"]["outs"] if isinstance(o, dict)}
    assert sft_outs["models/sft"]["persist"] is True
    assert "models/sft" in stages["grpo"]["deps"] and "sft.rl_init_step" in _stage_params(stages["grpo"])
    plotted = {path for plot in spec["plots"] for body in plot.values() for path in body["y"]}
    for name in ("loss", "learning_rate", "grad_norm", "mean_token_accuracy"):
        assert f"reports/sft_live/plots/metrics/{name}.tsv" in plotted
    for name in ("reward_format", "reward_commonsense", "reward_hard", "reward_reflection",
                 "frac_reward_zero_std", "kl", "completion_length"):
        assert f"reports/grpo_live/plots/metrics/{name}.tsv" in plotted
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    from imagine.train.grpo import GRPOParams
    from imagine.train.sft import SFTParams

    SFTParams.from_params(params["sft"])
    GRPOParams.from_params(params["grpo"])
