"""The experiment page for HAT: the front of validation loss against latency per
search (evolution, random, winner, baseline), the chosen SubTransformer drawn
layer by layer, predicted latency against measured."""
from __future__ import annotations

import numpy as np
import pytest

from engine.spaces import HATSpace
from tests.webapp.test_services import make_exp, toy  # noqa: F401

pytestmark = pytest.mark.django_db

SPACE = HATSpace("tiny")


@pytest.fixture
def hat_exp(profiles, user):
    rng = np.random.default_rng(0)
    archs = [SPACE.structure(SPACE.sample(rng)) for _ in range(5)]
    archs[3] = SPACE.structure({**SPACE.largest(), "decoder_arbitrary_ende_attn": [2, 1, -1]})
    metrics = [
        {"val_loss": 2.0, "latency_ms": 5.0, "latency_source": "predictor", "search": "evolution"},
        {"val_loss": 2.4, "latency_ms": 4.0, "latency_source": "predictor", "search": "random"},
        {"val_loss": 2.1, "latency_ms": 6.0, "latency_source": "predictor", "search": "latency sample",
         "latency_measured_ms": 6.5, "latency_measured_source": "measured", "latency_predicted_ms": 6.0,
         "latency_predicted_source": "predictor", "latency_linear_ms": 7.0, "latency_linear_source": "predictor"},
        {"val_loss": 1.9, "latency_ms": 5.2, "latency_source": "measured", "search": "winner", "network": "searched",
         "bleu": 30.0, "latency_measured_ms": 5.2, "latency_measured_source": "measured",
         "latency_predicted_ms": 5.0, "latency_predicted_source": "predictor"},
        {"val_loss": 2.3, "latency_ms": 5.1, "latency_source": "measured", "search": "uniform baseline",
         "network": "baseline", "bleu": 25.0},
    ]
    return make_exp(user, profiles["local-cpu"], metrics, technique="hat", archs=archs)


@pytest.fixture
def web(client, user):
    client.force_login(user)
    return client


def test_scatter_groups_by_search(web, hat_exp):
    fig = web.get(f"/experiments/{hat_exp.pk}/plot.json").json()["figure"]
    names = [t["name"] for t in fig["data"] if t.get("mode", "").startswith("markers")]
    assert {"evolution (1)", "random (1)", "winner (1)", "uniform baseline (1)"} <= set(names)
    assert "estimate" in fig["layout"]["xaxis"]["title"]["text"]  # predicted latencies are marked


def test_series_json_draws_the_layers_and_predicted_against_measured(web, hat_exp):
    figs = {f["title"]: f["figure"] for f in web.get(f"/experiments/{hat_exp.pk}/series.json").json()["figures"]}
    layers = figs["Layers: #3 searched"]["data"][0]
    assert layers["type"] == "bar" and len(layers["x"]) == 3 + 3  # 3 encoder and 3 decoder layers
    assert "reads enc 1,2,3" in layers["text"][3] and "reads enc 3" in layers["text"][5]
    assert list(figs)[list(figs).index("Layers: #3 searched") + 1] == "Layers: #4 baseline"  # named ones first
    lat = figs["Latency: predicted against measured"]["data"]
    assert lat[0]["x"] == [6.5, 5.2] and lat[0]["y"] == [6.0, 5.0]
    assert lat[1]["name"] == "linear fit" and lat[1]["y"] == [7.0, None]


def test_experiment_page_renders(web, hat_exp):
    assert web.get(f"/experiments/{hat_exp.pk}/").status_code == 200


def test_example_translations_are_a_table_with_sentence_chrf(web, hat_exp, media_root):
    import csv
    import io

    from django.core.files.base import ContentFile

    from webapp import selectors
    from webapp.models import Artifact

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["source", "reference", "searched", "baseline", "chrf_searched", "chrf_baseline"])
    for i in range(14):
        w.writerow([f"twenty-{i}", f"{i}undzwanzig", f"{i}undzwanzig", f"zwanzig <{i}>", "100.00", f"{30 + i}.00"])
    art = Artifact(experiment=hat_exp, kind="csv", caption="examples", group="translations")
    art.file.save("translations.csv", ContentFile(buf.getvalue().encode()), save=True)
    ex = selectors.translation_examples(hat_exp)
    assert len(ex["rows"]) == 10 and ex["rows"][0]["chrf_baseline"] == 30.0 and ex["searched_better"] == 10
    page = web.get(f"/experiments/{hat_exp.pk}/").content.decode()
    table = page[page.index('id="translations"'):]
    assert "<td>twenty-9</td>" in table and "twenty-10" not in table  # ten rows
    assert "&lt;3&gt;" in table and "<3>" not in table  # a hypothesis is text, escaped
    assert "30.0" in table and "translations.csv" in table
    # a run without them (or an older file without the score columns) still renders
    art.file.save("translations.csv", ContentFile(b"source,reference,searched,baseline\na,b,c,d\n"), save=True)
    assert selectors.translation_examples(hat_exp)["rows"][0]["chrf_searched"] is None
    assert web.get(f"/experiments/{hat_exp.pk}/").status_code == 200


def test_the_claim_tables_read_the_summary(web, hat_exp):
    """The baselines and the cross-hardware rows come from the stored summary;
    a malformed row is dropped, a run without the figures shows no card."""
    from webapp import selectors

    assert selectors.hat_claim({"bleu_searched": 90.0}) is None
    assert 'id="hat-claim"' not in web.get(f"/experiments/{hat_exp.pk}/").content.decode()
    row = {"profile": "local-cpu", "source": "measured", "limit_ms": 9.0, "own_ms": 8.5, "own_val_loss": 0.30,
           "other": "stm32f746", "other_ms": 15.2, "other_val_loss": 0.28, "own_within_limit": True,
           "other_within_limit": False, "same_arch": False, "holds": True,
           "why": "stm32f746's breaks this limit (15.2 > 9 ms)"}
    hat_exp.summary = {"message": "m", "metrics": {
        "bleu_searched": 93.0, "bleu_baseline": 92.0, "bleu_transformer": 91.0, "chrf_searched": 98.9,
        "latency_searched_ms": 8.5, "latency_baseline_ms": 8.6, "latency_transformer_ms": 12.8,
        "speedup_vs_transformer": 12.8 / 8.5, "searched_dominates_transformer": True,
        "hat_cross": [row, {"profile": "broken"}], "cross_specialised": True}}
    hat_exp.save()
    claim = selectors.hat_claim(hat_exp.summary["metrics"])
    assert [n["bleu"] for n in claim["nets"]] == [93.0, 92.0, 91.0] and len(claim["cross"]) == 1
    page = web.get(f"/experiments/{hat_exp.pk}/").content.decode()
    card = page[page.index('id="hat-claim"'):]
    assert "1.51x faster" in card and "Transformer, dimension scaling" in card
    assert "stm32f746&#x27;s breaks this limit" in card or "stm32f746's breaks this limit" in card
    # nothing translated: said so, not a verdict
    hat_exp.summary["metrics"].update({"bleu_searched": 0.0, "bleu_transformer": 0.0,
                                       "searched_dominates_transformer": False})
    hat_exp.save()
    card = web.get(f"/experiments/{hat_exp.pk}/").content.decode()
    assert "Nothing translated" in card and "Not shown here" not in card


def test_the_cross_verdict_rules():
    from engine.hat.technique import cross_verdict

    v = lambda own, other, lo, lt, **k: cross_verdict("p", "measured", 10.0, own, other, lo, lt, other="q", **k)  # noqa: E731
    assert v(9, 11, 0.5, 0.1)["holds"]  # the other's breaks the limit
    assert v(9, 8, 0.3, 0.4)["holds"] and not v(9, 8, 0.5, 0.4)["holds"]  # both meet it: the more accurate
    assert not v(11, 8, 0.1, 0.9)["holds"] and not v(11, 12, 0.1, 0.9)["holds"]  # the own one breaks it
    tie = v(9, 9, 0.3, 0.3, same=True)
    assert not tie["holds"] and tie["why"].startswith("tie")
