"""A tiny, randomly initialised Llama-style chat model built offline, for tests.

`make_tiny_model(path)` writes a complete checkpoint folder (config, safetensors weights,
generation config, tokenizer with a ChatML chat template) without touching any model hub: the
byte-level BPE tokenizer is trained in code on a few sentences, so it can encode any text (no
unknown tokens). The weights are seeded, so two builds are identical. Reused by the backend, SFT
and GRPO tests.
"""

from __future__ import annotations

from pathlib import Path

SPECIAL_TOKENS = ["<|pad|>", "<|im_start|>", "<|im_end|>"]

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_CORPUS = [
    "Plan a 3-day trip from Seattle to Los Angeles for 2 people with a budget of $1,800.",
    "Day 1: Flight Number: F3573659, from Seattle to Los Angeles, Departure Time: 08:00.",
    "Breakfast at The Daily Grind, Los Angeles; lunch at Taco Town; dinner at Bella Italia.",
    "Accommodation: Cozy private room near the beach, Los Angeles. Attraction: Griffith Observatory.",
    "<think> I need to check the budget, the room rules and the cuisine constraints. </think>",
    "REFLECTION: No errors. The reflection is over, now IMMEDIATELY output the final answer!",
    '{"days": 1, "current_city": "from Seattle to Los Angeles", "transportation": "-"}',
    "Self-driving, from A to B, duration: 2 hours, distance: 150 km, cost: 7. Taxi costs more.",
    "You are a helpful assistant. The user asks a question and the assistant answers it.",
    "0 1 2 3 4 5 6 7 8 9 10 100 1000 easy medium hard Chinese American Italian Mexican Indian French",
]


def make_tokenizer(vocab_size: int = 384):
    """A byte-level BPE `PreTrainedTokenizerFast` with pad/eos/bos and a ChatML chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    core.train_from_iterator(_CORPUS * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                        pad_token="<|pad|>", padding_side="left")
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def make_tiny_model(path: str | Path, *, hidden_size: int = 64, layers: int = 2, heads: int = 4,
                    kv_heads: int = 2, max_positions: int = 4096, init_range: float = 0.1, seed: int = 0) -> Path:
    """Build and save the tiny model + tokenizer into `path` (created); returns `path`.

    Untied embeddings and a wider-than-default init (`init_range`) make greedy outputs varied (a
    default-initialised tied model just repeats its last input token), so tests can tell outputs apart.
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = make_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions, tie_word_embeddings=False, initializer_range=init_range,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
