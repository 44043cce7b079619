"""HAT's design space of encoder-decoder Transformers (Wang et al., 2020).

Genes, with HAT's names: ``encoder_embed_dim``, ``decoder_embed_dim``,
per-layer ``encoder_ffn_embed_dim`` / ``decoder_ffn_embed_dim``, per-layer
``encoder_self_attention_heads`` / ``decoder_self_attention_heads`` /
``decoder_ende_attention_heads``, ``decoder_layer_num`` (1 to N), and per
decoder layer ``decoder_arbitrary_ende_attn`` (-1: the last encoder layer,
1: the last two, 2: the last three). The encoder depth is fixed, as in HAT.
Per-layer lists always hold the largest depth's entries; a shallower decoder
ignores the rest (``network_key`` leaves them out).

Presets: ``tiny`` and ``small`` train on a CPU here in minutes; ``space0`` is
HAT's WMT'14 En-De / En-Fr SuperTransformer space and ``space1`` its IWSLT'14
De-En space, for users with the hardware.

The latency predictor's encoding (``encode``) is HAT's 10 features --
encoder / decoder embedding dims, layer counts, mean FFN dims, mean heads
(self and ende), mean number of encoder layers each decoder layer attends
(HAT's transform of the arbitrary-attention code: -1, 1, 2 -> 1, 2, 3, the
value its released latency datasets hold) -- each divided by the space's
largest value, as HAT normalises them.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from ..nn.transformer import ende_span
from ..problems import InputSpec, Problem
from .base import ArchError, OpSpec, SearchSpace

__all__ = ["HATSpace", "PRESETS", "FEATURES", "features_of"]

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"encoder_embed": (64, 48), "decoder_embed": (64, 48), "encoder_ffn": (256, 128, 64),
             "decoder_ffn": (256, 128, 64), "encoder_layers": 3, "decoder_layers": (3, 2, 1),
             "encoder_heads": (4, 2), "decoder_heads": (4, 2), "ende_heads": (4, 2), "ende_attn": (-1, 1, 2),
             "qkv_dim": 64},
    "small": {"encoder_embed": (128, 96), "decoder_embed": (128, 96), "encoder_ffn": (512, 256, 128),
              "decoder_ffn": (512, 256, 128), "encoder_layers": 4, "decoder_layers": (4, 3, 2, 1),
              "encoder_heads": (4, 2), "decoder_heads": (4, 2), "ende_heads": (4, 2), "ende_attn": (-1, 1, 2),
              "qkv_dim": 128},
    # HAT's configs/wmt14.en-de/supertransformer/space0.yml
    "space0": {"encoder_embed": (640, 512), "decoder_embed": (640, 512), "encoder_ffn": (3072, 2048, 1024),
               "decoder_ffn": (3072, 2048, 1024), "encoder_layers": 6, "decoder_layers": (6, 5, 4, 3, 2, 1),
               "encoder_heads": (8, 4), "decoder_heads": (8, 4), "ende_heads": (8, 4), "ende_attn": (-1, 1, 2),
               "qkv_dim": 512},
    # HAT's configs/iwslt14.de-en/supertransformer/space1.yml
    "space1": {"encoder_embed": (640, 512), "decoder_embed": (640, 512), "encoder_ffn": (2048, 1024, 512),
               "decoder_ffn": (2048, 1024, 512), "encoder_layers": 6, "decoder_layers": (6, 5, 4, 3, 2, 1),
               "encoder_heads": (4, 2), "decoder_heads": (4, 2), "ende_heads": (4, 2), "ende_attn": (-1, 1, 2),
               "qkv_dim": 512},
}

#: HAT's latency features (the column names of its latency datasets)
FEATURES = ("encoder_embed_dim", "encoder_layer_num", "encoder_ffn_embed_dim_avg", "encoder_self_attention_heads_avg",
            "decoder_embed_dim", "decoder_layer_num", "decoder_ffn_embed_dim_avg", "decoder_self_attention_heads_avg",
            "decoder_ende_attention_heads_avg", "decoder_arbitrary_ende_attn_avg")

_ENC_LISTS = ("encoder_ffn_embed_dim", "encoder_self_attention_heads")
_DEC_LISTS = ("decoder_ffn_embed_dim", "decoder_self_attention_heads", "decoder_ende_attention_heads",
              "decoder_arbitrary_ende_attn")
_KEYS = ("encoder_embed_dim", "decoder_embed_dim", "encoder_layer_num", "decoder_layer_num", *_ENC_LISTS, *_DEC_LISTS)


def features_of(arch: dict[str, Any]) -> list[float]:
    """HAT's 10 raw features of an architecture (means over the layers used)."""
    ne, nd = int(arch["encoder_layer_num"]), int(arch["decoder_layer_num"])

    def mean(key: str, n: int) -> float:
        return float(np.mean([float(v) for v in arch[key][:n]]))

    # the arbitrary-attention feature is the mean number of encoder layers attended (code -1, 1, 2 -> 1, 2, 3),
    # as HAT's get_config_features computes it and its released latency datasets hold it
    spans = [ende_span(v) for v in arch["decoder_arbitrary_ende_attn"][:nd]]
    return [float(arch["encoder_embed_dim"]), float(ne), mean("encoder_ffn_embed_dim", ne),
            mean("encoder_self_attention_heads", ne), float(arch["decoder_embed_dim"]), float(nd),
            mean("decoder_ffn_embed_dim", nd), mean("decoder_self_attention_heads", nd),
            mean("decoder_ende_attention_heads", nd), float(np.mean(spans))]


class HATSpace(SearchSpace):
    name = "hat"
    title = "HAT: encoder-decoder Transformers (per-layer dims, heads, decoder depth, arbitrary ende attention)"
    problem_kinds = ("sequence-to-sequence",)

    def __init__(self, preset: str = "tiny"):
        if preset not in PRESETS:
            raise ValueError(f"unknown HAT space preset {preset!r}; known: {', '.join(PRESETS)}")
        self.preset = preset
        p = PRESETS[preset]
        self.choices: dict[str, tuple[int, ...]] = {
            "encoder_embed_dim": tuple(p["encoder_embed"]), "decoder_embed_dim": tuple(p["decoder_embed"]),
            "encoder_layer_num": (int(p["encoder_layers"]),), "decoder_layer_num": tuple(p["decoder_layers"]),
            "encoder_ffn_embed_dim": tuple(p["encoder_ffn"]), "decoder_ffn_embed_dim": tuple(p["decoder_ffn"]),
            "encoder_self_attention_heads": tuple(p["encoder_heads"]),
            "decoder_self_attention_heads": tuple(p["decoder_heads"]),
            "decoder_ende_attention_heads": tuple(p["ende_heads"]),
            "decoder_arbitrary_ende_attn": tuple(p["ende_attn"])}
        self.qkv_dim = int(p["qkv_dim"])
        self.encoder_layers = int(p["encoder_layers"])
        self.max_decoder_layers = max(p["decoder_layers"])
        self.norm = np.array([max(self.choices["encoder_embed_dim"]), self.encoder_layers,
                              max(self.choices["encoder_ffn_embed_dim"]),
                              max(self.choices["encoder_self_attention_heads"]),
                              max(self.choices["decoder_embed_dim"]), self.max_decoder_layers,
                              max(self.choices["decoder_ffn_embed_dim"]),
                              max(self.choices["decoder_self_attention_heads"]),
                              max(self.choices["decoder_ende_attention_heads"]),
                              max(ende_span(v) for v in self.choices["decoder_arbitrary_ende_attn"])],
                             dtype=np.float64)

    def params(self) -> dict[str, Any]:
        return {"preset": self.preset}

    def _length(self, key: str) -> int:
        return self.encoder_layers if key in _ENC_LISTS else self.max_decoder_layers

    # -- architectures -----------------------------------------------------------
    def _pick(self, key: str, rng: np.random.Generator) -> int:
        c = self.choices[key]
        return int(c[int(rng.integers(len(c)))])

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        a: dict[str, Any] = {}
        for key in _KEYS:
            if key in _ENC_LISTS or key in _DEC_LISTS:
                a[key] = [self._pick(key, rng) for _ in range(self._length(key))]
            else:
                a[key] = self._pick(key, rng)
        return a

    def extreme(self, pick: Any) -> dict[str, Any]:
        a: dict[str, Any] = {}
        for key in _KEYS:
            v = int(pick(self.choices[key]))
            a[key] = [v] * self._length(key) if key in _ENC_LISTS or key in _DEC_LISTS else v
        return a

    def largest(self) -> dict[str, Any]:
        return self.extreme(max)

    def smallest(self) -> dict[str, Any]:
        return self.extreme(min)

    def uniform(self, level: float, decoder_layers: int | None = None) -> dict[str, Any]:
        """A uniformly scaled Transformer: every dim at the same relative level
        (0 smallest .. 1 largest) of its choices, every layer alike, each decoder
        layer attending to the last encoder layer (a plain Transformer)."""
        a: dict[str, Any] = {}
        for key in _KEYS:
            c = sorted(self.choices[key])
            v = int(c[int(round(level * (len(c) - 1)))])
            if key == "decoder_arbitrary_ende_attn":
                v = -1
            if key == "decoder_layer_num" and decoder_layers is not None:
                v = int(decoder_layers)
            a[key] = [v] * self._length(key) if key in _ENC_LISTS or key in _DEC_LISTS else v
        return self.validate(a)

    def mutate(self, arch: dict[str, Any], rng: np.random.Generator, prob: float = 0.3) -> dict[str, Any]:
        """Each gene (and each layer's entry) redrawn with probability ``prob``, as HAT's evolution."""
        a = {k: (list(v) if isinstance(v, list) else v) for k, v in self.validate(arch).items()}
        for key in _KEYS:
            if isinstance(a[key], list):
                a[key] = [self._pick(key, rng) if rng.random() < prob else v for v in a[key]]
            elif rng.random() < prob:
                a[key] = self._pick(key, rng)
        return a

    def crossover(self, a: dict[str, Any], b: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        """Each gene (each layer's entry) from one of the two parents at random, as HAT's evolution."""
        a, b = self.validate(a), self.validate(b)
        out: dict[str, Any] = {}
        for key in _KEYS:
            if isinstance(a[key], list):
                out[key] = [x if rng.random() < 0.5 else y for x, y in zip(a[key], b[key])]
            else:
                out[key] = a[key] if rng.random() < 0.5 else b[key]
        return out

    def validate(self, arch: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(arch, dict):
            raise ArchError("an architecture of the hat space is an object")
        extra = sorted(set(arch) - set(_KEYS) - {"space", "layers"})
        missing = [k for k in _KEYS if k not in arch]
        if missing or extra:
            raise ArchError(f"hat architecture: missing {missing}, unknown {extra}")
        out: dict[str, Any] = {}
        for key in _KEYS:
            v, c = arch[key], self.choices[key]
            if key in _ENC_LISTS or key in _DEC_LISTS:
                n = self._length(key)
                if not isinstance(v, (list, tuple)) or len(v) != n:
                    raise ArchError(f"{key} must be a list of {n} values")
                vals = []
                for x in v:
                    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or int(x) not in c:
                        raise ArchError(f"{key}: {x!r} is not one of {list(c)}")
                    vals.append(int(x))
                out[key] = vals
            else:
                if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) not in c:
                    raise ArchError(f"{key}: {v!r} is not one of {list(c)}")
                out[key] = int(v)
        return out

    # -- encodings -----------------------------------------------------------------
    def features(self, arch: dict[str, Any]) -> np.ndarray:
        return np.asarray(features_of(self.validate(arch)), dtype=np.float64)

    def normalise(self, features: np.ndarray) -> np.ndarray:
        """Raw HAT features (n, 10) divided by the space's largest values."""
        return (np.asarray(features, dtype=np.float64) / self.norm).astype(np.float32)

    def encode(self, arch: dict[str, Any]) -> np.ndarray:
        return self.normalise(self.features(arch)[None])[0]

    @property
    def encoding_size(self) -> int:
        return len(FEATURES)

    def network_key(self, arch: dict[str, Any]) -> Any:
        a = self.validate(arch)
        nd = a["decoder_layer_num"]
        return tuple((k, tuple(a[k][:nd]) if k in _DEC_LISTS else tuple(a[k]) if k in _ENC_LISTS else a[k])
                     for k in _KEYS)

    # -- networks ------------------------------------------------------------------
    def check_problem(self, problem: Problem) -> Problem:
        super().check_problem(problem)
        if problem.src_vocab != problem.tgt_vocab:  # type: ignore[attr-defined]
            raise ValueError("the hat space shares one embedding table: src_vocab must equal tgt_vocab "
                             "(train one joint tokenizer)")
        return problem

    def build(self, arch: dict[str, Any], problem: Problem) -> nn.Module:
        from ..nn.transformer import HATTransformer

        self.check_problem(problem)
        a = self.validate(arch)
        net = HATTransformer(a, vocab=problem.src_vocab, qkv_dim=self.qkv_dim)  # type: ignore[attr-defined]
        net.space = self  # type: ignore[assignment]
        return net

    def input_specs(self, arch: dict[str, Any], problem: Problem, batch: int = 1) -> tuple[InputSpec, ...]:
        return self.check_problem(problem).input_specs(batch)

    def layers(self, arch: dict[str, Any]) -> list[dict[str, Any]]:
        """The architecture layer by layer, for drawing: each encoder and decoder
        layer's width, FFN dim and heads, and which encoder layers each decoder
        layer attends to."""
        a = self.validate(arch)
        ne, nd = a["encoder_layer_num"], a["decoder_layer_num"]
        out = [{"part": "encoder", "layer": i + 1, "dim": a["encoder_embed_dim"],
                "ffn": a["encoder_ffn_embed_dim"][i], "heads": a["encoder_self_attention_heads"][i]}
               for i in range(ne)]
        for i in range(nd):
            span = min(ne, ende_span(a["decoder_arbitrary_ende_attn"][i]))
            out.append({"part": "decoder", "layer": i + 1, "dim": a["decoder_embed_dim"],
                        "ffn": a["decoder_ffn_embed_dim"][i], "heads": a["decoder_self_attention_heads"][i],
                        "ende_heads": a["decoder_ende_attention_heads"][i],
                        "attends_encoder_layers": list(range(ne - span + 1, ne + 1))})
        return out

    def structure(self, arch: dict[str, Any]) -> dict[str, Any]:
        return {**self.validate(arch), "space": self.name, "layers": self.layers(arch)}

    def describe(self, arch: dict[str, Any]) -> str:
        a = self.validate(arch)
        nd = a["decoder_layer_num"]
        enc = "/".join(f"{f}x{h}" for f, h in zip(a["encoder_ffn_embed_dim"], a["encoder_self_attention_heads"]))
        dec = "/".join(f"{f}x{h}:{e}:{ende}" for f, h, e, ende in zip(
            a["decoder_ffn_embed_dim"][:nd], a["decoder_self_attention_heads"][:nd],
            a["decoder_ende_attention_heads"][:nd], a["decoder_arbitrary_ende_attn"][:nd]))
        return f"enc {a['encoder_embed_dim']}d [{enc}] dec {a['decoder_embed_dim']}d x{nd} [{dec}]"

    # -- lookup tables -------------------------------------------------------------
    def ops(self, arch: dict[str, Any], problem: Problem) -> list[OpSpec]:
        raise NotImplementedError("the hat space is priced by HAT's latency predictor on its 10 features "
                                  "(engine.hat.latency), not by a per-op lookup table")

    def all_ops(self, problem: Problem) -> list[OpSpec]:
        return self.ops({}, problem)

    def op_module(self, op: OpSpec) -> nn.Module:
        raise NotImplementedError("the hat space has no per-op lookup table")
