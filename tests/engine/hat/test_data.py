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
