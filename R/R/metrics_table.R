#' Table of the main metrics with confidence intervals
#'
#' The main table of a paper: one row per evaluated system (the final
#' fine-tuned model first, then the LLM coders, then any other system), with
#' what it is, the number of test documents it was scored on and one column
#' per metric; each cell reads `0.812 [0.790, 0.833]` (estimate and bootstrap
#' confidence interval) or just the estimate when no interval was computed.
#' By default the metrics are accuracy, macro-F1 and Cohen's kappa
#' (single-label) or the metrics with intervals (multi-label); the caption
#' gives the human ceiling when it was measured.
#'
#' @param x An `llmcoder_results` object from [read_results()].
#' @param format Output format: `"latex"` (booktabs), `"html"` or
#'   `"markdown"` (pipe table).
#' @param digits Number of decimals.
#' @param metrics Metrics to show, in order (names as in `metrics.csv`, e.g.
#'   `c("accuracy", "macro_f1")`). `NULL` shows the main ones; `"all"` every
#'   metric, in file order (an appendix table).
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
#' metrics_table(res, format = "markdown")
#' metrics_table(res, format = "latex", metrics = "all")
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
  metrics <- if (identical(metrics, "all")) unique(tbl$metric) else metrics %||% main_metrics(x)
  metrics <- pick_levels(metrics, unique(tbl$metric), "metrics")
  systems <- pick_levels(systems, system_order(x), "systems")
  tbl <- tbl[tbl$metric %in% metrics & tbl$system %in% systems, , drop = FALSE]

  cells <- fmt_ci(tbl$estimate, tbl$ci_low %||% NA, tbl$ci_high %||% NA, digits)
  out <- data.frame(System = systems, stringsAsFactors = FALSE, check.names = FALSE)
  kinds <- system_kind(x, systems)
  if (any(nzchar(kinds))) {
    out$Type <- kinds
  }
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
      "Agreement of each system with the gold labels of the test set",
      if (has_ci) {
        paste0(
          "; ", if (!is.na(level)) paste0(round(100 * level), "% ") else "",
          "percentile bootstrap confidence intervals in brackets"
        )
      },
      ".", ceiling_caption(x, digits)
    )
  }
  n_left <- sum(names(out) %in% c("System", "Type"))
  new_llmcoder_table(
    render_kable(out, format, caption, align = c(rep("l", n_left), rep("r", ncol(out) - n_left)), ...),
    format = format,
    kind = "metrics",
    provenance = new_provenance(
      "metrics_table", match.call(), attr(x, "provenance"),
      format = format, digits = digits, metrics = metrics
    )
  )
}

#' The systems in reading order: the final (fine-tuned) models, the LLM coders, the others
#' @noRd
system_order <- function(x) {
  evaluated <- unique(x$metrics$system)
  finals <- final_models(x)
  coders <- intersect(llm_coders(x), evaluated)
  c(finals, coders, setdiff(evaluated, c(finals, coders)))
}

#' What each system is: "Fine-tuned (tfidf)", "LLM, zero-shot", or ""
#' @noRd
system_kind <- function(x, systems) {
  finals <- finetuned_models(x)
  vapply(systems, function(s) {
    if (s %in% names(x$records$coders)) {
      shots <- x$records$coders[[s]]$coder$few_shot
      if (is.null(shots)) "LLM" else if (shots == 0) "LLM, zero-shot" else paste0("LLM, ", shots, "-shot")
    } else if (s %in% finals) {
      recs <- finetune_records_of(x, s)
      kind <- if (length(recs) > 0) recs[[1]]$record$kind
      if (is.null(kind)) "Fine-tuned" else paste0("Fine-tuned (", kind, ")")
    } else {
      ""
    }
  }, character(1), USE.NAMES = FALSE)
}

#' " Human ceiling: Cohen's kappa 0.834 [0.623, 1.000] (15 documents)." or ""
#' @noRd
ceiling_caption <- function(x, digits) {
  rel <- x$reliability
  hc <- if (!is.null(rel)) rel[rel$source %in% "human_ceiling_csv" & rel$coefficient %in% "cohen_kappa", , drop = FALSE]
  if (is.null(hc) || nrow(hc) != 1) {
    return("")
  }
  paste0(
    " Human ceiling (agreement of the verifiers' own labels): ", ceiling_kappa_name(hc), " ",
    fmt_ci(hc$estimate, hc$ci_low, hc$ci_high, digits),
    if (!is.na(hc$n)) paste0(" on ", hc$n, " documents"), "."
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
