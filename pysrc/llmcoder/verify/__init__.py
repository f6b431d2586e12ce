"""Human verification by rejection: LLM proposals → sheets → filled sheets → verified labels.

People are faster at spotting what does not apply to a text than at choosing what does, so human
coders verify the LLM coders' proposals by rejecting the wrong ones.

* :func:`make_sheets` / :func:`write_sheets`: blind sheets (XLSX and CSV) per human coder, with an
  overlap for reliability and a manifest that ingest checks every row against.
* :func:`ingest`: strict validation of the filled sheets, then :func:`verify_decisions`: verified
  labels, adjudication queue and sheet, decision log, LLM acceptance rates, workload, reliability.
* :func:`simulate_verification`: a seeded stand-in for people in demos (marked simulated everywhere).
* :func:`missing_sheets_message`: what to fill and where, when the filled sheets are not there yet;
  :func:`adjudication_message`: the same for the adjudication queue an ingest left.
* :func:`decisions_from_flourishing`: the Rethinking Scale paper's own verification, as a decision log.

Modules: ``sheets`` (blank sheets), ``proposals`` (which labels to propose), ``simulate``; ``ingest``
runs ``read`` (filled sheets, manifest), ``check`` (rows against the manifest), ``decide`` (verified
labels, adjudication queue) and ``measures`` (acceptance, workload, reliability); ``messages`` holds
what people are told beyond one check; ``adapters`` imports decision logs made elsewhere.
"""

from llmcoder.verify._common import DEFAULT_VOCABULARY, SheetProblem, Sheets, SheetsError
from llmcoder.verify.adapters import (
    compare_with_published,
    decisions_from_flourishing,
    proposals_from_flourishing,
    verify_flourishing,
)
from llmcoder.verify.decide import VerifyResult, verify_decisions
from llmcoder.verify.ingest import ingest
from llmcoder.verify.messages import adjudication_message, missing_sheets_message, require_filled_sheets
from llmcoder.verify.read import load_manifest, read_filled_sheet
from llmcoder.verify.sheets import make_sheets, read_codings, write_sheets
from llmcoder.verify.simulate import simulate_verification

__all__ = [
    "DEFAULT_VOCABULARY", "SheetProblem", "Sheets", "SheetsError", "VerifyResult", "adjudication_message",
    "compare_with_published", "decisions_from_flourishing", "ingest", "load_manifest", "make_sheets",
    "missing_sheets_message", "proposals_from_flourishing", "read_codings", "read_filled_sheet",
    "require_filled_sheets", "simulate_verification", "verify_decisions", "verify_flourishing", "write_sheets",
]
