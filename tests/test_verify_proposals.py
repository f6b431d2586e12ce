"""Proposal policies (chosen, top-k, mass, conformal APS sets), the right-label column, and the
verification loop closed in simulation (supplied labels, simulated adjudication)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
import verify_helpers as h

from llmcoder.errors import InputError
from llmcoder.stages import ingest_verification, verification_sheets
from llmcoder.verify import SheetsError, ingest, make_sheets, simulate_verification, write_sheets
from llmcoder.verify.proposals import ProposalPolicy, aps_scores, conformal_thresholds, propose, set_summary

LABELS = ["a", "b", "c", "d"]


def dirichlet_codings(n: int, seed: int, temper: float = 1.0) -> tuple[pl.DataFrame, dict[str, str]]:
    """One LLM coder's probabilities (Dirichlet) and gold drawn from the tempered probabilities, so the
    coder is miscalibrated when ``temper`` != 1 (conformal coverage must hold all the same)."""
    rng = np.random.default_rng(seed)
    rows, gold = [], {}
    for i in range(n):
        p = rng.dirichlet([0.7] * 4)
        q = p**temper / (p**temper).sum()
        gold[f"d{i}"] = LABELS[int(rng.choice(4, p=q))]
        rows += [{"doc_id": f"d{i}", "coder_id": "m", "rotation": 0, "label": lab, "prob": float(p[j]),
                  "chosen": bool(j == p.argmax())} for j, lab in enumerate(LABELS)]
    return pl.DataFrame(rows), gold


def test_sets_of_each_policy_on_one_document():
    """Probabilities 0.5 / 0.3 / 0.15 / 0.05: top-2 is {a, b}; mass 0.9 needs c too; a conformal
    threshold of 0.85 keeps the labels whose cumulative probability stays within it."""
    c = pl.DataFrame({"doc_id": ["x"] * 4, "coder_id": ["m"] * 4, "rotation": [0] * 4, "label": ["c", "a", "d", "b"],
                      "prob": [0.15, 0.5, 0.05, 0.3], "chosen": [False, True, False, False]})
    sets = {name: set(propose(c, pol, thresholds={"m": {"qhat": 0.85}})["label"])
            for name, pol in {"chosen": ProposalPolicy(), "top2": ProposalPolicy("top_k", k=2),
                              "mass": ProposalPolicy("mass", mass=0.9), "mass80": ProposalPolicy("mass", mass=0.8),
                              "conformal": ProposalPolicy("conformal", coverage=0.9)}.items()}
    assert sets == {"chosen": {"a"}, "top2": {"a", "b"}, "mass": {"a", "b", "c"}, "mass80": {"a", "b"},
                    "conformal": {"a", "b"}}
    # the most probable label is always proposed, even when the threshold is below its probability
    assert set(propose(c, ProposalPolicy("conformal"), thresholds={"m": {"qhat": 0.2}})["label"]) == {"a"}
    assert aps_scores(c, {"x": "b"})["score"].to_list() == pytest.approx([0.8])


def test_conformal_threshold_is_the_split_conformal_quantile():
    """q-hat is the empirical quantile of the calibration scores at level ceil((n + 1)(1 - alpha)) / n
    (Angelopoulos & Bates, A Gentle Introduction to Conformal Prediction, 2021, sec. 1): numpy's
    inverted-CDF quantile, the ceil((n + 1)(1 - alpha))-th smallest score."""
    codings, gold = dirichlet_codings(137, seed=4)
    scores = aps_scores(codings, gold)["score"].to_numpy()
    for coverage in (0.8, 0.9, 0.95):
        n = len(scores)
        expected = np.quantile(scores, math.ceil((n + 1) * coverage) / n, method="inverted_cdf")
        got = conformal_thresholds(codings, gold, coverage)["m"]
        assert got["qhat"] == pytest.approx(expected) and got["n_calibration"] == n
    small = {d: g for d, g in list(gold.items())[:5]}
    assert conformal_thresholds(codings.filter(pl.col("doc_id").is_in(list(small))), small, 0.9)["m"]["qhat"] == 1.0


@pytest.mark.parametrize("temper", [1.0, 0.4, 2.5])
def test_conformal_coverage_holds_for_calibrated_and_miscalibrated_coders(temper):
    """Over 60 random calibration/test splits (200/800 documents) the mean realised coverage is at least
    the target whether the coder is calibrated or not, and close to it for a calibrated coder; top-1
    coverage is far lower, so the sets do real work."""
    codings, gold = dirichlet_codings(1000, seed=11, temper=temper)
    docs = np.array(list(gold))
    rng = np.random.default_rng(0)
    cover, size = [], []
    for _ in range(60):
        perm = rng.permutation(len(docs))
        cal, test = set(docs[perm[:200]]), set(docs[perm[200:]])
        th = conformal_thresholds(codings.filter(pl.col("doc_id").is_in(list(cal))), {d: gold[d] for d in cal}, 0.9)
        sets = propose(codings.filter(pl.col("doc_id").is_in(list(test))), ProposalPolicy("conformal"), thresholds=th)
        summary = set_summary(sets, {d: gold[d] for d in test})
        cover.append(summary["coverage"])
        size.append(summary["mean_set_size"])
    top1 = set_summary(propose(codings, ProposalPolicy()), gold)["coverage"]
    assert np.mean(cover) >= 0.895, np.mean(cover)  # the guarantee: at least the target, on average
    assert top1 < 0.8 and 1.0 < np.mean(size) < 4.0
    if temper == 1.0:  # a calibrated coder: not much above the target (ties make APS a little conservative)
        assert np.mean(cover) <= 0.93 and np.mean(size) < 3.0


def test_policy_settings_are_checked():
    for kwargs, key in (({"policy": "top3"}, "verify.proposals"), ({"policy": "top_k", "k": 0}, "verify.proposals.k"),
                        ({"policy": "mass", "mass": 90}, "verify.proposals.mass"),
                        ({"policy": "conformal", "coverage": 90}, "verify.proposals.coverage")):
        with pytest.raises(InputError) as err:
            ProposalPolicy(**kwargs)
        assert err.value.path == key


# -- the right label, supplied by a verifier ------------------------------------------------------------

def wrong_codings(corp: pl.DataFrame) -> pl.DataFrame:
    """One LLM coder that is wrong on every third document (its chosen label is the next label)."""
    rows = []
    for i, (doc, gold) in enumerate(corp.select("doc_id", "label").iter_rows()):
        pick = h.LABELS[(h.LABELS.index(gold) + 1) % len(h.LABELS)] if i % 3 == 0 else gold
        rows += [{"doc_id": doc, "coder_id": "llm", "rotation": 0, "label": lab,
                  "prob": 0.7 if lab == pick else 0.1, "chosen": lab == pick} for lab in h.LABELS]
    return pl.DataFrame(rows)


@pytest.fixture
def wrong_study(tmp_path):
    cb, corp = h.codebook(), h.corpus(30)
    cb.save(tmp_path / "cb.yaml")
    corp.write_parquet(tmp_path / "corpus.parquet")
    s = make_sheets(corp, wrong_codings(corp), cb, coders=["anna", "ben"], overlap=0.4, random_state=1)
    write_sheets(s, tmp_path / "sheets", study="demo")
    return cb, corp, s, tmp_path


def test_verifiers_supply_the_right_label_and_acceptance_stays_honest(wrong_study):
    """With the right label never proposed on every third document, the simulated verifiers reject the
    proposal and pick the gold label's name from the drop-down: those documents are verified as
    'supplied', with the gold label; the LLM's acceptance counts only its own proposals."""
    cb, corp, s, root = wrong_study
    filled = simulate_verification(s, corp, error_rate=0.0)
    write_sheets(filled, root / "filled", study="demo", formats=["xlsx"], manifest=False)
    res = ingest([root / "filled" / f"{c}.xlsx" for c in ("anna", "ben")], codebook=cb,
                 manifest=root / "sheets" / "manifest.json")
    gold = dict(corp.select("doc_id", "label").iter_rows())
    v = res.verified
    assert v.height == 30 and all(gold[d] == lab for d, lab in v.select("doc_id", "label").iter_rows())
    wrong_docs = {d for i, d in enumerate(corp["doc_id"]) if i % 3 == 0}
    supplied = v.filter(pl.col("source").str.ends_with("-supplied"))
    assert set(supplied["doc_id"]) == wrong_docs
    log = res.decisions.filter(pl.col("decision") == "supplied")
    assert set(log["doc_id"]) == wrong_docs and set(log["raw"]) <= set(cb.names.values())
    acc = res.acceptance.row(0, named=True)
    n_first = res.decisions.filter((pl.col("round") == "verify") & (pl.col("decision") != "supplied")).height
    assert acc["n_decisions"] == n_first and acc["acceptance"] == pytest.approx(2 / 3, abs=0.05)
    assert res.summary["n_supplied"] == log.height
    # reliability counts the supplied labels: two verifiers who supply the same label agree
    rel = res.reliability.filter(pl.col("scope") == "all labels")
    assert rel.height and rel.filter(pl.col("coefficient").str.contains("(?i)percent"))["estimate"][0] == 1.0


@pytest.mark.parametrize("case, message", [
    ("kept-and-supplied", "is kept and 'Energy' given as the right label"),
    ("two-right-labels", "two right labels"),
    ("not-in-codebook", "right label 'Cooking' is not a label of the codebook"),
    ("a-proposed-label", "is one of its proposed labels"),
])
def test_right_label_contradictions_are_errors(tmp_path, case, message):
    """A right label beside a kept proposal, two right labels for one document, a label not in the
    codebook, or a proposed label given as the right one: named with file, row and fix; nothing ingested."""
    cb, corp = h.codebook(), h.corpus(12)
    codings = pl.DataFrame([{"doc_id": d, "coder_id": "llm", "rotation": 0, "label": lab,
                             "prob": {"health": 0.5, "education": 0.3}.get(lab, 0.1), "chosen": lab == "health"}
                            for d in corp["doc_id"] for lab in h.LABELS])
    s = make_sheets(corp, codings, cb, coders=["anna"], policy=ProposalPolicy("top_k", k=2))
    write_sheets(s, tmp_path / "sheets", study="demo")
    filled = simulate_verification(s, corp, error_rate=0.0)
    write_sheets(filled, tmp_path / "filled", study="demo", formats=["xlsx"], manifest=False)
    frame = s["anna"]
    doc = frame["doc_id"][0]
    r1, r2 = (i + 2 for i, d in enumerate(frame["doc_id"]) if d == doc)  # its two spreadsheet rows
    other = sorted({"energy", "defense"})  # never proposed (top-2 is health, education)
    names = cb.names
    edits = {"kept-and-supplied": {r1: (None, names[other[1]]), r2: ("reject", None)},
             "two-right-labels": {r1: ("reject", names[other[0]]), r2: ("reject", names[other[1]])},
             "not-in-codebook": {r1: ("reject", "Cooking"), r2: ("reject", None)},
             "a-proposed-label": {r1: ("reject", names[frame["label"][r2 - 2]]), r2: ("reject", None)}}[case]
    if case == "kept-and-supplied":
        message = message.replace("'Energy'", f"'{other[1]}'")

    def fill(ws):
        for row, (dec, right) in edits.items():
            ws.cell(row, h.column(ws, "decision")).value = dec
            ws.cell(row, h.column(ws, "right_label")).value = right
    h.edit_xlsx(tmp_path / "filled" / "anna.xlsx", fill)
    with pytest.raises(SheetsError) as err:
        ingest([tmp_path / "filled" / "anna.xlsx"], codebook=cb, manifest=tmp_path / "sheets" / "manifest.json")
    text = str(err.value)
    assert message in text and f"anna.xlsx, row {r1}" in text and "right_label" in text, text


def test_simulated_adjudication_empties_the_queue(wrong_study):
    """The demo's stand-in for an adjudicator decides the queue from gold: nothing waits, the decided
    documents are marked simulated-adjudication, and with no errors every verified label is gold."""
    cb, corp, s, root = wrong_study
    filled = simulate_verification(s, corp, error_rate=0.2, random_state=5)
    write_sheets(filled, root / "filled", study="demo", formats=["xlsx"], manifest=False)
    sheets = [root / "filled" / f"{c}.xlsx" for c in ("anna", "ben")]
    plain = ingest(sheets, codebook=cb, manifest=root / "sheets" / "manifest.json")
    assert plain.summary["n_adjudication_queue"] > 0
    summary = ingest_verification(sheets, root / "sheets" / "manifest.json", root / "cb.yaml", root / "out",
                                  overlap_policy="adjudicate",
                                  simulate_adjudication={"corpus": root / "corpus.parquet", "error_rate": 0.0,
                                                         "seed": 0})
    v = pl.read_parquet(root / "out" / "verified.parquet")
    adjudicated = v.filter(pl.col("source") == "simulated-adjudication")
    assert summary["n_adjudication_queue"] == 0 and summary["adjudication"]["n_queue_before"] == plain.queue.height
    assert set(adjudicated["doc_id"]) == set(plain.queue["doc_id"])
    gold = dict(corp.select("doc_id", "label").iter_rows())
    assert all(gold[d] == lab for d, lab in adjudicated.select("doc_id", "label").iter_rows())


def test_workflow_step_calibrates_conformal_sets_on_the_dev_split(tmp_path):
    """verify.proposals.policy: conformal in a study: thresholds from the dev split's gold, recorded in
    the manifest with the realised coverage and mean set size of the proposed documents."""
    import json

    cb, corp = h.codebook(), h.corpus(80)
    cb.save(tmp_path / "cb.yaml")
    corp.write_parquet(tmp_path / "corpus.parquet")
    splits = pl.DataFrame({"doc_id": corp["doc_id"], "split": ["dev" if i % 4 == 0 else "train" for i in range(80)]})
    splits.write_parquet(tmp_path / "splits.parquet")
    h.codings(corp).write_parquet(tmp_path / "codings.parquet")
    settings = {"splits": ["train"], "humans": ["anna"], "overlap": 0.0, "overlap_coders": 2, "min_prob": None,
                "route": "none", "uncertain_below": 0.5, "seed": 0,
                "proposals": {"policy": "conformal", "coverage": 0.9, "calibration": "dev"}}
    man = json.loads(verification_sheets(tmp_path / "corpus.parquet", tmp_path / "splits.parquet",
                                         [tmp_path / "codings.parquet"], tmp_path / "cb.yaml", tmp_path / "sheets",
                                         study="demo", settings=settings).read_text())
    prop = man["settings"]["proposals"]
    assert prop["policy"] == "conformal" and set(prop["thresholds"]) == {"gpt", "llama"}
    assert prop["thresholds"]["gpt"]["n_calibration"] == 20 and prop["n_documents"] == 60
    assert prop["coverage"] == 1.0  # gpt always ranks the gold label first
    with pytest.raises(InputError, match="the test split has no gold labels"):
        verification_sheets(tmp_path / "corpus.parquet", tmp_path / "splits.parquet", [tmp_path / "codings.parquet"],
                            tmp_path / "cb.yaml", tmp_path / "sheets2", study="demo",
                            settings={**settings, "proposals": {"policy": "conformal", "calibration": "test"}})


def test_workflow_simulation_supplies_right_labels(wrong_study):
    """The workflow's simulated verifier (blank sheets read back from disk) knows the codebook's label
    names, so it supplies the right label where every proposal is wrong."""
    from llmcoder.stages import simulated_verification

    cb, corp, s, root = wrong_study
    written = simulated_verification(root / "sheets" / "manifest.json", root / "corpus.parquet", root / "sim",
                                     error_rate=0.0, seed=0, codebook=root / "cb.yaml")
    res = ingest(sorted(p for p in written.values() if str(p).endswith(".xlsx")), codebook=cb,
                 manifest=root / "sheets" / "manifest.json")
    assert res.summary["n_supplied"] > 0 and res.verified.height == 30
