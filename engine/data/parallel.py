"""Parallel text for translation: a corpus generated on the machine, or a
user's plain-text corpus, as lists of sentence pairs.

Generated (offline, always there): numbers written out in words by the
``num2words`` package, English on the source side and German or French on
the target side -- cardinals, ordinals, years and euro amounts. The numbers
are drawn from a seeded generator (log-uniform, so small and large numbers
both appear), every source sentence occurs once, and train / valid / test
never share a sentence. German puts the units before the tens
("einundzwanzig": one-and-twenty) and writes a number as one compound word,
so the model has to attend across the sentence. It is *generated* data and
says so (``origin="generated"``).

A user's corpus: a folder (under ``$FRONTIER_DATA_DIR/parallel/`` or given
as a path) holding WMT / IWSLT style files ``train.<src>``, ``train.<tgt>``
and optionally ``valid.*`` and ``test.*``, one sentence a line, the two sides
aligned line by line. :func:`load_parallel_folder` refuses unequal line
counts, empty lines, files that are not UTF-8 and corpora that are too small
or too large, each with a :class:`DataError` naming the file and the line.

    corpus = generate_number_corpus("de", train=20000, valid=500, test=500, seed=0)
    corpus = load_parallel_folder("my-wmt", src="en", tgt="de")
    corpus.train[0]   # ("twenty-one", "einundzwanzig")
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .catalog import DatasetInfo, data_dir, datasets, register_dataset
from .errors import DataError

__all__ = ["ParallelCorpus", "generate_number_corpus", "load_parallel_folder", "parallel_folder",
           "NUMBER_CORPORA", "MAX_PAIRS", "MAX_LINE_CHARS", "MIN_TRAIN_PAIRS"]

Pair = tuple[str, str]
#: generated corpora: dataset name -> target language (the source is English)
NUMBER_CORPORA = {"num2words-en-de": "de", "num2words-en-fr": "fr"}
MAX_PAIRS = 2_000_000
MAX_LINE_CHARS = 2000
MIN_TRAIN_PAIRS = 20
_KINDS = ("cardinal", "ordinal", "year", "currency")
_SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class ParallelCorpus:
    """Sentence pairs per split, the languages, and where they came from."""

    name: str
    src_lang: str
    tgt_lang: str
    train: list[Pair]
    valid: list[Pair]
    test: list[Pair]
    origin: str = "generated"
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}


def _number(rng: np.random.Generator, kind: str) -> Any:
    if kind == "year":
        return int(rng.integers(1000, 2100))
    if kind == "currency":
        return round(float(rng.integers(1, 100_000)) + float(rng.integers(0, 100)) / 100.0, 2)
    if kind == "ordinal":
        return int(np.exp(rng.uniform(0, np.log(10_000))))
    return int(np.exp(rng.uniform(0, np.log(10_000_000)))) - 1 + int(rng.integers(0, 2))


def _say(value: Any, kind: str, lang: str) -> str:
    from num2words import num2words

    if kind == "currency":
        return num2words(value, lang=lang, to="currency", currency="EUR")
    return num2words(value, lang=lang, to=kind if kind != "cardinal" else "cardinal")


def generate_number_corpus(tgt_lang: str = "de", *, train: int = 20000, valid: int = 500, test: int = 500,
                           seed: int = 0) -> ParallelCorpus:
    """English number words -> ``tgt_lang`` number words, made by num2words
    from seeded draws (see the module's docstring). Deterministic for a seed."""
    if tgt_lang not in ("de", "fr"):
        raise DataError(f"generated corpora translate English into de or fr, not {tgt_lang!r}")
    total = train + valid + test
    if min(train, valid, test) < 1 or total > MAX_PAIRS:
        raise DataError(f"each split needs at least one pair and all together at most {MAX_PAIRS:,}")
    try:
        import num2words  # noqa: F401
    except ImportError:  # pragma: no cover - pinned in requirements.txt
        raise DataError("the generated corpus needs the num2words package (pip install num2words)") from None
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    pairs: list[Pair] = []
    for _ in range(total * 20):
        kind = _KINDS[int(rng.choice(len(_KINDS), p=[0.55, 0.15, 0.15, 0.15]))]
        value = _number(rng, kind)
        src = _say(value, kind, "en")
        if src in seen:
            continue
        seen.add(src)
        pairs.append((src, _say(value, kind, tgt_lang)))
        if len(pairs) == total:
            break
    if len(pairs) < total:
        raise DataError(f"only {len(pairs)} distinct sentences could be generated; ask for fewer")
    order = rng.permutation(len(pairs))
    pairs = [pairs[i] for i in order]
    name = f"num2words-en-{tgt_lang}"
    return ParallelCorpus(name, "en", tgt_lang, pairs[:train], pairs[train:train + valid], pairs[train + valid:],
                          origin="generated",
                          description=f"Generated: numbers (cardinals, ordinals, years, euro amounts) written in "
                                      f"English and {tgt_lang} words by num2words from seeded draws (seed {seed}); "
                                      "not natural text",
                          meta={"seed": seed, "generator": "num2words"})


def parallel_folder(name_or_path: str, root: str | Path | None = None) -> Path:
    """The corpus folder: a path that exists, else ``<data dir>/parallel/<name>``."""
    p = Path(name_or_path).expanduser()
    if p.is_dir():
        return p
    if "/" in name_or_path or name_or_path.startswith("."):
        raise DataError(f"corpus folder {name_or_path!r} does not exist")
    q = data_dir(root) / "parallel" / name_or_path
    if not q.is_dir():
        raise DataError(f"no corpus folder {name_or_path!r}: put train.<src> and train.<tgt> files in {q}")
    return q


def _read_lines(path: Path, max_pairs: int) -> list[str]:
    try:
        text = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path.name}: cannot be read ({e.strerror})") from None
    try:
        s = text.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path.name}: not UTF-8 text (byte {e.start})") from None
    lines = s.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) > max_pairs:
        raise DataError(f"{path.name}: {len(lines):,} lines; at most {max_pairs:,}")
    out = []
    for i, line in enumerate(lines, 1):
        line = line.rstrip("\r").strip()
        if not line:
            raise DataError(f"{path.name}: line {i} is empty (every line is one sentence of an aligned pair)")
        if len(line) > MAX_LINE_CHARS:
            raise DataError(f"{path.name}: line {i} has {len(line):,} characters; at most {MAX_LINE_CHARS:,}")
        out.append(line)
    return out


def _read_split(folder: Path, split: str, src: str, tgt: str, max_pairs: int) -> list[Pair] | None:
    a, b = folder / f"{split}.{src}", folder / f"{split}.{tgt}"
    if not a.is_file() and not b.is_file():
        return None
    for p in (a, b):
        if not p.is_file():
            raise DataError(f"{p.name} is missing beside {(b if p is a else a).name} in {folder}")
    xs, ys = _read_lines(a, max_pairs), _read_lines(b, max_pairs)
    if len(xs) != len(ys):
        raise DataError(f"{a.name} has {len(xs):,} lines but {b.name} has {len(ys):,}: the two sides of a "
                        "parallel corpus must have equal line counts")
    return list(zip(xs, ys))


def load_parallel_folder(name_or_path: str, *, src: str = "en", tgt: str = "de", root: str | Path | None = None,
                         max_pairs: int = MAX_PAIRS, valid_fraction: float = 0.05, seed: int = 0) -> ParallelCorpus:
    """A user's corpus (see the module's docstring). Without ``valid.*`` /
    ``test.*`` files, seeded ``valid_fraction`` slices of train stand in
    (and the corpus's ``meta`` says so)."""
    for lang, what in ((src, "source"), (tgt, "target")):
        if not lang.isalnum() or not 1 <= len(lang) <= 8:
            raise DataError(f"{what} language {lang!r} must be a short code such as en or de")
    if src == tgt:
        raise DataError("source and target languages must differ")
    folder = parallel_folder(name_or_path, root)
    splits = {s: _read_split(folder, s, src, tgt, max_pairs) for s in _SPLITS}
    if splits["train"] is None:
        raise DataError(f"{folder} has no train.{src} / train.{tgt}")
    train = splits["train"]
    meta: dict[str, Any] = {"folder": str(folder), "held_out_from_train": []}
    rng = np.random.default_rng(seed)
    for s in ("valid", "test"):
        if splits[s] is None:
            k = max(1, int(round(len(train) * valid_fraction)))
            idx = set(rng.choice(len(train), size=min(k, len(train) - 1), replace=False).tolist())
            splits[s] = [p for i, p in enumerate(train) if i in idx]
            train = [p for i, p in enumerate(train) if i not in idx]
            meta["held_out_from_train"].append(s)
    if len(train) < MIN_TRAIN_PAIRS:
        raise DataError(f"train.{src}: {len(train)} training pairs; at least {MIN_TRAIN_PAIRS} are needed")
    return ParallelCorpus(folder.name, src, tgt, train, splits["valid"] or [], splits["test"] or [], origin="real",
                          description=f"{src}->{tgt} sentence pairs from {folder}", meta=meta)


for _name, _lang in NUMBER_CORPORA.items():
    if _name not in datasets._items:  # a module reload registers nothing twice
        register_dataset(DatasetInfo(
            _name, f"Numbers in words, English -> {_lang} (generated)", "parallel-text",
            source="generated on this machine by the num2words package (seeded draws of cardinals, ordinals, "
                   "years and euro amounts)",
            licence="LGPL-2.1 (num2words); the generated text is ours", origin="generated", offline=True,
            install="pip install num2words"))
