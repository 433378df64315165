"""Abstention: confidence from evidence (monotone, an upper bound before generation), question
coverage, keyword evidence on a real embedded store, and calibration.json round trips, corrupt
files, old files and threshold overrides.

DEFAULT_MODEL's numbers are provisional: expected values are computed from its weights and bias,
and scenarios that need particular weights build their own AbstentionModel."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path

import pytest

from dayshift.answer.abstain import (
    ABSTAIN_TEXT,
    DEFAULT_MODEL,
    FEATURES,
    READER_FEATURES,
    AbstentionModel,
    Evidence,
    keyword_evidence,
    load_abstention_model,
    question_coverage,
)
from dayshift.answer.sources import Source
from dayshift.assemble import open_embedder, open_ingestor, open_store
from dayshift.errors import ConfigError
from dayshift.settings import load_settings
from dayshift.store.base import Store
from dayshift.types import Chunk, Condition

GRID = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]


def evidence(**values: float) -> Evidence:
    return Evidence(**{name: values.get(name, 0.5) for name in FEATURES})  # type: ignore[arg-type]


def random_models(n: int) -> list[AbstentionModel]:
    """One-factor models, and (every other one) two-factor models with a reader factor."""
    rng = random.Random(7)
    return [
        AbstentionModel(weights={f: rng.uniform(0.0, 10.0) for f in FEATURES}, bias=rng.uniform(-15, 0), threshold=0.5,
                        reader_weights={f: rng.uniform(0.0, 8.0) for f in READER_FEATURES} if i % 2 else None,
                        reader_bias=rng.uniform(-10, 0))
        for i in range(n)
    ]


def source(n: int, text: str) -> Source:
    chunk = Chunk(
        chunk_id=f"d{n}:0", doc_id=f"d{n}", doc_version="v1", source=f"d{n}.md", title="", text=text, section=(),
        page=None, char_start=0, char_end=len(text), ordinal=0, ingested_at=1.0,
    )  # fmt: skip
    return Source(n=n, chunk=chunk, score=1.0)


# -- confidence -------------------------------------------------------------------------


def logistic(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def test_features_and_vector_order() -> None:
    assert FEATURES == ("dense_top", "coverage", "keyword_match", "known", "reader_sure", "reader_prob", "self_check",
                        "text_answers", "support", "verbatim", "focus")
    values = [0.1 * i for i in range(1, len(FEATURES) + 1)]
    assert Evidence(*values).vector() == values
    # Keyword evidence is 0 unless measured; the reader's signals and the answer checks are optimistic until
    # a draft has been measured.
    assert Evidence(0.1, 0.2).vector() == [0.1, 0.2, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]


def test_confidence_by_hand() -> None:
    model = AbstentionModel(
        weights={"dense_top": 4.0, "coverage": 2.0, "keyword_match": 3.0, "known": 1.0, "reader_sure": 2.0,
                 "support": 5.0, "verbatim": 0.5, "focus": 1.5},
        bias=-11.0, threshold=0.5,
    )  # fmt: skip
    # z = -11 + 4*0.5 + 2*0.5 + 3*0.5 + 1*1 + 2*1 + 5*1 + 0.5*0 + 1.5*1 = 3
    assert model.confidence(evidence(dense_top=0.5, coverage=0.5, keyword_match=0.5, known=1.0, reader_sure=1.0,
                                     support=1.0, verbatim=0.0, focus=1.0)) == pytest.approx(logistic(3.0))
    # z = -11 + 4*0.25 + 2*0.5 + 2*0.5 + 5*1 + 0.5*1 = -2.5
    assert model.confidence(evidence(dense_top=0.25, coverage=0.5, keyword_match=0.0, known=0.0, reader_sure=0.5,
                                     support=1.0, verbatim=1.0, focus=0.0)) == pytest.approx(logistic(-2.5))


def test_confidence_is_capped_by_support() -> None:
    """However strong every other piece of evidence, an answer is only as confident as its support."""
    sure = AbstentionModel(weights=dict.fromkeys(FEATURES, 10.0), bias=0.0, threshold=0.5)
    strong = dict.fromkeys(FEATURES, 1.0)
    assert sure.confidence(Evidence(**strong)) == pytest.approx(1.0)
    assert sure.confidence(Evidence(**{**strong, "support": 0.4, "verbatim": 0.0})) == pytest.approx(0.4)
    assert sure.confidence(Evidence(**{**strong, "support": 0.0, "verbatim": 0.0})) == 0.0
    assert sure.confidence(Evidence(**{**strong, "support": 0.0, "verbatim": 1.0})) == pytest.approx(1.0)  # copied


def test_default_confidence_is_the_product_of_its_two_logistic_factors() -> None:
    w, b = DEFAULT_MODEL.weights, DEFAULT_MODEL.bias
    r, rb = DEFAULT_MODEL.reader_weights or {}, DEFAULT_MODEL.reader_bias
    assert set(w) == set(FEATURES) and all(v >= 0 for v in [*w.values(), *r.values()])
    assert set(r) == set(READER_FEATURES) and not any(w[name] for name in READER_FEATURES)
    rng = random.Random(3)
    for values in ([1.0] * len(FEATURES), *([rng.random() for _ in FEATURES] for _ in range(6))):
        z = b + sum(w[name] * v for name, v in zip(FEATURES, values))
        z_reader = rb + sum(r.get(name, 0.0) * v for name, v in zip(FEATURES, values))
        e = Evidence(*values)
        expected = min(logistic(z) * logistic(z_reader), max(e.support, e.verbatim))
        assert DEFAULT_MODEL.confidence(e) == pytest.approx(expected), values


def test_a_reader_factor_vetoes_what_retrieval_alone_would_answer() -> None:
    """Sources about the right thing (the first factor near 1) that the reader says do not answer the question
    (the second factor near 0) give a low confidence; a model without a reader factor is the first alone."""
    retrieval_only = AbstentionModel(weights={"dense_top": 10.0}, bias=-2.0, threshold=0.5)
    both = AbstentionModel(weights={"dense_top": 10.0}, bias=-2.0, threshold=0.5,
                           reader_weights={"text_answers": 12.0}, reader_bias=-6.0)
    on_topic_no_answer = evidence(dense_top=0.9, text_answers=0.1, support=1.0, verbatim=1.0)
    assert retrieval_only.confidence(on_topic_no_answer) == pytest.approx(logistic(7.0))
    assert both.confidence(on_topic_no_answer) == pytest.approx(logistic(7.0) * logistic(-4.8))
    assert both.confidence(on_topic_no_answer) < 0.01 < 0.99 < retrieval_only.confidence(on_topic_no_answer)
    assert both.uses("text_answers") and not retrieval_only.uses("text_answers") and not both.uses("self_check")


def test_weights_missing_from_a_model_count_zero() -> None:
    model = AbstentionModel(weights={"dense_top": 4.0, "support": 2.0}, bias=-3.0, threshold=0.5)
    # z = -3 + 4*0.5 + 2*0.5 = 0, whatever the other features say (support 0.5 also caps it at 0.5)
    for other in (0.0, 1.0):
        e = evidence(**{**{name: other for name in FEATURES}, "dense_top": 0.5, "support": 0.5})
        assert model.confidence(e) == pytest.approx(0.5)


@pytest.mark.parametrize("feature", FEATURES)
@pytest.mark.parametrize("model", [DEFAULT_MODEL, *random_models(5)], ids=lambda m: f"bias{m.bias:.1f}")
def test_confidence_never_falls_when_one_feature_rises(model: AbstentionModel, feature: str) -> None:
    others = [name for name in FEATURES if name != feature]
    for fixed in itertools.product([0.0, 0.5, 1.0], repeat=len(others)):
        base = dict(zip(others, fixed))
        curve = [model.confidence(Evidence(**base, **{feature: v})) for v in GRID]
        assert curve == sorted(curve), (feature, base, curve)
        uncapped = max(base.get("support", 1.0), base.get("verbatim", 1.0)) == 1.0  # support caps confidence
        rises = model.reader_weights is None and model.uses(feature)  # (with two factors, either may saturate)
        if rises and uncapped and curve[0] < 1.0 - 1e-9:  # (1.0: the logistic saturated)
            assert curve[-1] > curve[0]


def test_confidence_stays_in_the_unit_interval_for_extreme_evidence() -> None:
    # z = -5000 and +0: a plain 1 / (1 + exp(-z)) overflows at the first
    strong = AbstentionModel(weights=dict.fromkeys(FEATURES, 500.0), bias=-500.0 * len(FEATURES), threshold=0.5)
    assert strong.confidence(evidence(**dict.fromkeys(FEATURES, 0.0))) == 0.0
    assert strong.confidence(evidence(**dict.fromkeys(FEATURES, 1.0))) == pytest.approx(0.5)
    huge = AbstentionModel(weights=dict.fromkeys(FEATURES, 500.0), bias=0.0, threshold=0.5)
    assert huge.confidence(evidence(**dict.fromkeys(FEATURES, 1.0))) == 1.0  # z = +5000


@pytest.mark.parametrize("model", [DEFAULT_MODEL, *random_models(3)], ids=lambda m: f"bias{m.bias:.1f}")
def test_confidence_before_checking_is_an_upper_bound_on_any_checked_answer(model: AbstentionModel) -> None:
    coarse = [0.0, 0.5, 1.0]
    for dense_top, coverage, keyword_match, known in itertools.product(GRID, coarse, coarse, coarse):
        retrieval = {"dense_top": dense_top, "coverage": coverage, "keyword_match": keyword_match, "known": known}
        bound = model.confidence(Evidence(**retrieval))
        for support, verbatim, focus, reader in itertools.product(coarse, [0.0, 1.0], coarse, coarse):
            checked = Evidence(**retrieval, reader_sure=reader, reader_prob=reader, self_check=reader,
                               support=support, verbatim=verbatim, focus=focus)
            assert model.confidence(checked) <= bound


def test_default_model_needs_retrieval_evidence() -> None:
    t = DEFAULT_MODEL.threshold
    # Off topic: nothing retrieved is close and no question term is in the corpus -> no LLM call.
    assert DEFAULT_MODEL.confidence(Evidence(dense_top=0.1, coverage=0.0, keyword_match=0.0, known=0.0)) < t
    perfect = Evidence(**dict.fromkeys(FEATURES, 1.0))
    assert DEFAULT_MODEL.confidence(perfect) >= t


def test_default_model_rejects_an_answer_with_no_support_however_good_the_retrieval() -> None:
    # Once an xfail (ADR 0004): support's weight was small next to retrieval's, so an answer none of whose new
    # words were in its sources reached confidence ~0.997. Support now caps confidence (ADR 0009).
    for dense_top in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        for support in (0.0, 0.2, DEFAULT_MODEL.threshold - 0.01):
            unsupported = Evidence(dense_top=dense_top, coverage=1.0, keyword_match=1.0, known=1.0, reader_sure=1.0,
                                   reader_prob=1.0, self_check=1.0, support=support, verbatim=0.0, focus=1.0)
            assert DEFAULT_MODEL.confidence(unsupported) < DEFAULT_MODEL.threshold, (dense_top, support)


def test_the_shipped_default_was_fitted_on_train_articles_never_on_the_benchmark_questions() -> None:
    source = DEFAULT_MODEL.fitted_on["source"]
    assert "SQuAD 2.0 train" in source and "dev" not in source  # benchmarks/squad2.py reports on dev part A


def test_abstain_text_is_fixed() -> None:
    assert ABSTAIN_TEXT == "I don't know. The indexed sources do not answer this question"


# -- question coverage -------------------------------------------------------------------


def test_coverage_is_the_share_of_subject_terms_in_the_best_source() -> None:
    sources = [source(1, "Hekla is in Iceland."), source(2, "Hekla erupted in 1104 and buried farms.")]
    # "did" is a question word; terms: hekla, erupt, buri, farm -> source 2 has all four
    assert question_coverage("Did Hekla erupt and bury farms?", sources) == 1.0
    assert question_coverage("Did Hekla erupt and bury farms?", sources[:1]) == 0.25


def test_question_words_do_not_count() -> None:
    sources = [source(1, "Hekla erupted.")]
    # "how", "many", "years", "did" frame the question; of hekla, erupt, ago the source has two
    assert question_coverage("How many years ago did Hekla erupt?", sources) == pytest.approx(2 / 3)
    assert question_coverage("How many did?", sources) == 0.0  # nothing but question words


def test_coverage_looks_only_at_the_best_few_sources() -> None:
    sources = [source(1, "a"), source(2, "b"), source(3, "c"), source(4, "Hekla erupted")]
    assert question_coverage("Hekla erupted", sources) == 0.0
    assert question_coverage("Hekla erupted", sources, best_of=4) == 1.0


def test_coverage_without_sources_is_zero() -> None:
    assert question_coverage("Hekla erupted", []) == 0.0


# -- calibration.json ------------------------------------------------------------------------

FITTED = AbstentionModel(
    weights={
        "dense_top": 6.5,
        "coverage": 0.0,
        "keyword_match": 2.75,
        "known": 0.25,
        "support": 3.25,
        "verbatim": 0.5,
        "focus": 1.5,
    },
    bias=-7.125,
    threshold=0.625,
    fitted_on={"dataset": "squad2-dev", "answerable": 40, "unanswerable": 60, "auroc": 0.91},
)


def test_save_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    FITTED.save(path)
    assert AbstentionModel.load(path) == FITTED
    assert json.loads(path.read_text())["weights"]["support"] == 3.25
    assert not path.with_suffix(".tmp").exists()  # written atomically via a temporary file


def test_save_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    DEFAULT_MODEL.save(path)
    FITTED.save(path)
    assert AbstentionModel.load(path) == FITTED


def test_load_without_fitted_on_gives_an_empty_dict(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"weights": dict.fromkeys(FEATURES, 1), "bias": -2, "threshold": 0.4}))
    model = AbstentionModel.load(path)
    assert (model.weights, model.bias, model.threshold, model.fitted_on) == (
        dict.fromkeys(FEATURES, 1.0),
        -2.0,
        0.4,
        {},
    )


@pytest.mark.parametrize(
    "content",
    [
        "",
        "{not json",
        "[1, 2, 3]",
        '"a string"',
        json.dumps({"bias": 0, "threshold": 0.5}),
        json.dumps({"weights": [1, 2, 3, 4, 5, 6, 7], "bias": 0, "threshold": 0.5}),
        json.dumps({"weights": 3, "bias": 0, "threshold": 0.5}),
        json.dumps({"weights": dict.fromkeys(FEATURES, "heavy"), "bias": 0, "threshold": 0.5}),
        json.dumps({"weights": dict.fromkeys(FEATURES, 1), "bias": None, "threshold": 0.5}),
        json.dumps({"weights": dict.fromkeys(FEATURES, 1), "bias": 0}),
        json.dumps({"weights": dict.fromkeys(FEATURES, 1), "bias": 0, "threshold": 0.5, "fitted_on": 3}),
    ],
    ids=["empty", "not-json", "list", "string", "no-weights", "weights-list", "weights-number", "text-weight", "null-bias",
         "no-threshold", "fitted-on-number"],
)  # fmt: skip
def test_a_corrupt_file_is_a_config_error_naming_the_file_and_the_fix(tmp_path: Path, content: str) -> None:
    path = tmp_path / "calibration.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        AbstentionModel.load(path)
    assert str(path) in str(caught.value) and "dayshift calibrate" in str(caught.value)


def test_a_calibration_from_before_the_newer_features_loads_with_them_off(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    old = {"dense_top": 7.0, "coverage": 3.0, "support": 4.0, "verbatim": 1.0}  # written before the other features
    path.write_text(json.dumps({"weights": old, "bias": -10, "threshold": 0.55}))
    model = AbstentionModel.load(path)
    assert (model.weights, model.bias, model.threshold) == (old, -10.0, 0.55)
    explicit = AbstentionModel({**dict.fromkeys(FEATURES, 0.0), **old}, -10.0, 0.55)
    rng = random.Random(5)
    for values in ([1.0] * len(FEATURES), *([rng.random() for _ in FEATURES] for _ in range(5))):
        assert model.confidence(Evidence(*values)) == explicit.confidence(Evidence(*values))
    # z = -10 + 7*1 + 3*1 + 4*0.9 + 1*0 = 3.6; the features it predates do not count
    assert model.confidence(evidence(dense_top=1.0, coverage=1.0, support=0.9, verbatim=0.0)) == pytest.approx(
        min(logistic(3.6), 0.9))


def test_unknown_weight_names_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    weights = {**dict.fromkeys(FEATURES, 1.0), "retired_feature": 5.0, "another": -3.0}
    path.write_text(json.dumps({"weights": weights, "bias": -4, "threshold": 0.5}))
    assert AbstentionModel.load(path).weights == dict.fromkeys(FEATURES, 1.0)


def test_an_unreadable_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="calibration.json"):
        AbstentionModel.load(tmp_path / "calibration.json")  # missing: load() is only for existing files


def test_load_abstention_model_uses_the_default_until_calibrated(tmp_path: Path) -> None:
    assert load_abstention_model(tmp_path) is DEFAULT_MODEL
    FITTED.save(tmp_path / "calibration.json")
    assert load_abstention_model(tmp_path) == FITTED


def test_load_abstention_model_reports_a_corrupt_calibration_file(tmp_path: Path) -> None:
    (tmp_path / "calibration.json").write_text("{")
    with pytest.raises(ConfigError, match=str(tmp_path / "calibration.json")):
        load_abstention_model(tmp_path)


@pytest.mark.parametrize("calibrated", [False, True])
def test_threshold_override_changes_only_the_threshold(tmp_path: Path, calibrated: bool) -> None:
    if calibrated:
        FITTED.save(tmp_path / "calibration.json")
    base = FITTED if calibrated else DEFAULT_MODEL
    model = load_abstention_model(tmp_path, threshold=0.9)
    assert model.threshold == 0.9
    assert (model.weights, model.bias, model.fitted_on) == (base.weights, base.bias, base.fitted_on)
    assert DEFAULT_MODEL.threshold not in (0.9, 0.0)  # the shipped default is untouched
    assert load_abstention_model(tmp_path, threshold=0.0).threshold == 0.0  # 0 is an override, not "unset"


def test_a_calibration_with_a_negative_weight_is_rejected_naming_it(tmp_path: Path) -> None:
    # Confidence must never fall when evidence rises, and the pre-generation bound relies on it.
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"weights": {**dict.fromkeys(FEATURES, 1.0), "support": -2.0}, "bias": 0,
                                "threshold": 0.5}))  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        AbstentionModel.load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: negative weights (support)") and "dayshift calibrate" in message


def test_every_negative_weight_is_named(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    weights = {**dict.fromkeys(FEATURES, 1.0), "dense_top": -0.5, "focus": -1e-9, "known": 0.0}
    path.write_text(json.dumps({"weights": weights, "bias": 0, "threshold": 0.5}))
    with pytest.raises(ConfigError, match=r"negative weights \(dense_top, focus\)"):
        AbstentionModel.load(path)
    with pytest.raises(ConfigError, match="negative weights"):
        load_abstention_model(tmp_path)  # also when found in data_dir


# -- keyword evidence (a real embedded store) ------------------------------------------------

KEYWORD_CORPUS = {
    "volcano.md": "# Volcanoes\n\nHekla erupted in 1104 and buried farms in the valley.\n",
    "bread.md": "# Bread\n\nSourdough starter is flour and water with wild yeast.\n",
    "chess.md": "# Chess\n\nThe queen became the strongest piece in Spain.\n",
}


@pytest.fixture(scope="module")
def keyword_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    root = tmp_path_factory.mktemp("keyword")
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in KEYWORD_CORPUS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    settings = load_settings(data_dir=root / "data")
    embedder = open_embedder(settings)
    report = open_ingestor(settings, embedder=embedder).sync(corpus)
    assert (report.files, report.failed) == (3, [])
    return open_store(settings, embedder)  # a second handle on what was ingested, as the answerer opens it


def best_alone(store: Store, term: str) -> float:
    hits = store.keyword_search([term], k=1)
    return hits[0].score if hits else 0.0


def test_a_question_whose_terms_are_all_in_one_chunk_matches_fully(keyword_store: Store) -> None:
    # hekla, erupt, buri, farm: each term's best chunk is the volcano one, so the whole question scores
    # there what the four score apart
    match, known = keyword_evidence("Hekla erupted and buried farms", keyword_store)
    assert known == 1.0
    assert match == pytest.approx(1.0, abs=1e-5)


def test_a_term_missing_from_the_corpus_lowers_known_and_the_match(keyword_store: Store) -> None:
    full, _ = keyword_evidence("Hekla erupted and buried farms", keyword_store)
    match, known = keyword_evidence("Hekla erupted and buried zebras", keyword_store)
    assert known == pytest.approx(3 / 4)  # zebra is nowhere
    present = [best_alone(keyword_store, t) for t in ("hekla", "erupt", "buri")]
    assert best_alone(keyword_store, "zebra") == 0.0
    # the missing term counts as if it scored like the rarest (highest-scoring) term present
    assert match == pytest.approx(sum(present) / (sum(present) + max(present)), rel=1e-4)
    assert match < full - 0.2


def test_terms_spread_over_different_chunks_match_less_than_terms_together(keyword_store: Store) -> None:
    match, known = keyword_evidence("Hekla sourdough", keyword_store)
    hekla, sourdough = best_alone(keyword_store, "hekla"), best_alone(keyword_store, "sourdough")
    assert known == 1.0
    assert match == pytest.approx(max(hekla, sourdough) / (hekla + sourdough), rel=1e-4)
    assert match < 0.75


@pytest.mark.parametrize("question", ["zebras and quaggas", "", "the of and"], ids=["unknown", "empty", "stop-words"])
def test_a_question_with_no_known_terms_has_no_keyword_evidence(keyword_store: Store, question: str) -> None:
    assert keyword_evidence(question, keyword_store) == (0.0, 0.0)


def test_keyword_evidence_respects_the_filter(keyword_store: Store) -> None:
    question = "Hekla erupted and buried farms"
    assert keyword_evidence(question, keyword_store, where=[Condition("source", "=", "*bread.md")]) == (0.0, 0.0)
    match, known = keyword_evidence(question, keyword_store, where=[Condition("source", "=", "*volcano.md")])
    assert known == 1.0 and match == pytest.approx(1.0, abs=1e-5)
