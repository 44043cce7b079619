"""A subword tokenizer (SentencePiece, unigram or BPE) trained on a corpus in
memory, shared by the source and target sides (a joint vocabulary, as HAT's
WMT models share all embeddings), and the padded id tensors a translation
model trains on.

    tok = SubwordTokenizer.train([s for pair in corpus.train for s in pair], vocab_size=500, seed=0)
    ids = tok.encode("twenty-one")              # [..., EOS]
    tok.decode(ids) == "twenty-one"
    src, tgt_in, tgt_out = tok.batch_tensors(corpus.train, max_len=40)

Ids: 0 padding, 1 unknown, 2 beginning of sentence, 3 end of sentence. The
model is kept as its serialised bytes (``model_bytes``), saved as a plain
``.model`` file, never pickled.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Iterable, Sequence

import torch

from .errors import DataError

__all__ = ["SubwordTokenizer", "PAD", "UNK", "BOS", "EOS"]

PAD, UNK, BOS, EOS = 0, 1, 2, 3


class SubwordTokenizer:
    def __init__(self, model_bytes: bytes):
        import sentencepiece as spm

        self.model_bytes = bytes(model_bytes)
        self.sp = spm.SentencePieceProcessor()
        try:
            self.sp.LoadFromSerializedProto(self.model_bytes)
        except Exception as e:  # noqa: BLE001 - any parse error means it is not a sentencepiece model
            raise DataError(f"not a SentencePiece model ({str(e)[:200]})") from None
        if self.sp.pad_id() != PAD or self.sp.bos_id() != BOS or self.sp.eos_id() != EOS:
            raise DataError("the SentencePiece model must use pad=0, unk=1, bos=2, eos=3")

    @classmethod
    def train(cls, sentences: Iterable[str], *, vocab_size: int = 500, model_type: str = "unigram",
              seed: int = 0, character_coverage: float = 1.0) -> "SubwordTokenizer":
        import sentencepiece as spm

        if model_type not in ("unigram", "bpe"):
            raise DataError(f"model_type must be unigram or bpe, not {model_type!r}")
        lines = [s for s in sentences if s]
        if len(lines) < 2:
            raise DataError("a tokenizer needs at least two sentences to train on")
        buf = io.BytesIO()
        spm.set_random_generator_seed(int(seed))
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(lines), model_writer=buf, vocab_size=int(vocab_size), model_type=model_type,
                pad_id=PAD, unk_id=UNK, bos_id=BOS, eos_id=EOS, character_coverage=character_coverage,
                num_threads=1, hard_vocab_limit=False, minloglevel=2)
        except RuntimeError as e:
            raise DataError(f"the tokenizer could not be trained: {str(e)[:300]}") from None
        return cls(buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> "SubwordTokenizer":
        return cls(Path(path).read_bytes())

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_bytes(self.model_bytes)
        return path

    @property
    def vocab_size(self) -> int:
        return int(self.sp.get_piece_size())

    def encode(self, text: str, *, max_len: int | None = None) -> list[int]:
        """Ids of ``text`` followed by EOS (cut to ``max_len`` with EOS kept last)."""
        ids = list(self.sp.encode(text, out_type=int))
        if max_len is not None and len(ids) + 1 > max_len:
            ids = ids[:max_len - 1]
        return ids + [EOS]

    def decode(self, ids: Sequence[int]) -> str:
        out = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i not in (PAD, BOS):
                out.append(i)
        return self.sp.decode(out)

    def pieces(self, text: str) -> list[str]:
        return list(self.sp.encode(text, out_type=str))

    def batch_tensors(self, pairs: Sequence[tuple[str, str]], *, max_len: int
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Source ids (n, S), decoder inputs ``[BOS, y...]`` and targets ``[y..., EOS]``
        (n, T), padded with PAD; sequences cut to ``max_len``."""
        srcs = [self.encode(s, max_len=max_len) for s, _ in pairs]
        tgts = [self.encode(t, max_len=max_len) for _, t in pairs]
        s_len = max(len(s) for s in srcs)
        t_len = max(len(t) for t in tgts)
        src = torch.full((len(pairs), s_len), PAD, dtype=torch.long)
        tin = torch.full((len(pairs), t_len), PAD, dtype=torch.long)
        tout = torch.full((len(pairs), t_len), PAD, dtype=torch.long)
        for i, (s, t) in enumerate(zip(srcs, tgts)):
            src[i, :len(s)] = torch.tensor(s)
            tout[i, :len(t)] = torch.tensor(t)
            tin[i, 0] = BOS
            tin[i, 1:len(t)] = torch.tensor(t[:-1])
        return src, tin, tout
