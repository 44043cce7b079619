"""The generated parallel corpus, user corpora and the subword tokenizer."""
import pytest

from engine.data import DataError, dataset_info
from engine.data.parallel import generate_number_corpus, load_parallel_folder
from engine.data.subword import EOS, PAD, SubwordTokenizer
from engine.data.loading import DATASETS


def test_the_generated_corpus_is_reproducible_labelled_and_split_without_overlap():
    a = generate_number_corpus("de", train=300, valid=40, test=40, seed=3)
    b = generate_number_corpus("de", train=300, valid=40, test=40, seed=3)
    assert a.train == b.train and a.sizes() == {"train": 300, "valid": 40, "test": 40}
    src = [s for s, _ in a.train]
    assert len(set(src)) == len(src)
    assert not set(src) & {s for s, _ in a.valid + a.test}
    assert a.origin == "generated" and "num2words" in a.description
    info = dataset_info("num2words-en-de")
    assert info.origin == "generated" and info.modality == "parallel-text" and info.offline
    assert "num2words-en-de" not in DATASETS  # not offered to image techniques
    fr = generate_number_corpus("fr", train=50, valid=5, test=5, seed=0)
    assert fr.tgt_lang == "fr"


def _write(folder, name, lines):
    (folder / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def test_a_user_folder_corpus_loads_and_holds_out_valid_and_test(tmp_path):
    src = [f"sentence {i}" for i in range(40)]
    _write(tmp_path, "train.en", src)
    _write(tmp_path, "train.de", [f"Satz {i}" for i in range(40)])
    c = load_parallel_folder(str(tmp_path), src="en", tgt="de")
    assert c.origin == "real" and len(c.train) + len(c.valid) + len(c.test) == 40
    assert set(c.meta["held_out_from_train"]) == {"valid", "test"}
    assert ("sentence 0", "Satz 0") in c.train + c.valid + c.test


@pytest.mark.parametrize("en,de,message", [
    (["a"] * 30, ["b"] * 29, "equal line counts"),
    (["a"] * 15 + [""] + ["a"] * 14, ["b"] * 30, "line 16 is empty"),
    (["a"] * 5, ["b"] * 5, "at least 20"),
])
def test_bad_corpora_are_refused_naming_the_problem(tmp_path, en, de, message):
    _write(tmp_path, "train.en", en)
    _write(tmp_path, "train.de", de)
    with pytest.raises(DataError, match=message):
        load_parallel_folder(str(tmp_path), src="en", tgt="de")


def test_a_missing_side_or_binary_file_is_refused(tmp_path):
    _write(tmp_path, "train.en", ["a"] * 30)
    with pytest.raises(DataError, match="train.de is missing"):
        load_parallel_folder(str(tmp_path))
    (tmp_path / "train.de").write_bytes(b"\xff\xfe" * 40)
    with pytest.raises(DataError, match="not UTF-8"):
        load_parallel_folder(str(tmp_path))
    with pytest.raises(DataError, match="no corpus folder"):
        load_parallel_folder("no-such-corpus", root=tmp_path)


def test_the_tokenizer_round_trips_and_pads():
    c = generate_number_corpus("de", train=300, valid=5, test=5, seed=0)
    tok = SubwordTokenizer.train([s for p in c.train for s in p], vocab_size=150, seed=0)
    assert tok.model_bytes == SubwordTokenizer.train([s for p in c.train for s in p], vocab_size=150).model_bytes
    s, t = c.train[0]
    ids = tok.encode(t)
    assert ids[-1] == EOS and tok.decode(ids) == t
    src, tin, tout = tok.batch_tensors(c.train[:10], max_len=12)
    assert src.shape[0] == 10 and src.shape[1] <= 12 and (tin[:, 0] == 2).all()
    row = tout[0][tout[0] != PAD].tolist()
    assert tin[0, 1:len(row)].tolist() == row[:-1]  # decoder inputs are the targets shifted right
    with pytest.raises(DataError, match="not a SentencePiece model"):
        SubwordTokenizer(b"not a model")


# -- an uploaded corpus: .zip / .tar.gz of split files, or a two-column .tsv --------------------------------

def _zip(path, members: dict, *, symlink: str | None = None):
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            zf.writestr(name, text)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, "/etc/passwd")
    return path


def _lines(prefix, n):
    return "".join(f"{prefix} {i}\n" for i in range(n))


def test_an_uploaded_zip_tar_and_tsv_load_with_the_folder_checks(tmp_path):
    import tarfile

    from engine.data.parallel import load_parallel_upload, parallel_upload_languages

    z = _zip(tmp_path / "c.zip", {"iwslt/train.de": _lines("Satz", 40), "iwslt/train.en": _lines("sentence", 40),
                                  "iwslt/valid.de": _lines("V", 5), "iwslt/valid.en": _lines("v", 5),
                                  "iwslt/README": "not read"})
    assert parallel_upload_languages(z) == ("de", "en")
    c = load_parallel_upload(z, src="en", tgt="de")
    assert c.origin == "real" and len(c.train) + len(c.test) == 40 and len(c.valid) == 5
    assert c.meta["held_out_from_train"] == ["test"] and ("sentence 3", "Satz 3") in c.train + c.test
    assert load_parallel_upload(z).src_lang == "de"  # the two languages in name order when none is named
    t = tmp_path / "c.tar.gz"
    (tmp_path / "train.en").write_text(_lines("a", 30))
    (tmp_path / "train.fr").write_text(_lines("b", 30))
    with tarfile.open(t, "w:gz") as tf:
        tf.add(tmp_path / "train.en", "train.en")
        tf.add(tmp_path / "train.fr", "train.fr")
    assert load_parallel_upload(t, src="en", tgt="fr").sizes()["train"] == 27  # 2 + 1 held out
    tsv = tmp_path / "c.tsv"
    tsv.write_text("".join(f"one {i}\teins {i}\n" for i in range(30)), encoding="utf-8")
    c = load_parallel_upload(tsv, src="en", tgt="de")
    assert parallel_upload_languages(tsv) is None and ("one 0", "eins 0") in c.train + c.valid + c.test


@pytest.mark.parametrize("members,message", [
    ({"train.en": _lines("a", 30), "train.de": _lines("b", 29)}, "equal line counts"),
    ({"train.en": _lines("a", 10) + "\n" + _lines("a", 19), "train.de": _lines("b", 30)}, "train.en: line 11 is empty"),
    ({"train.en": _lines("a", 30), "train.de": b"\xff\xfe" * 30}, "train.de: not UTF-8"),
    ({"train.en": _lines("a", 30)}, "no train.<src> and train.<tgt>"),
    ({"../train.en": _lines("a", 30), "train.de": _lines("b", 30)}, "climbs out"),
    ({"/abs/train.en": _lines("a", 30), "train.de": _lines("b", 30)}, "absolute"),
    ({"a/train.en": _lines("a", 30), "b/train.de": _lines("b", 30)}, "several folders"),
    ({"train.en": "a\n" * 3_000_000, "train.de": _lines("b", 30)}, "zip bomb"),
])
def test_bad_uploaded_archives_are_refused_naming_the_problem(tmp_path, members, message):
    from engine.data.parallel import load_parallel_upload

    with pytest.raises(DataError, match=message):
        load_parallel_upload(_zip(tmp_path / "bad.zip", members))


def test_links_in_archives_and_bad_tsv_lines_are_refused(tmp_path):
    import io
    import tarfile

    from engine.data.parallel import load_parallel_upload

    ok = {"train.en": _lines("a", 30), "train.de": _lines("b", 30)}
    with pytest.raises(DataError, match="symbolic link"):
        load_parallel_upload(_zip(tmp_path / "l.zip", ok, symlink="train.fr"))
    t = tmp_path / "l.tar.gz"
    with tarfile.open(t, "w:gz") as tf:
        info = tarfile.TarInfo("train.en")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(info)
        data = _lines("b", 30).encode()
        info = tarfile.TarInfo("train.de")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with pytest.raises(DataError, match="is a link"):
        load_parallel_upload(t)
    (tmp_path / "x.zip").write_bytes(b"PK not a zip")
    with pytest.raises(DataError, match="not a readable .zip"):
        load_parallel_upload(tmp_path / "x.zip")
    tsv = tmp_path / "c.tsv"
    tsv.write_text("one\teins\n" * 10 + "two eins\n" + "one\teins\n" * 20, encoding="utf-8")
    with pytest.raises(DataError, match="line 11 has 1 tab-separated column"):
        load_parallel_upload(tsv)
    tsv.write_text("one\teins\n" * 10 + "two\t \n" + "one\teins\n" * 20, encoding="utf-8")
    with pytest.raises(DataError, match=r"c.tsv \(target column\): line 11 is empty"):
        load_parallel_upload(tsv)


# -- the one archive reader (engine.data.archive, issue 35): checked from the headers, read lazily and bounded --

class _Zeros:
    """A file object of ``n`` zero bytes, a MiB at a time (a test never holds a bomb in memory)."""

    _BLOCK = bytes(1 << 20)

    def __init__(self, n: int):
        self.left = n

    def read(self, n: int = -1) -> bytes:
        k = min(self.left, len(self._BLOCK), self.left if n is None or n < 0 else n)
        self.left -= k
        return self._BLOCK[:k]


def zeros_tar_gz(path, size: int, name: str = "train.en"):
    """A .tar.gz holding one member of ``size`` zero bytes, written streaming (600 MB make ~580 KB)."""
    import tarfile

    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo(name)
        info.size = size
        tf.addfile(info, _Zeros(size))
    return path


def _tar_gz(path, members, fmt=None):
    """A .tar.gz of (TarInfo, bytes | None) pairs."""
    import io
    import tarfile

    with tarfile.open(path, "w:gz", **({"format": fmt} if fmt is not None else {})) as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _info(name, **attrs):
    import tarfile

    info = tarfile.TarInfo(name)
    for k, v in attrs.items():
        setattr(info, k, v)
    return info


def test_a_tar_gz_bomb_is_refused_from_its_header_before_anything_is_decompressed(tmp_path):
    """The case of issue 35 (a member of zeros ~1,000 times its .tar.gz) at 50 MB:
    refused naming the member, with next to nothing allocated."""
    import tracemalloc

    from engine.data.parallel import load_parallel_upload, parallel_upload_languages

    bomb = zeros_tar_gz(tmp_path / "bomb.tar.gz", 50 * 10**6)
    assert bomb.stat().st_size < 100_000
    tracemalloc.start()
    try:
        for call in (load_parallel_upload, parallel_upload_languages):
            with pytest.raises(DataError, match=r"bomb.tar.gz: member 'train.en' declares 50,000,000 bytes in a "
                                                r"[\d,]+-byte archive \(a decompression bomb\?\); refused"):
                call(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20, f"{peak:,} bytes allocated to refuse it"


def test_tar_members_that_are_not_plain_files_or_climb_out_are_refused(tmp_path):
    import tarfile

    from engine.data.parallel import load_parallel_upload

    ok = _lines("b", 30).encode()
    for extra, message in [
        (_info("train.fr", type=tarfile.LNKTYPE, linkname="train.de"), "member 'train.fr' is a link"),
        (_info("train.fr", type=tarfile.CHRTYPE, devmajor=1, devminor=3), "member 'train.fr' is not a regular file"),
        (_info("train.fr", type=tarfile.FIFOTYPE), "member 'train.fr' is not a regular file"),
        (_info("../train.fr"), "member '../train.fr' climbs out"),
        (_info("/etc/train.fr"), "member '/etc/train.fr' has an absolute"),
        (_info("C:/train.fr"), "has an absolute or Windows path"),
    ]:
        t = _tar_gz(tmp_path / "t.tar.gz", [(_info("train.de"), ok), (extra, ok if extra.isfile() else None)])
        with pytest.raises(DataError, match=message):
            load_parallel_upload(t)


def test_tar_headers_tarfile_reads_for_itself_are_bounded(tmp_path):
    """A pax header of 5 MB (tarfile would read it whole, before any member) and
    too many members are refused; so is a damaged stream."""
    import tarfile

    from engine.data.parallel import load_parallel_upload

    pax = _info("train.en", pax_headers={"comment": "x" * 5_000_000})
    t = _tar_gz(tmp_path / "pax.tar.gz", [(pax, b"a\n" * 30)], fmt=tarfile.PAX_FORMAT)
    with pytest.raises(DataError, match=r"pax.tar.gz: a tar header \(pax or GNU long name\) of 5,0[\d,]+ bytes"):
        load_parallel_upload(t)
    many = _tar_gz(tmp_path / "many.tar.gz", [(_info(f"f{i}"), b"") for i in range(1001)])
    with pytest.raises(DataError, match="over 1,000 members; refused"):
        load_parallel_upload(many)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(_tar_gz(tmp_path / "x.tar.gz", [(_info("train.en"), _lines("a", 3000).encode())]
                            ).read_bytes()[:2000])
    with pytest.raises(DataError, match="cut.tar.gz: (member 'train.en' cannot be read|damaged)"):
        load_parallel_upload(cut)


def test_declared_sizes_are_bounded_per_member_in_total_and_against_the_archive(tmp_path):
    from engine.data.archive import ArchiveLimits, open_archive

    members = {f"m{i}": "\0" * 900_000 for i in range(40)}  # each under the 1 MiB floor, 36 MB in all
    for path in (_zip(tmp_path / "many.zip", members),
                 _tar_gz(tmp_path / "many.tar.gz", [(_info(n), t.encode()) for n, t in members.items()])):
        with pytest.raises(DataError, match=r"the members up to 'm\d+' declare [\d,]+ bytes in a [\d,]+-byte "
                                            r"archive \(a (zip|decompression) bomb\?\)"):
            open_archive(path)
        with pytest.raises(DataError, match="member 'm0' declares 900,000 bytes; at most 0 MiB a member"):
            open_archive(path, limits=ArchiveLimits(max_member_bytes=500_000))
        with pytest.raises(DataError, match="the members decompress to over 1 MiB"):
            open_archive(path, limits=ArchiveLimits(max_total_bytes=2**20, max_ratio=10**6))
        with open_archive(path, limits=ArchiveLimits(max_ratio=10**6)) as arch:
            assert [(m.name, m.size) for m in arch.members][:2] == [("m0", 900_000), ("m1", 900_000)]


def test_encrypted_and_device_zip_members_are_refused(tmp_path):
    import zipfile

    from engine.data.archive import open_archive

    path = tmp_path / "z.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("train.de")
        info.external_attr = 0o020644 << 16  # a character device
        zf.writestr(info, _lines("b", 30))
    with pytest.raises(DataError, match="member 'train.de' is not a regular file"):
        open_archive(path)
    _zip(path, {"train.de": _lines("b", 30)})
    raw = bytearray(path.read_bytes())
    at = raw.index(b"PK\x01\x02") + 8  # the central directory's flag bits (zipfile writes none itself)
    raw[at] |= 0x1
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="member 'train.de' is encrypted"):
        open_archive(path)


def test_members_are_read_only_when_asked_in_bounded_chunks_and_no_more_than_declared(tmp_path):
    import io

    from pathlib import PurePosixPath

    from engine.data.archive import CHUNK, ArchiveMember, open_archive

    text = _lines("sentence", 20_000).encode()
    z = tmp_path / "c.zip"
    _zip(z, {"train.en": text.decode(), "train.de": _lines("Satz", 30)})
    raw = bytearray(z.read_bytes())
    at = raw.index(b"train.en") + len("train.en") + 100  # inside train.en's compressed data
    raw[at] ^= 0xFF
    z.write_bytes(bytes(raw))
    with open_archive(z) as arch:  # listing reads no member: the damage shows only on reading it
        by = {m.name: m for m in arch.members}
        assert by["train.de"].read() == _lines("Satz", 30).encode()
        with pytest.raises(DataError, match="c.zip: member 'train.en' cannot be read"):
            by["train.en"].read()
    t = _tar_gz(tmp_path / "c.tar.gz", [(_info("train.en"), text)])
    with open_archive(t) as arch:
        assert arch.members[0].read() == text
        assert max(map(len, arch.members[0].chunks())) <= CHUNK

    class Recording(io.BytesIO):
        asked: list = []

        def read(self, n=-1):
            self.asked.append(n)
            return super().read(n)

    assert ArchiveMember("a.zip", "x", PurePosixPath("x"), 10, 10, lambda: Recording(b"y" * 10)).read() == b"y" * 10
    assert all(0 < n <= CHUNK + 1 for n in Recording.asked)
    with pytest.raises(DataError, match="a.zip: member 'x' holds more than the 5 bytes it declares"):
        ArchiveMember("a.zip", "x", PurePosixPath("x"), 5, 5, lambda: Recording(b"y" * 10)).read()
    with pytest.raises(DataError, match="a.zip: member 'x' holds 10 of the 20 bytes it declares"):
        ArchiveMember("a.zip", "x", PurePosixPath("x"), 20, 20, lambda: Recording(b"y" * 10)).read()
