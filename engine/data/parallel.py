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
The same checks read an uploaded corpus (:func:`load_parallel_upload`): a
``.zip`` / ``.tar.gz`` of those files (through :mod:`engine.data.archive`,
which checks every member's header before reading any, bounded, in memory,
never extracted) or a two-column ``.tsv``.

    corpus = generate_number_corpus("de", train=20000, valid=500, test=500, seed=0)
    corpus = load_parallel_folder("my-wmt", src="en", tgt="de")
    corpus = load_parallel_upload("iwslt-sample.zip", src="de", tgt="en")
    corpus.train[0]   # ("twenty-one", "einundzwanzig")
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .archive import Archive, ArchiveLimits, ArchiveMember, archive_format, open_archive
from .catalog import DatasetInfo, data_dir, datasets, register_dataset
from .errors import DataError

__all__ = ["ParallelCorpus", "generate_number_corpus", "load_parallel_folder", "parallel_folder",
           "load_parallel_upload", "parallel_upload_languages", "upload_suffix", "UPLOAD_SUFFIXES",
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


def _decode(name: str, data: bytes) -> list[str]:
    """A text file's lines (a last empty line dropped); not UTF-8 is refused naming the byte."""
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{name}: not UTF-8 text (byte {e.start})") from None
    lines = s.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _check_lines(name: str, lines: list[str], max_pairs: int) -> list[str]:
    """The one check of a side of a parallel corpus: its line count, and every
    line a non-empty sentence of bounded length (the error names file and line)."""
    if len(lines) > max_pairs:
        raise DataError(f"{name}: {len(lines):,} lines; at most {max_pairs:,}")
    out = []
    for i, line in enumerate(lines, 1):
        line = line.rstrip("\r").strip()
        if not line:
            raise DataError(f"{name}: line {i} is empty (every line is one sentence of an aligned pair)")
        if len(line) > MAX_LINE_CHARS:
            raise DataError(f"{name}: line {i} has {len(line):,} characters; at most {MAX_LINE_CHARS:,}")
        out.append(line)
    return out


def _read_split(get: Callable[[str], bytes | None], where: str, split: str, src: str, tgt: str,
                max_pairs: int) -> list[Pair] | None:
    an, bn = f"{split}.{src}", f"{split}.{tgt}"
    a, b = get(an), get(bn)
    if a is None and b is None:
        return None
    for n, d, other in ((an, a, bn), (bn, b, an)):
        if d is None:
            raise DataError(f"{n} is missing beside {other} in {where}")
    xs, ys = _check_lines(an, _decode(an, a), max_pairs), _check_lines(bn, _decode(bn, b), max_pairs)
    if len(xs) != len(ys):
        raise DataError(f"{an} has {len(xs):,} lines but {bn} has {len(ys):,}: the two sides of a "
                        "parallel corpus must have equal line counts")
    return list(zip(xs, ys))


def _check_languages(src: str, tgt: str) -> None:
    for lang, what in ((src, "source"), (tgt, "target")):
        if not lang.isalnum() or not 1 <= len(lang) <= 8:
            raise DataError(f"{what} language {lang!r} must be a short code such as en or de")
    if src == tgt:
        raise DataError("source and target languages must differ")


def _assemble(name: str, src: str, tgt: str, splits: dict[str, list[Pair] | None], description: str,
              meta: dict[str, Any], valid_fraction: float, seed: int, first: str) -> ParallelCorpus:
    """Splits into a corpus: seeded ``valid_fraction`` slices of train stand in
    for a missing valid / test (``meta["held_out_from_train"]`` says so)."""
    train = splits["train"]
    if train is None:
        raise DataError(f"{first} has no train.{src} / train.{tgt}")
    meta = {**meta, "held_out_from_train": []}
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
    return ParallelCorpus(name, src, tgt, train, splits["valid"] or [], splits["test"] or [], origin="real",
                          description=description, meta=meta)


def load_parallel_folder(name_or_path: str, *, src: str = "en", tgt: str = "de", root: str | Path | None = None,
                         max_pairs: int = MAX_PAIRS, valid_fraction: float = 0.05, seed: int = 0) -> ParallelCorpus:
    """A user's corpus (see the module's docstring). Without ``valid.*`` /
    ``test.*`` files, seeded ``valid_fraction`` slices of train stand in
    (and the corpus's ``meta`` says so)."""
    _check_languages(src, tgt)
    folder = parallel_folder(name_or_path, root)

    def get(n: str) -> bytes | None:
        p = folder / n
        if not p.is_file():
            return None
        try:
            return p.read_bytes()
        except OSError as e:
            raise DataError(f"{n}: cannot be read ({e.strerror})") from None

    splits = {s: _read_split(get, str(folder), s, src, tgt, max_pairs) for s in _SPLITS}
    return _assemble(folder.name, src, tgt, splits, f"{src}->{tgt} sentence pairs from {folder}",
                     {"folder": str(folder)}, valid_fraction, seed, str(folder))


# -- an uploaded corpus: one file, a .zip / .tar.gz of split files or a two-column .tsv ------------------------

#: file names an uploaded corpus may have
UPLOAD_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tsv")
#: bounds on an uploaded archive: members, and bytes of its files once decompressed (each and all together)
MAX_ARCHIVE_MEMBERS = 1000
MAX_CORPUS_BYTES = 256 * 2**20
#: a member that decompresses to over this many times its compressed size (and over 1 MiB) is a zip bomb;
#: for a .tar.gz, over this many times the whole file's size
MAX_COMPRESSION_RATIO = 100
_LIMITS = ArchiveLimits(max_members=MAX_ARCHIVE_MEMBERS, max_member_bytes=MAX_CORPUS_BYTES,
                        max_total_bytes=MAX_CORPUS_BYTES, max_ratio=MAX_COMPRESSION_RATIO)
_SPLIT_FILE = re.compile(r"^(train|valid|test)\.([A-Za-z0-9]{1,8})$")


def upload_suffix(name: str) -> str | None:
    """The corpus format a file name says (``.zip``, ``.tar.gz``, ``.tgz``, ``.tsv``), else None."""
    low = name.lower()
    return next((s for s in UPLOAD_SUFFIXES if low.endswith(s)), None)


def _open_corpus_archive(path: Path) -> Archive:
    """A corpus archive, every member checked by :func:`engine.data.archive.open_archive`
    (nothing read yet); close it after reading."""
    if archive_format(path.name) is None:
        raise DataError(f"{path.name}: a corpus archive is a .zip or a .tar.gz")
    return open_archive(path, limits=_LIMITS)


def _split_members(archive: Archive, arch: str) -> list[ArchiveMember]:
    """The split files of an archive (``train.<lang>`` …, all in one folder);
    a README or a licence beside them is left unread."""
    out = [m for m in archive.members if _SPLIT_FILE.match(m.path.name)]
    folders = {m.path.parent for m in out}
    if len(folders) > 1:
        raise DataError(f"{arch}: split files in several folders ({', '.join(sorted(map(str, folders))[:4])}); "
                        "put train.<src> / train.<tgt> (and valid.*, test.*) in one")
    return out


def _archive_languages(names: list[str], arch: str) -> tuple[str, ...]:
    langs = tuple(sorted({m.group(2) for n in names if (m := _SPLIT_FILE.match(n)) and m.group(1) == "train"}))
    if len(langs) < 2:
        raise DataError(f"{arch}: holds no train.<src> and train.<tgt> pair (found: "
                        f"{', '.join(sorted(names)[:6]) or 'no split files'})")
    return langs


def parallel_upload_languages(path: str | Path) -> tuple[str, ...] | None:
    """The languages of an uploaded archive's ``train.*`` files, from its
    member list alone (nothing decompressed); None for a .tsv (two columns:
    source, target, in the languages the settings name)."""
    path = Path(path)
    if upload_suffix(path.name) == ".tsv":
        return None
    with _open_corpus_archive(path) as archive:
        return _archive_languages([m.path.name for m in _split_members(archive, path.name)], path.name)


def load_parallel_upload(path: str | Path, *, src: str | None = None, tgt: str | None = None,
                         name: str | None = None, max_pairs: int = MAX_PAIRS, valid_fraction: float = 0.05,
                         seed: int = 0) -> ParallelCorpus:
    """A corpus uploaded as one file, checked line by line as a folder is
    (:func:`load_parallel_folder`'s checks; errors name the file and line):

    - ``.zip`` / ``.tar.gz`` / ``.tgz`` holding ``train.<src>`` / ``train.<tgt>``
      (optionally ``valid.*`` / ``test.*``) in one folder; without ``src`` /
      ``tgt`` the archive must hold exactly two languages (taken in file-name
      order); links, '..' or absolute member names, encrypted members, too
      many members and zip bombs are refused and nothing is extracted to disk;
    - ``.tsv``: one pair a line, source and target separated by one tab
      (``src`` / ``tgt`` name the languages; default ``src`` / ``tgt``); valid
      and test are held out of it.
    """
    path = Path(path)
    label = name or path.name
    if not path.is_file():
        raise DataError(f"corpus file {label!r} does not exist")
    if upload_suffix(path.name) == ".tsv":
        src, tgt = src or "src", tgt or "tgt"
        _check_languages(src, tgt)
        try:
            lines = _decode(label, path.read_bytes())
        except OSError as e:
            raise DataError(f"{label}: cannot be read ({e.strerror})") from None
        if len(lines) > max_pairs:
            raise DataError(f"{label}: {len(lines):,} lines; at most {max_pairs:,}")
        xs, ys = [], []
        for i, line in enumerate(lines, 1):
            cols = line.rstrip("\r").split("\t")
            if len(cols) != 2:
                raise DataError(f"{label}: line {i} has {len(cols)} tab-separated column{'s' * (len(cols) != 1)}; "
                                "a .tsv corpus has two: source, target")
            xs.append(cols[0])
            ys.append(cols[1])
        xs = _check_lines(f"{label} (source column)", xs, max_pairs)
        ys = _check_lines(f"{label} (target column)", ys, max_pairs)
        splits: dict[str, list[Pair] | None] = {"train": list(zip(xs, ys)), "valid": None, "test": None}
        return _assemble(label, src, tgt, splits, f"{src}->{tgt} sentence pairs uploaded as {label}",
                         {"upload": label, "format": "tsv"}, valid_fraction, seed, label)
    with _open_corpus_archive(path) as archive:
        by_name = {m.path.name: m.read for m in _split_members(archive, path.name)}
        if src is None or tgt is None:
            langs = _archive_languages(list(by_name), label)
            if len(langs) != 2:
                raise DataError(f"{label}: train files in {len(langs)} languages ({', '.join(langs)}); "
                                "name the source and target languages")
            src = src or next(x for x in langs if x != tgt)
            tgt = tgt or next(x for x in langs if x != src)
        _check_languages(src, tgt)
        splits = {s: _read_split(lambda n: by_name[n]() if n in by_name else None, label, s, src, tgt, max_pairs)
                  for s in _SPLITS}
    return _assemble(label, src, tgt, splits, f"{src}->{tgt} sentence pairs uploaded as {label}",
                     {"upload": label, "format": upload_suffix(path.name)}, valid_fraction, seed, label)


for _name, _lang in NUMBER_CORPORA.items():
    if _name not in datasets._items:  # a module reload registers nothing twice
        register_dataset(DatasetInfo(
            _name, f"Numbers in words, English -> {_lang} (generated)", "parallel-text",
            source="generated on this machine by the num2words package (seeded draws of cardinals, ordinals, "
                   "years and euro amounts)",
            licence="LGPL-2.1 (num2words); the generated text is ours", origin="generated", offline=True,
            install="pip install num2words"))
