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
