"""The lean Llama decoder against `transformers.generate` on the tiny offline model (float32, CPU)."""

import pytest
import torch

from imagine.llm.decode import BLOCK, Decoder, supports

PROMPTS = ["Hi", "Plan a 3-day trip from Seattle to Los Angeles for two people with a budget of $1,800.",
           "budget 1800", "Day 1: Flight Number: F3573659, from Seattle to Los Angeles"]


@pytest.fixture(scope="module")
def loaded(tiny_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    return model, tokenizer


def reference(model, tokenizer, prompts: list[list[int]], max_new: int) -> list[list[int]]:
    """transformers' greedy answers, one prompt at a time (no padding), cut after the first end token."""
    answers = []
    for ids in prompts:
        with torch.inference_mode():
            out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 max_new_tokens=max_new, do_sample=False, eos_token_id=tokenizer.eos_token_id,
                                 pad_token_id=tokenizer.pad_token_id)[0, len(ids):].tolist()
        end = out.index(tokenizer.eos_token_id) + 1 if tokenizer.eos_token_id in out else len(out)
        answers.append(out[:end])
    return answers


def test_greedy_float32_equals_transformers_generate_in_a_ragged_batch(loaded):
    model, tokenizer = loaded
    prompts = [tokenizer(p).input_ids for p in PROMPTS]
    assert len({len(p) for p in prompts}) > 1  # left-aligned lengths differ: padding is exercised
    max_new = BLOCK + 20  # crosses a cache growth
    got = Decoder(model, torch.float32).generate(prompts, max_new, {tokenizer.eos_token_id})
    assert got == reference(model, tokenizer, prompts, max_new)


def test_finished_rows_leave_the_batch_without_changing_the_others(loaded):
    model, tokenizer = loaded
    prompts = [tokenizer(p).input_ids for p in PROMPTS]
    decoder = Decoder(model, torch.float32)
    full = decoder.generate(prompts, 40, set())
    # ending sequence 0 after 3 tokens and 2 after 5 compacts the batch twice mid-run
    stops = {0: 3, 2: 5}
    cut = decoder.generate(prompts, 40, set(), stop=lambda i, ids: len(ids) >= stops.get(i, 10 ** 6))
    assert [len(c) for c in cut] == [3, 40, 5, 40]
    assert all(c == f[:len(c)] for c, f in zip(cut, full))


def test_sampling_is_seeded_and_respects_top_p(loaded):
    model, tokenizer = loaded
    prompts = [tokenizer(p).input_ids for p in PROMPTS]
    decoder = Decoder(model, torch.float32)
    a = decoder.generate(prompts, 12, set(), temperature=1.0, seed=3)
    assert a == decoder.generate(prompts, 12, set(), temperature=1.0, seed=3)
    assert a != decoder.generate(prompts, 12, set(), temperature=1.0, seed=4)
    greedy = decoder.generate(prompts, 12, set())
    assert decoder.generate(prompts, 12, set(), temperature=1.0, top_p=1e-6, seed=5) == greedy  # top token only


def test_bfloat16_stays_close_to_float32(loaded):
    model, tokenizer = loaded
    prompts = [tokenizer(p).input_ids for p in PROMPTS]
    exact = Decoder(model, torch.float32).generate(prompts, 8, set())
    rounded = Decoder(model, torch.bfloat16).generate(prompts, 8, set())
    assert sum(a == b for x, y in zip(exact, rounded) for a, b in zip(x, y)) >= 0.75 * 8 * len(prompts)


def test_only_plain_llama_is_supported(loaded):
    from transformers import Qwen2Config

    model, _ = loaded
    assert supports(model.config)
    assert not supports(Qwen2Config())
    scaled = model.config.__class__(**{**model.config.to_dict(), "rope_scaling": {"rope_type": "linear", "factor": 2.0}})
    assert not supports(scaled)
    with pytest.raises(ValueError, match="plain Llama"):
        Decoder(type("M", (), {"config": Qwen2Config()})())
