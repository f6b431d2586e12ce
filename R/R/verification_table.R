#' Table of the human verification: how often people kept each LLM coder's proposals
#'
#' One row per LLM coder (`verify/ingest/acceptance.csv`): the labels it
#' proposed on the sheets, the decisions people made on them, the share they
#' kept with its Wilson interval, and its precision on the verified labels
#' (the share of its proposals on verified documents that are the verified
#' label) with its interval.
#'
#' @inheritParams metrics_table
#'
#' @return An `llmcoder_table`.
#' @seealso [reliability_table()], [write_table()]
#' @examples
#' \dontrun{
#' verification_table(read_results("results/demo"), format = "markdown")
#' }
#' @export
verification_table <- function(x,
                               format = c("latex", "html", "markdown"),
                               digits = 3,
                               caption = NULL,
                               ...) {
  check_results(x)
  format <- match.arg(format)
  check_digits(digits)
  acc <- require_part(x, "acceptance", "verify/ingest/acceptance.csv")
  # The coder's name in the study where its record gives one; an imported verification has no records.
  ids <- vapply(x$records$coders, function(r) as.character(r$coder_id %||% NA), "")
  name <- as.character(acc$llm_coder)
  known <- match(name, ids)
  name[!is.na(known)] <- names(ids)[known[!is.na(known)]]
  out <- data.frame(
    `LLM coder` = name,
    Proposals = fmt_num(acc$n_proposals, 0),
    Decisions = fmt_num(acc$n_decisions, 0),
    Kept = fmt_ci(acc$acceptance, acc$ci_low, acc$ci_high, digits),
    `Verified documents` = fmt_num(acc$n_on_verified, 0),
    `Precision on verified labels` = fmt_ci(acc$verified_precision, acc$vp_ci_low, acc$vp_ci_high, digits),
    stringsAsFactors = FALSE, check.names = FALSE
  )
  if (is.null(caption)) {
    caption <- paste0(
      "Human verification of the LLM coders' proposals: the share of decisions that kept a proposal, and ",
      "the share of proposals on verified documents that are the verified label; confidence intervals in brackets (Wilson for the share kept).",
      if (isTRUE(x$records$verification$simulated)) " The verifiers were simulated."
    )
  }
  new_llmcoder_table(
    render_kable(out, format, caption, align = c("l", rep("r", ncol(out) - 1)), ...),
    format = format,
    kind = "verification",
    provenance = new_provenance(
      "verification_table", match.call(), attr(x, "provenance"),
      format = format, digits = digits
    )
  )
}
