"""Ensembles (kind: ensemble): members' codings combined by mean probability or majority vote, checked
against a computation by hand and statsmodels' Fleiss' kappa; and the workflow rule that makes one."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from llmcoder.coders.ensemble import EnsembleConfig, combine_codings, member_agreement
from llmcoder.errors import InputError

REPO = Path(__file__).resolve().parents[1]
LABELS = ["a", "b", "c"]


def codings(probs: dict[str, list[float]], *, task: str = "single", threshold: float = 0.5,
            coder: str = "m") -> pl.DataFrame:
    """A coder's output (the long format of llmcoder code) from {doc: [p(a), p(b), p(c)]}."""
    rows = []
    for doc, ps in probs.items():
        ok = not any(math.isnan(p) for p in ps)
        top = int(np.argmax(ps)) if ok else -1
        for j, lab in enumerate(LABELS):
            rows.append({"doc_id": doc, "coder_id": coder, "rotation": 0, "label": lab, "prob": ps[j],
                         "chosen": (j == top) if task == "single" else (ok and ps[j] >= threshold),
                         "n_input_tokens": 10, "n_output_tokens": 1, "latency_s": 0.5})
    return pl.DataFrame(rows).with_columns(pl.col("rotation").cast(pl.Int32))


NAN = float("nan")
M1 = {"d1": [0.7, 0.2, 0.1], "d2": [0.1, 0.6, 0.3], "d3": [0.4, 0.35, 0.25], "d4": [NAN, NAN, NAN]}
M2 = {"d1": [0.5, 0.4, 0.1], "d2": [0.2, 0.2, 0.6], "d3": [0.1, 0.8, 0.1], "d4": [NAN, NAN, NAN]}
M3 = {"d1": [0.2, 0.7, 0.1], "d2": [0.3, 0.3, 0.4], "d3": [0.3, 0.6, 0.1], "d4": [0.2, 0.2, 0.6]}


def _wide(df: pl.DataFrame) -> dict[str, list[float]]:
    return {d: df.filter(pl.col("doc_id") == d).sort("label")["prob"].to_list() for d in ("d1", "d2", "d3", "d4")}


def _chosen(df: pl.DataFrame) -> dict[str, list[str]]:
    return {d: sorted(df.filter((pl.col("doc_id") == d) & pl.col("chosen"))["label"].to_list())
            for d in ("d1", "d2", "d3", "d4")}


def test_mean_and_vote_by_hand() -> None:
    members = {"m1": codings(M1), "m2": codings(M2), "m3": codings(M3)}
    mean = combine_codings(members, LABELS, task="single", combine="mean", coder_id="ens-1")
    got = _wide(mean)
    # the mean over the members that answered: d4 only m3 answered
    for d in ("d1", "d2", "d3"):
        np.testing.assert_allclose(got[d], np.mean([M1[d], M2[d], M3[d]], axis=0))
    np.testing.assert_allclose(got["d4"], M3["d4"])
    assert _chosen(mean) == {"d1": ["a"], "d2": ["c"], "d3": ["b"], "d4": ["c"]}
    vote = combine_codings(members, LABELS, task="single", combine="vote", coder_id="ens-1")
    got = _wide(vote)
    # chosen: m1 a,b,a ; m2 a,c,b ; m3 b,c,b -> vote shares
    np.testing.assert_allclose(got["d1"], [2 / 3, 1 / 3, 0])
    np.testing.assert_allclose(got["d2"], [0, 1 / 3, 2 / 3])
    np.testing.assert_allclose(got["d3"], [1 / 3, 2 / 3, 0])
    np.testing.assert_allclose(got["d4"], [0, 0, 1])
    assert _chosen(vote) == {"d1": ["a"], "d2": ["c"], "d3": ["b"], "d4": ["c"]}
    assert set(vote["coder_id"]) == {"ens-1"} and vote.height == 4 * 3
    assert vote.filter(pl.col("label") == "a")["n_input_tokens"].to_list() == [30] * 4  # the sum over members


def test_a_tied_vote_goes_to_the_higher_mean_and_no_answer_stays_none() -> None:
    two = {"m1": codings(M1), "m2": codings(M2)}
    vote = combine_codings(two, LABELS, task="single", combine="vote", coder_id="e")
    # d2: m1 chose b, m2 chose c (1:1); mean b = 0.4 < c = 0.45 -> c
    assert _chosen(vote)["d2"] == ["c"]
    # d4: neither member answered -> NaN probabilities and no label, as a coder without an answer
    d4 = vote.filter(pl.col("doc_id") == "d4")
    assert d4["prob"].is_nan().all() and not d4["chosen"].any()


def test_multi_label() -> None:
    a = {"d1": [0.9, 0.6, 0.1], "d2": [0.2, 0.7, 0.8], "d3": [0.1, 0.1, 0.1], "d4": [0.6, 0.6, 0.6]}
    b = {"d1": [0.8, 0.3, 0.2], "d2": [0.4, 0.4, 0.9], "d3": [0.2, 0.9, 0.1], "d4": [0.1, 0.1, 0.1]}
    members = {"a": codings(a, task="multi"), "b": codings(b, task="multi")}
    mean = combine_codings(members, LABELS, task="multi", combine="mean", coder_id="e")
    assert _chosen(mean) == {"d1": ["a"], "d2": ["b", "c"], "d3": ["b"], "d4": []}  # mean >= 0.5
    vote = combine_codings(members, LABELS, task="multi", combine="vote", coder_id="e")
    assert _chosen(vote) == {"d1": ["a"], "d2": ["c"], "d3": [], "d4": []}  # more than half of the members


def test_member_agreement_against_statsmodels() -> None:
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    rng = np.random.default_rng(3)
    docs = [f"d{i}" for i in range(60)]
    members = {}
    truth = rng.integers(0, 3, len(docs))
    for name in ("m1", "m2", "m3"):
        rows = {}
        for d, t in zip(docs, truth, strict=True):
            pick = t if rng.random() < 0.7 else rng.integers(0, 3)
            rows[d] = [0.8 if j == pick else 0.1 for j in range(3)]
        members[name] = codings(rows, coder=name)
    got = member_agreement(members, task="single", n_boot=50)
    table = np.array([[int(np.argmax(_wide_all(members[m])[d])) for m in members] for d in docs])
    counts, _ = aggregate_raters(table, n_cat=3)
    k = next(c for c in got["coefficients"] if c["coefficient"] == "fleiss_kappa")
    assert k["estimate"] == pytest.approx(fleiss_kappa(counts), abs=1e-9)
    assert got["n_documents"] == 60 and got["n_all_agree"] == int((table == table[:, :1]).all(axis=1).sum())


def _wide_all(df: pl.DataFrame) -> dict[str, list[float]]:
    return {d: g.sort("label")["prob"].to_list() for (d,), g in df.group_by("doc_id")}


def test_members_must_code_the_same_documents_and_config_is_checked(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="at least two member coders"):
        combine_codings({"m1": codings(M1)}, LABELS, task="single", combine="mean", coder_id="e")
    with pytest.raises(InputError, match="other documents or label orders"):
        combine_codings({"m1": codings(M1), "m2": codings({"d1": M2["d1"]})}, LABELS, task="single",
                        combine="mean", coder_id="e")
    with pytest.raises(InputError, match="combine"):
        combine_codings({"m1": codings(M1), "m2": codings(M2)}, LABELS, task="single", combine="median",
                        coder_id="e")
    for text, match in (("kind: ensemble\nmembers: [a]\n", "two or more"),
                        ("kind: ensemble\nmembers: [a, a]\n", "listed twice"),
                        ("kind: ensemble\nmembers: [a, b]\ncombine: max\n", "combine"),
                        ("kind: ensemble\nmembers: [a, b]\nmodel: x\n", "unknown key"),
                        ("members: [a, b]\n", "kind: ensemble")):
        (tmp_path / "e.yaml").write_text(text)
        with pytest.raises(InputError, match=match):
            EnsembleConfig.from_yaml(tmp_path / "e.yaml")
    (tmp_path / "e.yaml").write_text("kind: ensemble\nmembers: [a, b]\n")
    cfg = EnsembleConfig.from_yaml(tmp_path / "e.yaml")
    assert (cfg.name, cfg.members, cfg.combine) == ("e", ("a", "b"), "mean")
    assert cfg.coder_id({"a": "a-1", "b": "b-1"}) != EnsembleConfig("e", ("a", "b"), "vote").coder_id(
        {"a": "a-1", "b": "b-1"})


def _fake_coder(workdir: Path, study: str, name: str, seed: int, labels: list[str]) -> None:
    corpus = pl.read_parquet(workdir / f"results/{study}/corpus.parquet")
    rng = np.random.default_rng(seed)
    rows = []
    for doc, gold in corpus.select("doc_id", "label").iter_rows():
        pick = gold if rng.random() > 0.3 else labels[int(rng.integers(len(labels)))]
        p = rng.dirichlet(np.ones(len(labels)))
        p = 0.5 * p + 0.5 * np.array([lab == pick for lab in labels], dtype=float)
        for lab, q in zip(labels, p, strict=True):
            rows.append({"doc_id": doc, "coder_id": f"{name}-00000000", "rotation": 0, "label": lab, "prob": float(q),
                         "chosen": lab == labels[int(np.argmax(p))], "n_input_tokens": 100, "n_output_tokens": 1,
                         "latency_s": 0.01})
    out = workdir / f"results/{study}/coders"
    out.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows).with_columns(pl.col("rotation").cast(pl.Int32)).write_parquet(out / f"{name}.parquet")
    pl.DataFrame({"coder_id": f"{name}-00000000", "rotation": 0, "position": list(range(len(labels))),
                  "label": labels}).with_columns(pl.col("rotation", "position").cast(pl.Int32)).write_parquet(
        out / f"{name}_orders.parquet")
    from llmcoder.io import provenance

    (out / f"{name}.json").write_text(json.dumps({
        **provenance(), "step": "code", "coder_id": f"{name}-00000000", "coder": {"name": name},
        "coder_identity": {"name": name}, "model": {"model": "fabricated for a test"},
        "codebook": {"labels": labels, "task": "single", "sha256": "c" * 64}, "corpus_sha256": "0" * 64,
        "n_docs": corpus.height, "rotations": 1, "rotation_orders": {"0": labels}, "prompt_template": "",
        "prompt_template_sha256": "0" * 64, "prompts": {}, "truncation": {}, "n_codings_without_answer": 0,
        "seconds_last_session": 0.0, "package_versions": {}}))


@pytest.mark.slow
def test_workflow_makes_and_evaluates_an_ensemble(tmp_path: Path, codebook_path: Path) -> None:
    """An ensemble listed among a study's coders: code_ensemble combines the members' outputs, the
    evaluation scores it like any LLM coder, and every file holds to the results contract."""
    snakemake_bin = Path(sys.executable).with_name("snakemake")
    topics = {"health": "hospital waiting lists", "education": "school teachers", "energy": "gas and power prices"}
    rows = ["id,text,label"] + [f"q{i},Question {i} about {topics[lab]} in region {i % 7},{lab}"
                                for i, lab in enumerate(list(topics) * 20)]
    (tmp_path / "corpus.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    for name in ("fa", "fb"):
        (tmp_path / f"{name}.yaml").write_text(f"name: {name}\nmodel: smollm2-135m\n", encoding="utf-8")
    (tmp_path / "ens.yaml").write_text("kind: ensemble\nmembers: [fa, fb]\ncombine: mean\n", encoding="utf-8")
    (tmp_path / "config.yaml").write_text("""
studies:
  ens:
    corpus: {path: corpus.csv, label: label}
    codebook: codebook.yaml
    split: {train: 0.6, dev: 0.2, test: 0.2, sizes: [1.0]}
    coders: [fa.yaml, fb.yaml, ens.yaml]
    verify: {mode: none}
    evaluate: {n_boot: 50}
    report: {enabled: false}
""", encoding="utf-8")

    def snakemake(*targets: str) -> str:
        cmd = [str(snakemake_bin), "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(tmp_path),
               "--configfile", str(tmp_path / "config.yaml"), "--cores", "2",
               "--workflow-profile", str(REPO / "workflow/profiles/default"), *targets]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        return res.stdout + res.stderr

    snakemake("results/ens/corpus.parquet", "results/ens/splits.parquet")
    labels = ["health", "education", "energy"]
    for seed, name in enumerate(("fa", "fb")):
        _fake_coder(tmp_path, "ens", name, seed, labels)
    said = snakemake("results/ens/evaluation/ens/metrics.json")
    assert "code_ensemble" in said and "code_llm" not in said
    coders = tmp_path / "results/ens/coders"
    ens = pl.read_parquet(coders / "ens.parquet")
    fa, fb = (pl.read_parquet(coders / f"{n}.parquet") for n in ("fa", "fb"))
    keys = ["doc_id", "rotation", "label"]
    both = fa.join(fb, on=keys, suffix="_b").join(ens, on=keys, suffix="_e")
    np.testing.assert_allclose(both["prob_e"].to_numpy(), (both["prob"] + both["prob_b"]).to_numpy() / 2)
    prov = json.loads((coders / "ens.json").read_text())
    assert prov["step"] == "ensemble" and prov["coder"]["members"] == ["fa", "fb"]
    assert prov["coder_id"].startswith("ens-") and set(ens["coder_id"]) == {prov["coder_id"]}
    assert prov["agreement"]["n_documents"] == 60
    m = json.loads((tmp_path / "results/ens/evaluation/ens/metrics.json").read_text())
    gold = dict(pl.read_parquet(tmp_path / "results/ens/corpus.parquet").select("doc_id", "label").iter_rows())
    test = set(pl.read_parquet(tmp_path / "results/ens/splits.parquet").filter(pl.col("split") == "test")["doc_id"])
    top = ens.filter(pl.col("chosen") & pl.col("doc_id").is_in(list(test)))
    assert m["accuracy"] == pytest.approx(np.mean([gold[d] == lab for d, lab in
                                                              top.select("doc_id", "label").iter_rows()]))
    from llmcoder.results import validate_results

    assert validate_results(tmp_path / "results/ens") == {}
    # a member that is not a coder of the study is named
    (tmp_path / "ens.yaml").write_text("kind: ensemble\nmembers: [fa, nope]\n", encoding="utf-8")
    cmd = [str(snakemake_bin), "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(tmp_path / "config.yaml"), "--cores", "1", "-n"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode != 0 and "members nope are not LLM coders of study 'ens'" in res.stdout + res.stderr
