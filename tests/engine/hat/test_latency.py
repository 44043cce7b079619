"""HAT's latency protocol, its CSV layout and the predictors."""
import numpy as np
import pytest

from engine.hat.latency import (FEATURES, LATENCY_COLUMNS, LatencyCSVError, LatencyRecord, fit_latency_models,
                                measure_subtransformer, read_latency_csv, trimmed_stats, write_latency_csv)
from engine.problems import SequenceToSequence
from engine.spaces import HATSpace


def test_trimmed_stats_drop_the_top_and_bottom_ten_percent():
    times = [100.0] + [10.0] * 8 + [0.0]  # one outlier each side of ten runs
    mean, std = trimmed_stats(times)
    assert mean == 10.0 and std == 0.0
    assert trimmed_stats(list(range(20)))[0] == pytest.approx(np.mean(range(2, 18)))
    assert trimmed_stats([3.0])[0] == 3.0


def test_a_subtransformer_is_measured_encoder_and_autoregressive_decoder():
    space = HATSpace("tiny")
    net = space.build(space.smallest(), SequenceToSequence(50, 50, 6, 6))
    r = measure_subtransformer(net, src_len=6, tgt_len=6, warmup=1, repeats=5, clock="thread")
    assert r.encoder_ms > 0 and r.decoder_ms > 0 and r.total_ms == r.encoder_ms + r.decoder_ms
    assert r.protocol["batch"] == 1 and r.protocol["tgt_len"] == 6 and "trimmed" in r.protocol["statistic"]
    with pytest.raises(ValueError, match="threads=1"):
        measure_subtransformer(net, src_len=6, tgt_len=6, threads=2, clock="thread")


def _rows(space, n=40, seed=0):
    rng = np.random.default_rng(seed)
    archs = space.sample_distinct(rng, n)
    feats = np.stack([space.features(a) for a in archs])
    enc = 1.0 + feats[:, 0] / 64
    dec = feats[:, 5] * (0.5 + feats[:, 6] / 256)  # decoder depth and width
    recs = [LatencyRecord(e, d, 0.01, 0.02) for e, d in zip(enc, dec)]
    return feats, recs, enc + dec


def test_the_csv_layout_round_trips(tmp_path):
    space = HATSpace("tiny")
    feats, recs, total = _rows(space)
    path = write_latency_csv(tmp_path / "lat.csv", feats, recs)
    header = path.read_text().splitlines()[0].split(",")
    assert header == [*FEATURES, *LATENCY_COLUMNS]
    ds = read_latency_csv(path, space=space)
    assert len(ds) == 40 and np.allclose(ds.total_ms, total, atol=1e-5) and np.allclose(ds.features, feats)


def _csv(header, rows):
    return "\n".join([",".join(header), *(",".join(map(str, r)) for r in rows)]) + "\n"


@pytest.mark.parametrize("change,message", [
    (lambda h, r: (h[:-1], [x[:-1] for x in r]), "missing columns: latency_std_decoder"),
    (lambda h, r: (h, [r[0][:3] + ["abc"] + r[0][4:]] + r[1:]), "row 2, column encoder_self_attention_heads_avg: 'abc' is not a number"),
    (lambda h, r: (h, r[:1] + [r[1][:10] + [-3] + r[1][11:]] + r[2:]), "row 3, column latency_mean_encoder: -3 is negative"),
    (lambda h, r: (h, r[:5]), "5 data rows; at least 20"),
])
def test_bad_latency_csvs_are_refused_naming_row_and_column(change, message):
    space = HATSpace("tiny")
    feats, recs, _ = _rows(space, 25)
    rows = [[*f.tolist(), r.encoder_ms, r.decoder_ms, r.encoder_std_ms, r.decoder_std_ms] for f, r in zip(feats, recs)]
    h, rows = change([*FEATURES, *LATENCY_COLUMNS], rows)
    with pytest.raises(LatencyCSVError, match=message.replace("(", r"\(")):
        read_latency_csv(_csv(h, rows).encode(), space=space)


def test_features_beyond_the_space_are_refused():
    space = HATSpace("tiny")
    feats, recs, _ = _rows(space, 25)
    feats[0, 0] = 640  # space0's width in the tiny space
    rows = [[*f.tolist(), r.encoder_ms, r.decoder_ms, r.encoder_std_ms, r.decoder_std_ms] for f, r in zip(feats, recs)]
    with pytest.raises(LatencyCSVError, match="beyond the tiny space"):
        read_latency_csv(_csv([*FEATURES, *LATENCY_COLUMNS], rows).encode(), space=space)


def test_hats_released_layout_is_read_in_the_space_it_was_measured_in():
    """HAT's datasets hold the mean number of encoder layers each decoder layer
    attends (1 to 3), not the -1 / 1 / 2 gene: a space0 row whose decoder
    layers all attend the last three encoder layers reads as 3.0, and this
    space's own rows are written the same way."""
    space = HATSpace("space0")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(24):
        nd = int(rng.integers(1, 7))
        spans = rng.integers(1, 4, nd)
        rows.append([640 if i % 2 else 512, 6, 2048.0, 6.0, 512, nd, 1024.0, 4.0, 4.0, float(spans.mean()),
                     200.0 + i, 1000.0 * nd + i, 3.0, 30.0])
    rows[0][9] = 3.0
    ds = read_latency_csv(_csv([*FEATURES, *LATENCY_COLUMNS], rows).encode(), space=space)
    assert ds.features[0, 9] == 3.0 and space.norm[9] == 3
    three = {**space.largest(), "decoder_arbitrary_ende_attn": [2] * 6}
    assert space.features(three)[9] == 3.0 and space.encode(three)[9] == 1.0


def test_the_mlp_and_the_linear_fit_are_scored_on_held_out_rows():
    space = HATSpace("tiny")
    feats, _, total = _rows(space, 60)
    m = fit_latency_models(space, feats, total, epochs=150, seed=0)
    assert m.mlp.hidden == (400, 400, 400) and m.mlp.encoding_size == 10
    true, p_mlp, p_lin = m.held_out
    assert len(true) == 12 and m.train_rows == 48
    assert m.errors["mlp"]["mape"] < 0.15 and m.errors["mlp"]["kendall_tau"] > 0.6
    # the target is nearly linear in the features: the linear fit is close too
    assert m.errors["linear"]["mape"] < 0.25
