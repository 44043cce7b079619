"""Training steps, scoring and decoding for translation Transformers.

- :func:`seq2seq_step`: label-smoothed cross-entropy per target token (padding
  ignored), the step the engine's one loop trains with;
- :func:`token_loss`: the mean per-token cross-entropy (no smoothing) of a
  model on a set -- the validation loss HAT's search ranks SubTransformers by;
- :func:`beam_search`: batched beam search with the decoder's KV cache and a
  length penalty (fairseq's ``score / length ** lenpen``);
- :func:`bleu`: sacrebleu's corpus BLEU (and chrF) of detokenised hypotheses.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data.subword import BOS, EOS, PAD, SubwordTokenizer
from ..training import StepOutput

__all__ = ["seq2seq_step", "token_loss", "beam_search", "translate", "bleu"]


def seq2seq_step(model: Callable[..., torch.Tensor], batch: Any, *, label_smoothing: float = 0.0) -> StepOutput:
    """``batch`` = (src, decoder inputs, targets); the loss is per target token."""
    src, tin, tout = batch
    logits = model(src, tin)
    mask = tout != PAD
    n = int(mask.sum())
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tout.reshape(-1), ignore_index=PAD,
                           label_smoothing=label_smoothing)
    correct = ((logits.argmax(-1) == tout) & mask).sum().item()
    return StepOutput(loss=loss, metrics={"correct": correct}, count=n)


@torch.inference_mode()
def token_loss(model: Callable[..., torch.Tensor], data: Sequence[torch.Tensor], *, batch_size: int = 256) -> float:
    """Mean per-token cross-entropy (nats) of ``model(src, tgt_in)`` on ``data`` = (src, tgt_in, tgt_out)."""
    src, tin, tout = data
    total, count = 0.0, 0
    for lo in range(0, len(src), batch_size):
        s, ti, to = src[lo:lo + batch_size], tin[lo:lo + batch_size], tout[lo:lo + batch_size]
        logits = model(s, ti)
        total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), to.reshape(-1), ignore_index=PAD,
                                       reduction="sum"))
        count += int((to != PAD).sum())
    return total / max(1, count)


@torch.inference_mode()
def beam_search(model: nn.Module, src: torch.Tensor, *, beam: int = 4, max_len: int = 64,
                len_penalty: float = 1.0) -> list[list[int]]:
    """The best hypothesis (token ids, without EOS) per source row. ``model``
    offers ``encode(src)`` and ``step(tokens, pos, memory, cache)``
    (:class:`engine.nn.transformer.HATTransformer`)."""
    was = model.training
    model.eval()
    b, k = src.shape[0], max(1, int(beam))
    memory = model.encode(src).select(torch.arange(b).repeat_interleave(k))
    tokens = torch.full((b * k, 1), BOS, dtype=torch.long)
    scores = torch.full((b, k), float("-inf"))
    scores[:, 0] = 0.0
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(b)]
    done = [False] * b
    cache = None
    for t in range(max_len):
        logits, cache = model.step(tokens[:, -1:], t, memory, cache)
        logp = F.log_softmax(logits.float(), -1)
        v = logp.shape[-1]
        cand = (scores.view(b, k, 1) + logp.view(b, k, v)).view(b, k * v)
        top, idx = cand.topk(min(2 * k, k * v), dim=1)
        rows, new_tok, new_scores = [], [], torch.full((b, k), float("-inf"))
        for i in range(b):
            chosen = 0
            for s, j in zip(top[i].tolist(), idx[i].tolist()):
                if done[i] or chosen == k:
                    break
                src_beam, tok = divmod(j, v)
                if s == float("-inf"):
                    break
                if tok == EOS or t == max_len - 1:
                    seq = tokens[i * k + src_beam, 1:].tolist() + ([] if tok == EOS else [tok])
                    finished[i].append((s / (len(seq) + 1) ** len_penalty, seq))
                    continue
                rows.append(i * k + src_beam)
                new_tok.append(tok)
                new_scores[i, chosen] = s
                chosen += 1
            if len(finished[i]) >= k:
                done[i] = True
            while chosen < k:  # keep the shape: dead beams
                rows.append(i * k)
                new_tok.append(PAD)
                chosen += 1
            if done[i]:
                new_scores[i] = float("-inf")
        if all(done):
            break
        index = torch.tensor(rows, dtype=torch.long)
        tokens = torch.cat([tokens.index_select(0, index), torch.tensor(new_tok, dtype=torch.long)[:, None]], 1)
        cache = model.reorder(cache, index)
        scores = new_scores
    model.train(was)
    out = []
    for i in range(b):
        best = max(finished[i], key=lambda p: p[0]) if finished[i] else (0.0, [])
        out.append(best[1])
    return out


def translate(model: nn.Module, tokenizer: SubwordTokenizer, sentences: Sequence[str], *, beam: int = 4,
              max_len: int = 64, batch_size: int = 32) -> list[str]:
    """Detokenised beam-search translations of ``sentences``."""
    out: list[str] = []
    for lo in range(0, len(sentences), batch_size):
        chunk = sentences[lo:lo + batch_size]
        ids = [tokenizer.encode(s, max_len=max_len) for s in chunk]
        src = torch.full((len(ids), max(len(i) for i in ids)), PAD, dtype=torch.long)
        for r, i in enumerate(ids):
            src[r, :len(i)] = torch.tensor(i)
        out += [tokenizer.decode(h) for h in beam_search(model, src, beam=beam, max_len=max_len)]
    return out


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """sacrebleu's corpus BLEU and chrF (0-100) of ``hypotheses`` against one reference each."""
    import sacrebleu

    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError("need as many hypotheses as references, at least one")
    b = sacrebleu.corpus_bleu(list(hypotheses), [list(references)])
    c = sacrebleu.corpus_chrf(list(hypotheses), [list(references)])
    return {"bleu": float(b.score), "chrf": float(c.score)}


def sentence_chrf(hypotheses: Sequence[str], references: Sequence[str]) -> list[float]:
    """sacrebleu's chrF (0-100) of each hypothesis against its reference (a
    sentence's BLEU is mostly zero on short sentences; chrF reads per sentence)."""
    import sacrebleu

    if len(hypotheses) != len(references):
        raise ValueError("need as many hypotheses as references")
    return [float(sacrebleu.sentence_chrf(h, [r]).score) for h, r in zip(hypotheses, references)]
