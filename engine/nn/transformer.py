"""A static encoder-decoder Transformer with HAT's per-layer freedom (Wang et
al., 2020): encoder and decoder embedding dims, per-layer FFN hidden dims,
per-layer heads (self and encoder-decoder attention), the decoder depth, and
*arbitrary encoder-decoder attention*: each decoder layer attends to the last
1, 2 or 3 encoder layers (their outputs concatenated along the sequence).

Pre-norm layers, sinusoidal positions, one embedding table shared by the
source, the target and the output projection (a joint vocabulary; the encoder
reads its first ``encoder_embed_dim`` columns, the decoder its first
``decoder_embed_dim``). Attention projects to a fixed ``qkv_dim`` split into
the layer's heads, as HAT's.

    net = HATTransformer(arch, vocab=500, qkv_dim=64)
    logits = net(src, tgt_in)                              # teacher forcing, (B, T, V)
    memory = net.encode(src)                               # per decoder layer: keys/values source
    logits, cache = net.step(tokens, pos, memory, cache)   # one autoregressive step (KV cache)

The elastic super-net (:mod:`engine.nn.elastic_transformer`) runs this very
module with front slices of its own weights.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HATTransformer", "ende_span", "Memory", "PAD_ID"]

PAD_ID = 0


def ende_span(value: int) -> int:
    """HAT's ``decoder_arbitrary_ende_attn`` code -> how many last encoder
    layers a decoder layer attends to (-1: 1, 1: 2, 2: 3)."""
    return {-1: 1, 1: 2, 2: 3}[int(value)]


def sinusoid(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal position embeddings (positions (T,) -> (T, dim))."""
    half = dim // 2
    step = -(math.log(10000.0) / max(1, half - 1))
    freq = torch.exp(torch.arange(half, dtype=torch.float32, device=positions.device) * step)
    ang = positions.float()[:, None] * freq[None]
    emb = torch.cat([torch.sin(ang), torch.cos(ang)], 1)
    return F.pad(emb, (0, dim - 2 * half))


class Attention(nn.Module):
    def __init__(self, q_dim: int, kv_dim: int, qkv_dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if qkv_dim % heads:
            raise ValueError(f"qkv_dim {qkv_dim} is not divisible by {heads} heads")
        self.heads, self.dropout = heads, dropout
        self.q_proj = nn.Linear(q_dim, qkv_dim)
        self.k_proj = nn.Linear(kv_dim, qkv_dim)
        self.v_proj = nn.Linear(kv_dim, qkv_dim)
        self.out_proj = nn.Linear(qkv_dim, q_dim)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    def kv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.split(self.k_proj(x)), self.split(self.v_proj(x))

    def attend(self, q_in: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
               causal: bool = False) -> torch.Tensor:
        q = self.split(self.q_proj(q_in))
        p = self.dropout if self.training else 0.0
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal)
        b, h, t, d = o.shape
        return self.out_proj(o.transpose(1, 2).reshape(b, t, h * d))


class EncoderLayer(nn.Module):
    def __init__(self, dim: int, ffn: int, heads: int, qkv_dim: int, dropout: float):
        super().__init__()
        self.self_attn = Attention(dim, dim, qkv_dim, heads, dropout)
        self.self_attn_norm = nn.LayerNorm(dim)
        self.fc1, self.fc2 = nn.Linear(dim, ffn), nn.Linear(ffn, dim)
        self.ffn_norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def extra_repr(self) -> str:
        return f"dim={self.fc1.in_features}, ffn={self.fc1.out_features}, heads={self.self_attn.heads}"

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        h = self.self_attn_norm(x)
        k, v = self.self_attn.kv(h)
        x = x + self.drop(self.self_attn.attend(h, k, v, mask))
        return x + self.drop(self.fc2(self.drop(F.relu(self.fc1(self.ffn_norm(x))))))


class DecoderLayer(nn.Module):
    def __init__(self, dim: int, enc_dim: int, ffn: int, heads: int, ende_heads: int, span: int, qkv_dim: int,
                 dropout: float):
        super().__init__()
        self.span = span
        self.self_attn = Attention(dim, dim, qkv_dim, heads, dropout)
        self.self_attn_norm = nn.LayerNorm(dim)
        self.ende_attn = Attention(dim, enc_dim, qkv_dim, ende_heads, dropout)
        self.ende_attn_norm = nn.LayerNorm(dim)
        self.fc1, self.fc2 = nn.Linear(dim, ffn), nn.Linear(ffn, dim)
        self.ffn_norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def extra_repr(self) -> str:
        return (f"dim={self.fc1.in_features}, ffn={self.fc1.out_features}, heads={self.self_attn.heads}, "
                f"ende_heads={self.ende_attn.heads}, attends the last {self.span} encoder layer(s)")

    def forward(self, x: torch.Tensor, mem_kv: tuple[torch.Tensor, torch.Tensor], mem_mask: torch.Tensor | None,
                self_kv: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``self_kv``: the cached keys/values of earlier positions (incremental
        decoding, one new position); None: the whole prefix, causally masked."""
        h = self.self_attn_norm(x)
        k, v = self.self_attn.kv(h)
        if self_kv is not None:
            k, v = torch.cat([self_kv[0], k], 2), torch.cat([self_kv[1], v], 2)
        x = x + self.drop(self.self_attn.attend(h, k, v, causal=self_kv is None and int(x.shape[1]) > 1))
        x = x + self.drop(self.ende_attn.attend(self.ende_attn_norm(x), mem_kv[0], mem_kv[1], mem_mask))
        x = x + self.drop(self.fc2(self.drop(F.relu(self.fc1(self.ffn_norm(x))))))
        return x, (k, v)


@dataclass
class Memory:
    """What the decoder reads of the source: per decoder layer the keys and
    values of its ende attention (over the last ``span`` encoder layers), and
    the source padding mask repeated alike."""

    kv: list[tuple[torch.Tensor, torch.Tensor]]
    masks: list[torch.Tensor | None]

    def select(self, index: torch.Tensor) -> "Memory":
        return Memory([(k.index_select(0, index), v.index_select(0, index)) for k, v in self.kv],
                      [None if m is None else m.index_select(0, index) for m in self.masks])


class Encoder(nn.Module):
    def __init__(self, arch: dict[str, Any], qkv_dim: int, dropout: float):
        super().__init__()
        d = int(arch["encoder_embed_dim"])
        n = int(arch["encoder_layer_num"])
        self.dim = d
        self.layers = nn.ModuleList(EncoderLayer(d, int(arch["encoder_ffn_embed_dim"][i]),
                                                 int(arch["encoder_self_attention_heads"][i]), qkv_dim, dropout)
                                    for i in range(n))
        self.norm = nn.LayerNorm(d)

    def extra_repr(self) -> str:
        return "; ".join(f"{i + 1}: {layer.extra_repr()}" for i, layer in enumerate(self.layers))


class Decoder(nn.Module):
    def __init__(self, arch: dict[str, Any], qkv_dim: int, dropout: float):
        super().__init__()
        d, e = int(arch["decoder_embed_dim"]), int(arch["encoder_embed_dim"])
        n, n_enc = int(arch["decoder_layer_num"]), int(arch["encoder_layer_num"])
        self.dim = d
        self.layers = nn.ModuleList(
            DecoderLayer(d, e, int(arch["decoder_ffn_embed_dim"][i]), int(arch["decoder_self_attention_heads"][i]),
                         int(arch["decoder_ende_attention_heads"][i]),
                         min(n_enc, ende_span(arch["decoder_arbitrary_ende_attn"][i])), qkv_dim, dropout)
            for i in range(n))
        self.norm = nn.LayerNorm(d)

    def extra_repr(self) -> str:
        return "; ".join(f"{i + 1}: {layer.extra_repr()}" for i, layer in enumerate(self.layers))


class HATTransformer(nn.Module):
    """A SubTransformer as a plain module (see the module's docstring)."""

    def __init__(self, arch: dict[str, Any], *, vocab: int, qkv_dim: int, dropout: float = 0.0):
        super().__init__()
        self.arch = dict(arch)
        self.vocab, self.qkv_dim = int(vocab), int(qkv_dim)
        self.embed = nn.Embedding(self.vocab, max(int(arch["encoder_embed_dim"]), int(arch["decoder_embed_dim"])),
                                  padding_idx=PAD_ID)
        nn.init.normal_(self.embed.weight, std=self.embed.weight.shape[1] ** -0.5)
        with torch.no_grad():
            self.embed.weight[PAD_ID].zero_()
        self.encoder = Encoder(arch, qkv_dim, dropout)
        self.decoder = Decoder(arch, qkv_dim, dropout)
        self.drop = nn.Dropout(dropout)

    # -- pieces --------------------------------------------------------------
    def _embed(self, ids: torch.Tensor, dim: int, start: int = 0) -> torch.Tensor:
        pos = torch.arange(start, start + ids.shape[1], device=ids.device)
        x = F.embedding(ids, self.embed.weight[:, :dim], padding_idx=PAD_ID) * math.sqrt(dim)
        return self.drop(x + sinusoid(pos, dim)[None])

    def encoder_states(self, src: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Every encoder layer's output (final-normed) and the source mask (B, 1, 1, S), True = a token."""
        keep = (src != PAD_ID)[:, None, None, :]
        x = self._embed(src, self.encoder.dim)
        states = []
        for layer in self.encoder.layers:
            x = layer(x, keep)
            states.append(self.encoder.norm(x))
        return states, keep

    def encode(self, src: torch.Tensor) -> Memory:
        """The decoder's view of the source (keys and values per decoder layer)."""
        states, keep = self.encoder_states(src)
        kv, masks = [], []
        for layer in self.decoder.layers:
            mem = torch.cat(states[-layer.span:], 1) if layer.span > 1 else states[-1]
            kv.append(layer.ende_attn.kv(mem))
            masks.append(keep.repeat(1, 1, 1, layer.span) if layer.span > 1 else keep)
        return Memory(kv, masks)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.decoder.norm(x), self.embed.weight[:, :self.decoder.dim])

    # -- the two ways to run it ---------------------------------------------------
    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits (B, T, vocab) for decoder inputs ``tgt``."""
        memory = self.encode(src)
        x = self._embed(tgt, self.decoder.dim)
        for i, layer in enumerate(self.decoder.layers):
            x, _ = layer(x, memory.kv[i], memory.masks[i])
        return self.logits(x)

    def step(self, tokens: torch.Tensor, pos: int, memory: Memory,
             cache: list[tuple[torch.Tensor, torch.Tensor]] | None
             ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """One autoregressive step: the newest tokens (N, 1) at position ``pos``
        -> logits (N, vocab) and the self-attention cache with this position added."""
        x = self._embed(tokens, self.decoder.dim, pos)
        new = []
        for i, layer in enumerate(self.decoder.layers):
            x, kv = layer(x, memory.kv[i], memory.masks[i], cache[i] if cache is not None else None)
            new.append(kv)
        return self.logits(x)[:, -1], new

    @staticmethod
    def reorder(cache: list[tuple[torch.Tensor, torch.Tensor]], index: torch.Tensor
                ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(k.index_select(0, index), v.index_select(0, index)) for k, v in cache]
