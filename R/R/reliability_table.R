#' Table of inter-coder reliability
#'
#' One row per comparison (human-human, human-model, model-model) and
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
  tbl <- require_part(x, "reliability", "reliability/*.csv")

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

#' "coder_a vs coder_b", else the comparison name, else the source file
#' @noRd
reliability_pairs <- function(tbl) {
  n <- nrow(tbl)
  out <- rep(NA_character_, n)
  if (all(c("coder_a", "coder_b") %in% names(tbl))) {
    ok <- !is.na(tbl$coder_a) & !is.na(tbl$coder_b)
    out[ok] <- paste(tbl$coder_a[ok], "vs", tbl$coder_b[ok])
  }
  for (col in c("comparison", "source")) {
    if (col %in% names(tbl)) {
      miss <- is.na(out)
      out[miss] <- tbl[[col]][miss]
    }
  }
  if ("scope" %in% names(tbl)) {
    has <- !is.na(tbl$scope) & nzchar(tbl$scope)
    out[has] <- paste0(out[has], ": ", tbl$scope[has])
  }
  out[is.na(out)] <- ""
  out
}
