#' Table of inter-coder reliability
#'
#' One row per comparison (each LLM coder against gold, the LLM coders
#' among themselves, the human verifiers overall and per label) and
#' agreement coefficient, with its confidence interval when one was
#' computed.
#'
#' @inheritParams metrics_table
#'
#' @return An `llmcoder_table`.
#' @seealso [metrics_table()], [cohen_kappa_check()], [write_table()]
#' @examples
#' \dontrun{
#' reliability_table(read_results("results/demo"), format = "latex")
#' }
#' @export
reliability_table <- function(x,
                              format = c("latex", "html", "markdown"),
                              digits = 3,
                              caption = NULL,
                              ...) {
  check_results(x)
  format <- match.arg(format)
  check_digits(digits)
  tbl <- require_part(x, "reliability", "reliability/coders_vs_gold.csv or verify/ingest/reliability.csv")

  out <- data.frame(Comparison = reliability_pairs(tbl), stringsAsFactors = FALSE)
  if ("metric" %in% names(tbl)) {
    out$Coefficient <- metric_label(tbl$metric)
  }
  out$Estimate <- fmt_ci(tbl$estimate, tbl$ci_low %||% NA, tbl$ci_high %||% NA, digits)
  if ("n" %in% names(tbl)) {
    out$n <- fmt_num(tbl$n, 0)
  }
  if (is.null(caption)) {
    caption <- paste0(
      "Agreement between coders",
      if (any(!is.na(tbl$ci_low %||% NA))) "; confidence intervals in brackets",
      "."
    )
  }
  n_left <- sum(names(out) %in% c("Comparison", "Coefficient"))
  new_llmcoder_table(
    render_kable(out, format, caption, align = c(rep("l", n_left), rep("r", ncol(out) - n_left)), ...),
    format = format,
    kind = "reliability",
    provenance = new_provenance(
      "reliability_table", match.call(), attr(x, "provenance"),
      format = format, digits = digits
    )
  )
}

#' The comparison of each reliability row, with its scope when it has one
#'
#' "smollm2 vs gold", "LLM coders", "human verifiers: all labels".
#' @noRd
reliability_pairs <- function(tbl) {
  out <- as.character(tbl$comparison %||% rep(NA_character_, nrow(tbl)))
  if ("scope" %in% names(tbl)) {
    has <- !is.na(tbl$scope) & nzchar(tbl$scope)
    out[has] <- paste0(out[has], ": ", tbl$scope[has])
  }
  out[is.na(out)] <- ""
  out
}
