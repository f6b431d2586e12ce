"""Small synthetic studies for the verification tests (imported by tests/test_verify*.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from llmcoder.codebook import Codebook, Label

LABELS = ("health", "education", "energy", "defense")


def codebook(task: str = "single") -> Codebook:
    return Codebook(labels=tuple(Label(id=lab, name=lab.title(), definition=f"Documents about {lab}.")
                                 for lab in LABELS), task=task, name="mini", instructions="Code the topic.")


def corpus(n: int = 40, task: str = "single") -> pl.DataFrame:
    ids = [f"d{i:03d}" for i in range(n)]
    gold = [LABELS[i % len(LABELS)] for i in range(n)]
    texts = [f"Text {i} about {g}.\nSecond line." for i, g in enumerate(gold)]
    if task == "single":
        return pl.DataFrame({"doc_id": ids, "text": texts, "label": gold})
    labels = [[g, LABELS[(i + 1) % len(LABELS)]] if i % 3 == 0 else [g] for i, g in enumerate(gold)]
    return pl.DataFrame({"doc_id": ids, "text": texts, "labels": labels})


def codings(corp: pl.DataFrame, task: str = "single") -> pl.DataFrame:
    """Two LLM coders, two rotations. gpt always chooses the gold label(s) with prob 0.9; llama
    chooses the gold label on even documents and the next label on odd ones (prob 0.55)."""
    rows: list[dict[str, Any]] = []
    gold_col = "label" if task == "single" else "labels"
    for i, (doc, gold) in enumerate(corp.select("doc_id", gold_col).iter_rows()):
        gold_set = {gold} if task == "single" else set(gold)
        first = sorted(gold_set)[0]
        wrong = LABELS[(LABELS.index(first) + 1) % len(LABELS)]
        for coder in ("gpt", "llama"):
            for rot in (0, 1):
                if coder == "gpt":
                    chosen = gold_set
                    p_chosen = 0.9
                else:
                    chosen = {first} if i % 2 == 0 else {wrong}
                    p_chosen = 0.55
                for lab in LABELS:
                    rows.append({"doc_id": doc, "coder_id": coder, "rotation": rot, "label": lab,
                                 "prob": p_chosen if lab in chosen else 0.05, "chosen": lab in chosen})
    return pl.DataFrame(rows)


def edit_xlsx(path: Path, fn: Callable[[Any], None], sheet: str = "verify") -> None:
    """Open a workbook, let ``fn`` change the worksheet, save it in place."""
    import openpyxl

    wb = openpyxl.load_workbook(path)
    fn(wb[sheet])
    wb.save(path)


def column(ws: Any, name: str) -> int:
    """1-based index of a header column."""
    for cell in ws[1]:
        if cell.value == name:
            return cell.column
    raise KeyError(name)


def finish(path: Path, name: str = "Anna Example", date: str = "2026-12-01") -> None:
    """Mark a sheet finished as its coder does: name and date in the completion field (XLSX worksheet
    'finished', or the comment cell of a CSV sheet's last row, item 'finished')."""
    if Path(path).suffix == ".xlsx":
        import openpyxl

        wb = openpyxl.load_workbook(path)
        wb["finished"]["B3"], wb["finished"]["B4"] = name, date
        wb.save(path)
        return
    import csv
    import io

    text = Path(path).read_text(encoding="utf-8")
    sep = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
    rows = list(csv.reader(io.StringIO(text), delimiter=sep))
    header = rows[0]
    done = [r for r in rows[1:] if r and r[0] == "finished"]
    if not done:
        done = [[""] * len(header)]
        done[0][0] = "finished"
        rows.append(done[0])
    done[0][header.index("comment")] = f"{name}, {date}"
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator="\n").writerows(rows)
    Path(path).write_text(buf.getvalue(), encoding="utf-8")
