"""A lean KV-cache decoder for Llama-architecture checkpoints: the fast path of the transformers backend.

`transformers.generate` spends most of a CPU decode step outside the arithmetic: its dynamic cache is
re-concatenated every token, grouped-query attention copies each K/V head 3x, the CPU flash-attention
kernel is slow for one query row, and every step re-builds masks and logits processors. On a 135M model
that is ~10x the work the weights and the cache need. This decoder does only that work, in plain torch:

- the weights are re-laid once per call: Q/K/V fused into one matrix, gate/up into another, all
  transposed for `x @ W`, in the compute dtype (bf16 by default on CPU: AMX/AVX-512 BF16 matmuls);
- each distinct prompt is prefilled once, on its own (causal flash attention, padded on the right to a
  bucket so matmul shapes repeat), its keys and values written right-aligned into one batch cache, so every sequence adds its next token in the same column;
- the cache holds K transposed (`[batch*kv_heads, head_dim, capacity]`) and V (`[..., capacity, head_dim]`)
  so one decode step is two batched matmuls per layer with the query heads of a KV head grouped, no copy;
  the capacity grows in blocks, and attention runs over the whole block with future columns masked
  (slicing a strided cache would make torch copy it every step);
- finished sequences leave the batch (their rows are dropped from the cache) so the tail of a batch of
  uneven answers costs what the unfinished ones need.

Greedy decoding in float32 gives the same tokens as `transformers.generate` (tests/test_decode.py);
bf16 differs from it only by rounding. Sampling (temperature, top-p) draws from one seeded torch
generator. `supports(config)` says whether a checkpoint is plain Llama (RMSNorm, SiLU MLP, rotary
embeddings without scaling, no biases); other architectures use `transformers.generate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

BLOCK = 128  # cache capacity grows by this many columns
# Prompts are prefilled padded to a multiple of this: each new matrix shape costs oneDNN a kernel JIT
# that on a CPU takes longer than the matmul itself, so shapes must repeat.
PREFILL_BUCKET = 128
COMPACT_MIN_FINISHED = 0.25  # drop finished rows once at least this share of the batch is done


def supports(config) -> bool:
    """True for a plain Llama checkpoint this decoder computes exactly."""
    rope = getattr(config, "rope_parameters", None) or {}  # transformers 5: rope_scaling is an alias of it
    return (getattr(config, "model_type", None) == "llama"
            and getattr(config, "hidden_act", "silu") == "silu"
            and not getattr(config, "attention_bias", False) and not getattr(config, "mlp_bias", False)
            and rope.get("rope_type", "default") == "default"
            and getattr(config, "head_dim", None) in (None, config.hidden_size // config.num_attention_heads))


@dataclass(frozen=True)
class Layer:
    input_norm: torch.Tensor
    qkv: torch.Tensor  # [hidden, q + k + v]
    out: torch.Tensor  # [q, hidden]
    post_norm: torch.Tensor
    gate_up: torch.Tensor  # [hidden, 2 * intermediate]
    down: torch.Tensor  # [intermediate, hidden]


class Decoder:
    """Decoding with the weights of a loaded `LlamaForCausalLM` (read at construction, in `dtype`)."""

    def __init__(self, model, dtype: torch.dtype = torch.bfloat16):
        config = model.config
        if not supports(config):
            raise ValueError(f"the lean decoder computes plain Llama checkpoints only, not {config.model_type!r}")
        self.dtype = dtype
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = config.hidden_size // self.heads
        self.group = self.heads // self.kv_heads
        self.intermediate = config.intermediate_size
        self.eps = config.rms_norm_eps
        self.scale = 1.0 / math.sqrt(self.head_dim)
        rope = getattr(config, "rope_parameters", None) or {}
        theta = rope.get("rope_theta", getattr(config, "rope_theta", 10000.0))
        self.inv_freq = 1.0 / (theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.float32) / self.head_dim))

        def w(tensor):
            return tensor.detach().to(dtype)

        body = model.model
        self.embed = w(body.embed_tokens.weight)
        self.layers = []
        for layer in body.layers:
            attn, mlp = layer.self_attn, layer.mlp
            self.layers.append(Layer(
                input_norm=w(layer.input_layernorm.weight),
                qkv=w(torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight])).t().contiguous(),
                out=w(attn.o_proj.weight).t().contiguous(),
                post_norm=w(layer.post_attention_layernorm.weight),
                gate_up=w(torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight])).t().contiguous(),
                down=w(mlp.down_proj.weight).t().contiguous()))
        self.norm = w(body.norm.weight)
        self.head = w(model.lm_head.weight).t().contiguous()

    # -- arithmetic ---------------------------------------------------------------------------------

    def _rms(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(self.dtype) * weight

    def _rotary(self, positions: torch.Tensor):
        """cos, sin of shape [batch, 1, tokens, head_dim] for integer positions [batch, tokens]."""
        freqs = positions[..., None].float() * self.inv_freq
        angles = torch.cat([freqs, freqs], -1)
        return angles.cos()[:, None].to(self.dtype), angles.sin()[:, None].to(self.dtype)

    @staticmethod
    def _rotate(x, cos, sin):
        half = x.shape[-1] // 2
        return x * cos + torch.cat([-x[..., half:], x[..., :half]], -1) * sin

    def _split_heads(self, h: torch.Tensor, batch: int, tokens: int):
        q_end = self.heads * self.head_dim
        k_end = q_end + self.kv_heads * self.head_dim
        q = h[..., :q_end].view(batch, tokens, self.heads, self.head_dim).transpose(1, 2)
        k = h[..., q_end:k_end].view(batch, tokens, self.kv_heads, self.head_dim).transpose(1, 2)
        v = h[..., k_end:].view(batch, tokens, self.kv_heads, self.head_dim).transpose(1, 2)
        return q, k, v

    def _mlp(self, x: torch.Tensor, layer: Layer) -> torch.Tensor:
        gate_up = self._rms(x, layer.post_norm) @ layer.gate_up
        return x + (F.silu(gate_up[..., :self.intermediate]) * gate_up[..., self.intermediate:]) @ layer.down

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return (self._rms(x, self.norm) @ self.head).float()

    def _prefill(self, ids: list[int]):
        """One prompt: (last-position logits, per-layer K [kv, T, d] and V [kv, T, d]). It runs padded on
        the right to a multiple of PREFILL_BUCKET; causal attention keeps the pad out of every real token."""
        n = len(ids)
        width = -(-n // PREFILL_BUCKET) * PREFILL_BUCKET
        tokens = torch.tensor([ids + [ids[-1]] * (width - n)])
        x = self.embed[tokens]
        cos, sin = self._rotary(torch.arange(width)[None])
        kv = []
        for layer in self.layers:
            q, k, v = self._split_heads(self._rms(x, layer.input_norm) @ layer.qkv, 1, width)
            q, k = self._rotate(q, cos, sin), self._rotate(k, cos, sin)
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            x = x + o.transpose(1, 2).reshape(1, width, -1) @ layer.out
            x = self._mlp(x, layer)
            kv.append((k[0, :, :n], v[0, :, :n]))
        return self._logits(x[0, n - 1]), kv

    def _step(self, tokens, positions, cache: _Cache, column: int) -> torch.Tensor:
        """Logits [batch, vocab] of one new token per sequence, written at `column` of the cache."""
        batch = tokens.shape[0]
        x = self.embed[tokens][:, None]  # [B, 1, hidden]
        cos, sin = self._rotary(positions[:, None])
        for li, layer in enumerate(self.layers):
            q, k, v = self._split_heads(self._rms(x, layer.input_norm) @ layer.qkv, batch, 1)
            q, k = self._rotate(q, cos, sin), self._rotate(k, cos, sin)
            keys_t, values = cache.keys_t[li], cache.values[li]
            keys_t[:, :, column] = k.reshape(batch * self.kv_heads, self.head_dim)
            values[:, column] = v.reshape(batch * self.kv_heads, self.head_dim)
            scores = torch.bmm(q.reshape(batch * self.kv_heads, self.group, self.head_dim), keys_t).float()
            scores = scores.mul_(self.scale).view(batch, self.heads, -1).add_(cache.bias)
            probs = torch.softmax(scores, -1).to(self.dtype).view(batch * self.kv_heads, self.group, -1)
            o = torch.bmm(probs, values).view(batch, self.heads * self.head_dim)
            x = x + (o @ layer.out)[:, None]
            x = self._mlp(x, layer)
        return self._logits(x[:, 0])

    # -- generation ---------------------------------------------------------------------------------

    @torch.inference_mode()
    def generate(self, prompts: list[list[int]], max_new_tokens: int, end_ids: set[int], *,
                 temperature: float = 0.0, top_p: float = 1.0, seed: int = 0, stop=None) -> list[list[int]]:
        """Generated token ids per prompt, each ending at (and including) its first end id, or at
        `max_new_tokens`. `stop(i, ids) -> bool` may end sequence i early (stop strings)."""
        if not prompts:
            return []
        generator = torch.Generator().manual_seed(seed)
        width = max(len(p) for p in prompts)
        cache = _Cache(self, len(prompts), width + min(max_new_tokens, BLOCK))
        logits, prefilled = [], {}
        for row, ids in enumerate(prompts):
            key = tuple(ids)  # a GRPO group repeats its prompt: prefill it once
            if key not in prefilled:
                prefilled[key] = self._prefill(ids)
            last, kv = prefilled[key]
            cache.put_prompt(row, width - len(ids), kv)
            logits.append(last)
        del prefilled
        logits = torch.stack(logits)
        outputs: list[list[int]] = [[] for _ in prompts]
        rows = list(range(len(prompts)))  # batch row -> prompt index
        finished = [False] * len(rows)
        positions = torch.tensor([len(p) for p in prompts])
        column = width
        for step in range(max_new_tokens):
            tokens = _pick(logits, temperature, top_p, generator)
            for r, token in enumerate(tokens.tolist()):
                if not finished[r]:
                    outputs[rows[r]].append(token)
                    finished[r] = token in end_ids or (stop is not None and stop(rows[r], outputs[rows[r]]))
            if all(finished) or step == max_new_tokens - 1:
                break
            # Finished rows ride along (their tokens ignored) until dropping them is worth a cache copy.
            if sum(finished) >= max(1, COMPACT_MIN_FINISHED * len(rows)):
                keep = [r for r, done in enumerate(finished) if not done]
                cache.keep(keep)
                tokens, positions, rows = tokens[keep], positions[keep], [rows[r] for r in keep]
                finished = [False] * len(rows)
            cache.open(column)
            logits = self._step(tokens, positions, cache, column)
            positions = positions + 1
            column += 1
        return outputs


def _pick(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator) -> torch.Tensor:
    if temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits / temperature, -1)
    if top_p < 1:
        sorted_probs, order = probs.sort(-1, descending=True)
        keep = sorted_probs.cumsum(-1) - sorted_probs < top_p  # the smallest prefix reaching top_p
        sorted_probs = sorted_probs * keep
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


class _Cache:
    """Per-layer K (transposed) and V of a right-aligned batch, and the additive mask of visible columns."""

    def __init__(self, decoder: Decoder, batch: int, capacity: int):
        self.kv_heads = decoder.kv_heads
        d = decoder.head_dim
        self.keys_t = [torch.zeros(batch * self.kv_heads, d, capacity, dtype=decoder.dtype) for _ in decoder.layers]
        self.values = [torch.zeros(batch * self.kv_heads, capacity, d, dtype=decoder.dtype) for _ in decoder.layers]
        self.bias = torch.full((batch, 1, capacity), float("-inf"))

    def put_prompt(self, row: int, start: int, kv) -> None:
        rows = slice(row * self.kv_heads, (row + 1) * self.kv_heads)
        end = start + kv[0][0].shape[1]
        for li, (k, v) in enumerate(kv):
            self.keys_t[li][rows, :, start:end] = k.transpose(1, 2)
            self.values[li][rows, start:end] = v
        self.bias[row, :, start:end] = 0.0

    def open(self, column: int) -> None:
        """Make room for `column` (growing by BLOCK columns) and unmask it for every row."""
        if column >= self.bias.shape[-1]:
            self.keys_t = [torch.cat([t, t.new_zeros(*t.shape[:2], BLOCK)], 2) for t in self.keys_t]
            self.values = [torch.cat([t, t.new_zeros(t.shape[0], BLOCK, t.shape[2])], 1) for t in self.values]
            self.bias = torch.cat([self.bias, self.bias.new_full((*self.bias.shape[:2], BLOCK), float("-inf"))], 2)
        self.bias[:, :, column] = 0.0

    def keep(self, rows: list[int]) -> None:
        """Only these batch rows stay, in this order."""
        index = torch.tensor([r * self.kv_heads + h for r in rows for h in range(self.kv_heads)])
        self.keys_t = [t.index_select(0, index) for t in self.keys_t]
        self.values = [t.index_select(0, index) for t in self.values]
        self.bias = self.bias[rows]
