#' Table of headline metrics with confidence intervals
#'
#' One row per evaluated system (LLM coder, fine-tuned model, human coder),
#' one column per metric; each cell reads `0.812 [0.790, 0.833]` (estimate
#' and bootstrap confidence interval) or just the estimate when no interval
#' was computed.
#'
#' @param x An `llmcoder_results` object from [read_results()].
#' @param format Output format: `"latex"` (booktabs), `"html"` or
#'   `"markdown"` (pipe table).
#' @param digits Number of decimals.
#' @param metrics Metrics to show, in order (names as in `metrics.csv`, e.g.
#'   `c("accuracy", "macro_f1")`). `NULL` shows all, in file order.
#' @param systems Systems to show, in order. `NULL` shows all.
#' @param caption Table caption. `NULL` writes one from the data.
#' @param ... Passed to [knitr::kable()].
#'
#' @return An `llmcoder_table`: the table text, with `format`, `kind` and
#'   `provenance` attributes. Print it, or save it with [write_table()].
#' @seealso [per_class_table()], [reliability_table()], [write_table()]
#' @examples
#' \dontrun{
#' res <- read_results("results/demo")
#' metrics_table(res, format = "markdown", metrics = c("accuracy", "macro_f1"))
#' }
#' @export
metrics_table <- function(x,
                          format = c("latex", "html", "markdown"),
                          digits = 3,
                          metrics = NULL,
                          systems = NULL,
                          caption = NULL,
                          ...) {
  check_results(x)
  format <- match.arg(format)
  check_digits(digits)
  tbl <- require_part(x, "metrics", "evaluation/<system>/metrics.csv")
  metrics <- pick_levels(metrics, unique(tbl$metric), "metrics")
  systems <- pick_levels(systems, unique(tbl$system), "systems")
  tbl <- tbl[tbl$metric %in% metrics & tbl$system %in% systems, , drop = FALSE]

  cells <- fmt_ci(tbl$estimate, tbl$ci_low %||% NA, tbl$ci_high %||% NA, digits)
  out <- data.frame(System = systems, stringsAsFactors = FALSE, check.names = FALSE)
  if ("n" %in% names(tbl)) {
    out$n <- vapply(systems, function(s) {
      n <- unique(stats::na.omit(tbl$n[tbl$system == s]))
      if (length(n) == 1) format(n, big.mark = ",") else ""
    }, character(1))
  }
  for (m in metrics) {
    out[[metric_label(m)]] <- vapply(systems, function(s) {
      hit <- which(tbl$system == s & tbl$metric == m)
      if (length(hit) == 0) "" else cells[[hit[[1]]]]
    }, character(1))
  }
  if (is.null(caption)) {
    level <- ci_level(x)
    has_ci <- any(!is.na(tbl$ci_low %||% NA))
    caption <- paste0(
      "Agreement of each system with the gold standard",
      if (has_ci) {
        paste0(
          "; ", if (!is.na(level)) paste0(round(100 * level), "% ") else "",
          "bootstrap confidence intervals in brackets"
        )
      },
      "."
    )
  }
  new_llmcoder_table(
    render_kable(out, format, caption, align = c("l", rep("r", ncol(out) - 1)), ...),
    format = format,
    kind = "metrics",
    provenance = new_provenance(
      "metrics_table", match.call(), attr(x, "provenance"),
      format = format, digits = digits
    )
  )
}

#' Validate `digits`
#' @noRd
check_digits <- function(digits, call = rlang::caller_env()) {
  if (!is.numeric(digits) || length(digits) != 1 || is.na(digits) || digits < 0) {
    cli::cli_abort(
      c("{.arg digits} must be one non-negative number.", "x" = "It is {.val {digits}}."),
      call = call
    )
  }
}

#' Choose and order a subset of available values, with a clear error for unknown ones
#' @noRd
pick_levels <- function(wanted, available, arg, call = rlang::caller_env()) {
  if (is.null(wanted)) {
    return(available)
  }
  unknown <- setdiff(wanted, available)
  if (length(unknown) > 0) {
    cli::cli_abort(
      c(
        "Unknown {arg}: {.val {unknown}}.",
        "i" = "Available: {.val {available}}."
      ),
      call = call
    )
  }
  wanted
}

#' The bootstrap CI level of the evaluation records (`ci_level`), or NA when none or several
#' @noRd
ci_level <- function(x) {
  lv <- unique(unlist(lapply(x$records$evaluation, function(r) r$ci_level)))
  if (length(lv) == 1 && is.numeric(lv)) lv else NA_real_
}
