"""The transformers backend on the tiny offline model (fp32, CPU, one thread)."""

import json
import shutil

import pytest

from imagine.llm.base import Request, Sampling, cannot_start_with
from imagine.llm.cache import CallCache, cached_generate
from imagine.llm.registry import build_backend
from imagine.llm.transformers_backend import TransformersBackend, count_generated, cut_at_stop

PROMPTS = [
    "Hi",
    "Plan a 3-day trip from Seattle to Los Angeles for two people with a budget of $1,800.",
    "budget 1800",
    "x",
    "Day 1: Flight Number: F3573659, from Seattle to Los Angeles, Departure Time: 08:00, Arrival Time: 10:00",
]
GREEDY = Sampling(max_tokens=10)


def chat(text, system=None):
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
    return Request(tuple(messages))


@pytest.fixture(scope="module")
def requests_():
    return [chat(p, system="Be brief." if i % 2 else None) for i, p in enumerate(PROMPTS)]


@pytest.fixture(scope="module")
def backend(tiny_model):
    import torch

    threads = torch.get_num_threads()
    backend = TransformersBackend(str(tiny_model), device="cpu", dtype="float32", batch_size=2, threads=1)
    yield backend
    backend.close()
    torch.set_num_threads(threads)


def test_refuses_a_missing_folder_with_a_clear_message(tmp_path):
    with pytest.raises(ValueError, match="not a local checkpoint folder.*never downloaded"):
        TransformersBackend("HuggingFaceTB/SmolLM2-135M-Instruct")
    with pytest.raises(ValueError, match="not a local checkpoint folder"):
        build_backend({"backend": "transformers", "model": str(tmp_path / "nope")})
    with pytest.raises(ValueError, match="no config.json"):
        TransformersBackend(str(tmp_path))


def test_batched_greedy_equals_one_by_one_in_input_order(backend, requests_):
    seen = {}
    batched = backend.generate(requests_, GREEDY, on_output=lambda i, o: seen.setdefault(i, []).append(o))
    single = [backend.generate([r], GREEDY)[0] for r in requests_]
    assert [o.text for o in batched] == [o.text for o in single]
    assert [o.tokens_out for o in batched] == [o.tokens_out for o in single]
    assert len({o.text for o in batched}) > 1  # the tiny model's answers differ by prompt
    # on_output: every item exactly once, with the object returned
    assert sorted(seen) == list(range(len(requests_)))
    assert all(len(v) == 1 and v[0] is batched[i] for i, v in seen.items())
    assert all(o.error is None and o.latency_ms > 0 and not o.cached for o in batched)


def test_left_padding(backend, requests_):
    assert backend.tokenizer.padding_side == "left"
    texts = [backend.prompt_text(requests_[3]), backend.prompt_text(requests_[4])]
    batch = backend.encode(texts)
    short, long_ = batch["attention_mask"].tolist()
    assert long_ == [1] * len(long_)
    pads = len(short) - sum(short)
    assert pads > 0 and short == [0] * pads + [1] * (len(short) - pads)
    assert batch["input_ids"][0, :pads].tolist() == [backend.tokenizer.pad_token_id] * pads


def test_deterministic_for_a_seed_and_rng_left_alone(backend, requests_):
    import torch

    greedy = [o.text for o in backend.generate(requests_, GREEDY)]
    assert greedy == [o.text for o in backend.generate(requests_, GREEDY)]
    sampled = Sampling(max_tokens=10, temperature=1.0, top_p=0.95, seed=7)
    state = torch.random.get_rng_state()
    first = [o.text for o in backend.generate(requests_, sampled)]
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's RNG is not consumed
    assert first == [o.text for o in backend.generate(requests_, sampled)]
    other = [o.text for o in backend.generate(requests_, Sampling(max_tokens=10, temperature=1.0, seed=8))]
    assert other != first


def test_token_counts(backend, requests_):
    outputs = backend.generate(requests_, GREEDY)
    for request, output in zip(requests_, outputs):
        ids = backend.tokenizer.apply_chat_template(list(request.messages), add_generation_prompt=True,
                                                    tokenize=True, return_dict=True)["input_ids"]
        assert output.tokens_in == len(ids)
        assert 0 <= output.tokens_out <= GREEDY.max_tokens


def _greedy_ids(backend, request, n):
    enc = backend.encode([backend.prompt_text(request)])
    out = backend.lm.generate(**enc, max_new_tokens=n, do_sample=False, pad_token_id=backend.tokenizer.pad_token_id,
                              eos_token_id=backend.eos_ids)
    return out[0, enc["input_ids"].shape[1]:].tolist()


def test_generated_tokens_stop_at_eos_and_exclude_padding(backend, requests_, tiny_model, tmp_path):
    """Make a token the greedy path reaches at step k an end-of-sequence token: tokens_out == k."""
    import torch

    target = requests_[1]
    ids = _greedy_ids(backend, target, 10)
    assert len(ids) == 10, "the tiny model ended early; pick another prompt"
    k = next(k for k in range(2, 10) if ids[k] not in ids[:k])
    folder = tmp_path / "eos_model"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "generation_config.json").read_text())
    config["eos_token_id"] = [backend.tokenizer.eos_token_id, ids[k]]
    (folder / "generation_config.json").write_text(json.dumps(config))
    threads = torch.get_num_threads()
    other = TransformersBackend(str(folder), device="cpu", dtype="float32", batch_size=3, threads=1)
    try:
        assert other.model != backend.model  # a changed checkpoint is a different cache identity
        outputs = other.generate(requests_[:3], GREEDY)  # the target shares its batch with longer rows
    finally:
        torch.set_num_threads(threads)
    assert outputs[1].tokens_out == k
    assert outputs[1].text == backend.tokenizer.decode(ids[:k], skip_special_tokens=True)


def test_stop_strings_cut_the_text(backend, requests_):
    full = backend.generate(requests_[:2], GREEDY)
    stop = full[1].text[3:5]
    assert stop.strip(), f"pick another slice of {full[1].text!r}"
    cut = backend.generate(requests_[:2], Sampling(max_tokens=10, stop=(stop,)))
    assert cut[1].text == full[1].text[:full[1].text.find(stop)]
    assert stop not in cut[1].text
    assert cut[1].tokens_out <= full[1].tokens_out


def test_prompt_longer_than_the_context_is_an_error_output(backend, requests_):
    saved = backend.context
    backend.context = 20
    try:
        outputs = backend.generate(requests_, GREEDY)
    finally:
        backend.context = saved
    for output in outputs:
        if output.tokens_in >= 20:
            assert output.text is None and "context is 20" in output.error
        else:
            assert output.text is not None and output.error is None
    assert any(o.text is None for o in outputs) and any(o.text is not None for o in outputs)


def test_registry_and_cache(tiny_model, tmp_path, requests_):
    import torch

    threads = torch.get_num_threads()
    try:
        backend = build_backend({"backend": "transformers", "model": str(tiny_model), "device": "cpu",
                                 "dtype": "float32", "batch_size": 4, "threads": 1})
        assert backend.name == "transformers" and backend.model.startswith(f"{tiny_model}@")
        cache = CallCache(tmp_path / "cache.sqlite")
        first = cached_generate(backend, requests_[:3], GREEDY, cache)
        again = cached_generate(backend, requests_[:3], GREEDY, cache)
        cache.close()
    finally:
        torch.set_num_threads(threads)
    assert [o.text for o in again] == [o.text for o in first]
    assert all(o.cached for o in again) and not any(o.cached for o in first)


def test_an_answer_that_cannot_open_as_required_ends_at_once(backend, requests_):
    full = backend.generate([requests_[1]], GREEDY)[0]
    assert full.tokens_out > 2 and cannot_start_with(full.text, "<think>"), full.text
    cut = backend.generate([requests_[1]], Sampling(max_tokens=10, must_start_with="<think>"))[0]
    assert full.text.startswith(cut.text) and cut.tokens_out < full.tokens_out
    assert cannot_start_with(cut.text, "<think>") and cut.tokens_out <= 2  # a space token, then the one ruling it out
    # an answer that does open as required runs on as before
    own = Sampling(max_tokens=10, must_start_with=full.text.lstrip()[:4])
    assert backend.generate([requests_[1]], own)[0].text == full.text


def test_helpers():
    import torch

    assert not cannot_start_with("\n <thi", "<think>") and not cannot_start_with("<think> plan", "<think>")
    assert cannot_start_with("{", "<think>") and cannot_start_with(" <tink>", "<think>")

    assert cut_at_stop("abc</s>def", ("</s>", "d")) == "abc"
    assert cut_at_stop("abc", ()) == "abc"
    assert count_generated(torch.tensor([5, 6, 2, 0, 0]), {2, 0}) == 2
    assert count_generated(torch.tensor([5, 6, 7]), {2, 0}) == 3


def test_lean_and_generate_engines_give_the_same_answers(tiny_model, requests_):
    lean = TransformersBackend(str(tiny_model), device="cpu", dtype="float32", batch_size=3, engine="lean")
    generate = TransformersBackend(str(tiny_model), device="cpu", dtype="float32", batch_size=3, engine="generate")
    assert (lean.engine, generate.engine) == ("lean", "generate")
    stop = Sampling(max_tokens=12, stop=("e",))
    for sampling in (GREEDY, stop):
        a, b = lean.generate(requests_, sampling), generate.generate(requests_, sampling)
        assert [(o.text, o.tokens_out) for o in a] == [(o.text, o.tokens_out) for o in b]
    with pytest.raises(ValueError, match="engine must be one of"):
        TransformersBackend(str(tiny_model), engine="fast")
