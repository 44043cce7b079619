"""webapp.selectors: every read. Runs on SQLite and on PostgreSQL (DATABASE_URL)."""
from __future__ import annotations

import pytest

from engine import techniques
from tests.webapp.test_services import fast_hashing, make_exp, toy, TOY  # noqa: F401  (fixtures)
from webapp import selectors
from webapp.errors import ApplicationError
from webapp.models import Experiment
from webapp.selectors import Constraint

S = Experiment.Status
pytestmark = pytest.mark.django_db

METRICS = [
    {"latency_ms": 5.0, "accuracy": 0.80, "params": 3000, "latency_source": "measured"},
    {"latency_ms": 1.5, "accuracy": 0.60, "params": 1000, "latency_source": "roofline"},
    {"latency_ms": 12.0, "accuracy": 0.90, "params": 9000, "latency_source": "measured"},
    {"latency_ms": 3.0, "accuracy": 0.55, "params": 2000, "latency_source": "lut"},     # dominated by #1
    {"latency_ms": 20.0, "accuracy": 0.85, "params": 500, "latency_source": "measured"},  # dominated by #2
]


@pytest.fixture
def exp(profiles, user):
    return make_exp(user, profiles["local-cpu"], METRICS)


def _indices(qs):
    return [c.index for c in qs]


class TestCandidateQueryset:
    def test_default_is_index_order(self, exp):
        assert _indices(selectors.candidate_queryset(exp)) == [0, 1, 2, 3, 4]
        assert _indices(selectors.candidate_queryset(exp, ordering="-index")) == [4, 3, 2, 1, 0]

    def test_numeric_metric_ascending_and_descending(self, exp):
        # numerically, not as text: "12.0" < "3.0" < "5.0" as strings
        assert _indices(selectors.candidate_queryset(exp, ordering="latency_ms")) == [1, 3, 0, 2, 4]
        assert _indices(selectors.candidate_queryset(exp, ordering="-latency_ms")) == [4, 2, 0, 3, 1]
        assert _indices(selectors.candidate_queryset(exp, ordering="params")) == [4, 1, 3, 0, 2]
        assert _indices(selectors.candidate_queryset(exp, ordering="-accuracy")) == [2, 4, 0, 1, 3]

    def test_ties_break_by_index(self, profiles, user):
        e = make_exp(user, profiles["local-cpu"], [{"latency_ms": 2.0}, {"latency_ms": 1.0}, {"latency_ms": 2.0}])
        assert _indices(selectors.candidate_queryset(e, ordering="latency_ms")) == [1, 0, 2]

    def test_text_metric(self, exp):
        assert _indices(selectors.candidate_queryset(exp, ordering="latency_source")) == [3, 0, 2, 4, 1]

    def test_missing_and_null_values_sort_last_either_way(self, profiles, user):
        e = make_exp(user, profiles["local-cpu"], [{"accuracy": 0.5}, {"accuracy": None}, {"latency_ms": 1.0},
                                                   {"accuracy": 0.9}, {"accuracy": 0.7}])
        assert e.metric_keys["accuracy"] == "number"
        assert _indices(selectors.candidate_queryset(e, ordering="accuracy")) == [0, 4, 3, 1, 2]
        assert _indices(selectors.candidate_queryset(e, ordering="-accuracy")) == [3, 4, 0, 1, 2]

    def test_front_only(self, exp):
        assert _indices(selectors.candidate_queryset(exp, front_only=True)) == [0, 1, 2]
        assert _indices(selectors.candidate_queryset(exp, front_only=True, ordering="-accuracy")) == [2, 0, 1]

    def test_unknown_metric_is_an_application_error(self, exp):
        with pytest.raises(ApplicationError) as ei:
            selectors.candidate_queryset(exp, ordering="-nonsense")
        assert "ordering" in ei.value.field_errors

    def test_page(self, exp):
        page = selectors.candidate_page(exp, page=2, per_page=2, ordering="latency_ms")
        assert _indices(page) == [0, 2] and page.paginator.num_pages == 3 and page.paginator.count == 5
        assert _indices(selectors.candidate_page(exp, page="junk", per_page=2)) == [0, 1]


def test_stored_front_matches_the_objectives(exp):
    assert exp.front_objectives == [["latency_ms", "min"], ["accuracy", "max"]]
    assert sorted(c.index for c in exp.candidates.filter(on_front=True)) == [0, 1, 2]


def test_numeric_metrics_objectives_first(exp):
    assert selectors.numeric_metrics(exp) == ["latency_ms", "accuracy", "params"]


def test_experiment_list_filters(toy, profiles, user, other_user, staff):
    a = make_exp(user, profiles["local-cpu"], status=S.SUCCEEDED)
    b = make_exp(other_user, profiles["jetson-nano"], status=S.FAILED, shared=True)
    c = make_exp(user, profiles["jetson-nano"], technique=TOY, status=S.SUCCEEDED)
    d = make_exp(other_user, profiles["jetson-nano"], status=S.FAILED)  # bob's, private
    ids = lambda qs: sorted(e.pk for e in qs)  # noqa: E731
    assert ids(selectors.experiment_list(user=user)) == sorted([a.pk, b.pk, c.pk])
    assert ids(selectors.experiment_list(user=user, technique=TOY)) == [c.pk]
    assert ids(selectors.experiment_list(user=user, status="failed")) == [b.pk]
    assert ids(selectors.experiment_list(user=user, hardware="jetson-nano")) == sorted([b.pk, c.pk])
    assert ids(selectors.experiment_list(user=user, owner="alice")) == sorted([a.pk, c.pk])
    assert ids(selectors.experiment_list(user=user, owner="alice", hardware="jetson-nano", status="succeeded")) == [c.pk]
    assert ids(selectors.experiment_list(user=user, owner="nobody")) == []
    assert ids(selectors.experiment_list(user=user, owner="bob")) == [b.pk]
    assert ids(selectors.experiment_list(user=other_user)) == sorted([b.pk, d.pk])
    assert ids(selectors.experiment_list(user=staff)) == sorted([a.pk, b.pk, c.pk, d.pk])
    assert selectors.experiment_counts(user=user) == {"queued": 0, "running": 0, "succeeded": 2, "failed": 1,
                                                      "cancelled": 0}


class TestConstraints:
    @pytest.mark.parametrize("text,expected", [
        ("latency_ms <= 20", [Constraint("latency_ms", "<=", 20.0)]),
        ("latency_ms<20", [Constraint("latency_ms", "<", 20.0)]),
        ("  accuracy >= 0.7  ", [Constraint("accuracy", ">=", 0.7)]),
        ("latency_ms <= 20 and params < 1e6", [Constraint("latency_ms", "<=", 20.0),
                                               Constraint("params", "<", 1e6)]),
        ("a > -1.5, b == 3", [Constraint("a", ">", -1.5), Constraint("b", "==", 3.0)]),
        ("x <= 2.5E-3", [Constraint("x", "<=", 0.0025)]),
        ("", []),
        ("   ", []),
    ])
    def test_good(self, text, expected):
        assert selectors.parse_constraint(text) == expected

    @pytest.mark.parametrize("text", [
        "latency_ms", "latency_ms <= ", "<= 20", "latency_ms => 20", "latency_ms = 20", "latency_ms <= abc",
        "1abc < 3", "latency_ms <= 1.2.3", "latency_ms <= 20; drop table x", "latency ms <= 3",
        "latency_ms <= 20 or params < 5", "__import__('os') < 1", "a" * 80 + " < 1",
    ])
    def test_bad(self, text):
        with pytest.raises(ApplicationError) as ei:
            selectors.parse_constraint(text)
        assert "constraint" in ei.value.field_errors

    def test_ok(self):
        c = Constraint("latency_ms", "<=", 5)
        assert c.ok({"latency_ms": 5}) and not c.ok({"latency_ms": 5.1})
        assert not c.ok({}) and not c.ok({"latency_ms": None}) and not c.ok({"latency_ms": "3"})
        assert not Constraint("flag", "==", 1).ok({"flag": True})  # booleans are not numbers
        assert str(c) == "latency_ms <= 5"

    def test_best_under_constraint(self, exp):
        best = selectors.best_under_constraint(exp, selectors.parse_constraint("latency_ms <= 6"), "accuracy")
        assert best.index == 0  # 0.80 at 5 ms; 12 ms and 20 ms are excluded
        # a "min" objective picks the smallest
        best = selectors.best_under_constraint(exp, selectors.parse_constraint("accuracy >= 0.8"), "latency_ms")
        assert best.index == 0
        best = selectors.best_under_constraint(exp, [], "accuracy")
        assert best.index == 2
        best = selectors.best_under_constraint(exp, selectors.parse_constraint("params < 2500, accuracy > 0.56"),
                                               "accuracy")
        assert best.index == 4  # 0.85 with 500 params
        assert selectors.best_under_constraint(exp, selectors.parse_constraint("latency_ms < 1"), "accuracy") is None


def test_compare_data_hypervolume_against_a_shared_reference(profiles, user):
    """Hand-computed: A = (1, .5) (2, .8) (4, .9); B = (3, .6) (5, .95) (6, .4 dominated-ish).

    x = latency_ms (min), y = accuracy (max). The shared reference is the
    worst of each axis over all compared points: (6, 0.4).
    A: front is all three points; area = (2-1)(.5-.4) + (4-2)(.8-.4) + (6-4)(.9-.4)... computed as
    the union of boxes to the reference:
        x in [1, 2): best y .5 -> .1 * 1 = 0.1
        x in [2, 4): best y .8 -> .4 * 2 = 0.8
        x in [4, 6): best y .9 -> .5 * 2 = 1.0        total 1.9
    B: front (3, .6) (5, .95); (6, .4) is on the reference and adds nothing:
        x in [3, 5): .2 * 2 = 0.4
        x in [5, 6): .55 * 1 = 0.55                    total 0.95
    """
    hw = profiles["local-cpu"]
    a = make_exp(user, hw, [{"latency_ms": 1, "accuracy": 0.5}, {"latency_ms": 2, "accuracy": 0.8},
                            {"latency_ms": 4, "accuracy": 0.9}, {"latency_ms": 4.5, "accuracy": "n/a"}])
    b = make_exp(user, profiles["jetson-nano"], [{"latency_ms": 3, "accuracy": 0.6},
                                                {"latency_ms": 5, "accuracy": 0.95},
                                                {"latency_ms": 6, "accuracy": 0.4}])
    data = selectors.compare_data([a, b], "latency_ms", "accuracy",
                                  selectors.parse_constraint("latency_ms <= 3.5"))
    assert data["directions"] == ("min", "max")
    assert data["reference"] == (6.0, 0.4)
    sa, sb = data["series"]
    assert sa["experiment"] == a and sa["n"] == 3  # the text accuracy is skipped
    assert [(p[0], p[1]) for p in sa["front"]] == [(1, 0.5), (2, 0.8), (4, 0.9)]
    assert [p[2] for p in sa["front"]] == [0, 1, 2]  # candidate indices, for links
    assert sa["hypervolume"] == pytest.approx(1.9)
    assert [(p[0], p[1]) for p in sb["front"]] == [(3, 0.6), (5, 0.95)]
    assert sb["hypervolume"] == pytest.approx(0.95)
    assert sa["best"].index == 1 and sb["best"].index == 0  # best accuracy with latency <= 3.5
    # alone, B's reference is its own worst point: a different number
    alone = selectors.compare_data([b], "latency_ms", "accuracy", [])
    assert alone["series"][0]["hypervolume"] == pytest.approx(0.95)
    swapped = selectors.compare_data([b, a], "latency_ms", "accuracy", [])
    assert [s["hypervolume"] for s in swapped["series"]] == pytest.approx([0.95, 1.9])


def test_compare_data_without_points(profiles, user):
    e = make_exp(user, profiles["local-cpu"], [{"params": 5}])
    data = selectors.compare_data([e], "latency_ms", "accuracy", [])
    assert data["reference"] is None and data["series"][0]["hypervolume"] == 0.0
    assert data["series"][0]["front"] == [] and data["series"][0]["best"] is None


def test_scatter_data_skips_non_numeric(profiles, user):
    e = make_exp(user, profiles["local-cpu"], [
        {"latency_ms": 1.0, "accuracy": 0.5, "latency_source": "lut"},
        {"latency_ms": "fast", "accuracy": 0.9},
        {"latency_ms": 2.0, "accuracy": None},
        {"accuracy": 0.3},
        {"latency_ms": 3, "accuracy": 0.8, "latency_source": "measured"},
    ], archs=[{"kernels": list(range(20)), "name": "big"}, {}, {}, {}, {"name": "n4"}])
    e.candidates.filter(index=4).update(on_front=True)
    d = selectors.scatter_data(e, "latency_ms", "accuracy")
    assert (d.x, d.y) == ("latency_ms", "accuracy")
    assert d.xs == [1.0, 3] and d.ys == [0.5, 0.8]
    assert d.ids == [0, 4]
    assert d.on_front == [False, True]
    assert d.sources == ["lut", "measured"]
    assert d.labels[1] == "name=n4"
    assert "kernels=[0,1,2,3,4,5,6,7,8,9,10,11,…]" in d.labels[0]  # long lists are cut
    assert "name=big" in d.labels[0]


def test_series_and_artifacts_for(profiles, user):
    from webapp.models import SeriesPoint

    e = make_exp(user, profiles["local-cpu"])
    SeriesPoint.objects.bulk_create([SeriesPoint(experiment=e, name="loss", step=s, value=v)
                                     for s, v in [(1, 0.5), (0, 1.0)]]
                                    + [SeriesPoint(experiment=e, name="acc", step=0, value=0.1)])
    assert selectors.series_for(e) == {"acc": {"step": [0.0], "value": [0.1]},
                                       "loss": {"step": [0.0, 1.0], "value": [1.0, 0.5]}}
    assert selectors.artifacts_for(e) == {}


def test_technique_catalogue_lists_every_technique():
    cat = selectors.technique_catalogue()
    assert [t["name"] for t in cat] == techniques.names()
    for t in cat:
        specs = techniques.get(t["name"]).config_cls.specs()
        assert t["schema"]["type"] == "object"
        assert set(t["schema"]["properties"]) == {s.name for s in specs}


def test_scatter_data_beyond_the_label_limit_labels_only_the_front(exp):
    d = selectors.scatter_data(exp, "latency_ms", "accuracy", label_limit=2)
    assert d.ids == [0, 1, 2, 3, 4]
    assert [bool(lab) for lab in d.labels] == d.on_front == [True, True, True, False, False]
    assert "name=net0" in d.labels[0] and "kernels=[3,5]" in d.labels[0]


def test_estimates_are_labelled_on_both_axes(profiles, user, client):
    """A predictor's accuracy and a roofline latency are drawn as estimates: on
    the axis titles, in the hover text, in the candidate table and page."""
    from webapp import charts

    e = make_exp(user, profiles["local-cpu"], [
        {"latency_ms": 1.0, "accuracy": 0.9, "latency_source": "roofline", "accuracy_source": "predictor"},
        {"latency_ms": 2.0, "accuracy": 0.95, "latency_source": "measured", "accuracy_source": "fine-tuned"},
    ])
    d = selectors.scatter_data(e, "latency_ms", "accuracy")
    assert d.sources == ["roofline", "measured"] and d.y_sources == ["predictor", "fine-tuned"]
    fig = charts.pareto_figure(d)
    assert fig["layout"]["xaxis"]["title"]["text"].endswith("source: measured, roofline (estimate)</span>")
    assert fig["layout"]["yaxis"]["title"]["text"].endswith("source: fine-tuned, predictor (estimate)</span>")
    assert fig["data"][0]["customdata"][0][2:] == ["roofline (estimate)", "predictor (estimate)"]
    client.force_login(user)
    table = client.get(f"/experiments/{e.pk}/candidates/?ordering=index").content.decode()
    assert table.count('class="est"') == 2  # the first row's latency and accuracy
    page = client.get(f"/experiments/{e.pk}/candidates/0/").content.decode()
    assert "Accuracy source: <b>predictor</b> — an estimate" in page
    assert "Latency source: <b>roofline</b> — an estimate" in page
    page = client.get(f"/experiments/{e.pk}/candidates/1/").content.decode()
    assert "an estimate" not in page


def test_cross_hardware_rows_from_a_haq_summary():
    row = {"profile": "bitfusion", "own_ms": 1.0, "own_acc": 0.7, "other": "narrow", "other_ms": 0.9,
           "other_acc": 0.6, "rival_ms": None, "rival_screen_acc": None, "rival_acc": None, "own_fastest": True,
           "screen_disagrees": False, "beaten_by": []}
    m = {"cross_hardware": [row, {**row, "profile": "narrow", "other": "bitfusion", "own_fastest": False,
                                  "beaten_by": ["other", "<script>"]},
                            {**row, "profile": "third", "beaten_by": 3}, {"profile": "broken"}, "not a row"],
         "acc_mixed": 0.7}
    rows = {r["profile"]: r for r in selectors.cross_hardware_rows(m)}
    assert set(rows) == {"bitfusion", "narrow", "third"}  # rows missing fields (stored JSON) are dropped
    # what beat the own policy: only the two known names, whatever the stored JSON holds
    assert rows["narrow"]["beaten_by"] == ["other"] and rows["third"]["beaten_by"] == []
    assert rows["bitfusion"]["own_ms"] == 1.0
    assert rows["bitfusion"]["other_ms"] == 0.9 and rows["narrow"]["own_fastest"] is False
    assert rows["bitfusion"]["own_best_at_budget"] is None  # a summary from before the at-budget verdict
    m["cross_hardware"][1].update(own_best_at_budget=False, other_within_budget=True,
                                  beaten_at_budget_by=["other", "x"])
    rows = {r["profile"]: r for r in selectors.cross_hardware_rows(m)}
    assert rows["narrow"]["beaten_at_budget_by"] == ["other"] and rows["narrow"]["own_best_at_budget"] is False
    assert selectors.cross_hardware_rows({"acc": 1}) == []
    assert selectors.cross_hardware_rows({"cross_hardware": "x"}) == []


class TestReproducibilityNote:
    """What a finished run's seed fixes, and what measured latency leaves open."""

    BASE = "Reproducible: the seed fixes this run's results on this machine and library versions"

    def test_estimates_only_the_seed_fixes_everything(self, profiles, user):
        e = make_exp(user, profiles["jetson-nano"], [{"latency_ms": 1.0, "latency_source": "roofline"},
                                                     {"latency_ms": 2.0, "latency_source": "lut"}])
        assert selectors.reproducibility_note(e) == self.BASE + "."

    def test_a_measured_figure_is_named_as_the_exception(self, profiles, user):
        # HAQ's shape: roofline latency, and one candidate with int8 timed on this CPU
        e = make_exp(user, profiles["jetson-nano"], [
            {"latency_ms": 1.0, "latency_source": "roofline"},
            {"cpu_int8_latency_ms": 3.0, "cpu_int8_latency_source": "measured", "cpu_fp32_latency_ms": 5.0,
             "cpu_fp32_latency_source": "measured"}])
        assert selectors.reproducibility_note(e) == (
            self.BASE + ", except what depends on measured latency: cpu_fp32_latency_ms, cpu_int8_latency_ms (timed "
            "on this machine, they vary from run to run, and so may any choice made on them).")

    def test_the_summarys_source_counts_and_a_table_timed_on_a_measurable_profile(self, profiles, user):
        e = make_exp(user, profiles["jetson-nano"], [{"accuracy": 0.5}],
                     summary={"metrics": {"original_latency_ms": 2.0, "latency_source": "measured"}})
        assert "measured latency: latency (timed" in selectors.reproducibility_note(e)
        cpu = make_exp(user, profiles["local-cpu"], [{"latency_ms": 2.0, "latency_source": "lut"}])
        assert cpu.hardware_snapshot["measurable"]
        assert "measured latency: latency_ms (timed" in selectors.reproducibility_note(cpu)

    def test_nothing_is_said_before_a_run_has_succeeded(self, profiles, user):
        e = make_exp(user, profiles["jetson-nano"], [{"latency_ms": 1.0, "latency_source": "measured"}],
                     status=S.RUNNING)
        assert selectors.reproducibility_note(e) == ""
