"""Codebook loading, validation and CSV import (the CAP master codebook)."""

from __future__ import annotations

import pytest

from conftest import shared_file
from llmcoder.codebook import Codebook, Label, codebook_from_csv, load_codebook
from llmcoder.errors import InputError


def test_load_yaml_codebook(codebook_path):
    cb = load_codebook(codebook_path)
    assert cb.task == "single"
    assert cb.ids == ["health", "education", "energy"]
    assert cb.names["energy"] == "Energy"
    assert cb.label("education").definition == "Schools and universities."
    assert cb.instructions == "Code the main policy topic."


def test_round_trip_and_hash_changes_with_definition(tmp_path, codebook_path):
    cb = load_codebook(codebook_path)
    out = cb.save(tmp_path / "copy.yaml")
    again = load_codebook(out)
    assert again.labels == cb.labels and again.sha256() == cb.sha256()
    changed = Codebook(labels=(Label("health", "Health", "Other text"),) + cb.labels[1:], name=cb.name,
                       instructions=cb.instructions)
    assert changed.sha256() != cb.sha256()


@pytest.mark.parametrize("text, message", [
    ("task: single\nlabels:\n  - {id: a, name: A}\n  - {id: a, name: B}\n", "label 2 repeats id 'a' (first used by label 1)"),
    ("task: single\nlabels:\n  - {id: a, name: A}\n  - {id: b, name: ''}\n", "label 2 ('b') has an empty name"),
    ("task: multi\nlabels:\n  - {id: 'a|b', name: A}\n  - {id: c, name: C}\n", "contains the multi-label separator '|'"),
    ("task: both\nlabels:\n  - {id: a, name: A}\n  - {id: b, name: B}\n", "task is 'both'; it must be 'single' or 'multi'"),
    ("task: single\nlabels:\n  - {id: a, name: A}\n", "1 label(s) defined; a codebook needs at least 2"),
    ("task: single\nlabel:\n  - {id: a, name: A}\n", "'labels' is missing or not a list"),
    ("task: single\nlabels:\n  - {id: a, name: A, colour: red}\n  - {id: b, name: B}\n", "label 1 has unknown key 'colour'"),
    ("task: single\nlabels: [\n", "not valid YAML"),
    ("task: single\nlabels:\n  - {id: 'a b', name: A}\n  - {id: b, name: B}\n", "must be letters, digits"),
])
def test_invalid_codebooks_name_the_entry(tmp_path, text, message):
    p = tmp_path / "cb.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_codebook(p)
    assert str(p) in str(info.value) and message in str(info.value)


def test_missing_codebook_file(tmp_path):
    with pytest.raises(InputError, match="codebook file not found"):
        load_codebook(tmp_path / "none.yaml")


def test_cap_codebook_csv_import():
    path = shared_file("rethinking_scale", "cap_codebook.csv")
    cb = codebook_from_csv(path)
    assert len(cb.labels) == 21  # SOURCE.md: 21 major topics with 250 subtopics
    assert cb.label("1").name == "Macroeconomics"
    assert "Inflation, Prices, and Interest Rates" in cb.label("1").definition
    assert sum(lab.definition.count(";") + 1 for lab in cb.labels) == 250


def test_csv_codebook_one_row_per_label(tmp_path):
    p = tmp_path / "cb.csv"
    p.write_text("code,label,definition\nh,Health,Hospitals\ne,Education,Schools\n", encoding="utf-8")
    cb = codebook_from_csv(p, id_col="code", name_col="label", definition_col="definition")
    assert cb.ids == ["h", "e"] and cb.label("e").definition == "Schools"
    with pytest.raises(InputError, match=r"column\(s\) 'id' not found"):
        codebook_from_csv(p, id_col="id", name_col="label")


def test_lookup_resolves_ids_and_names(codebook_path):
    from llmcoder.codebook import load_codebook

    cb = load_codebook(codebook_path)
    assert cb.resolve("health") == "health" and cb.resolve("  EDUCATION ") == "education"
    assert cb.resolve("Energy  ") == "energy" and cb.resolve("transport") is None
