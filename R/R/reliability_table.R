#' Table of inter-coder reliability
#'
#' By default the table a paper prints: one row per comparison (each LLM
#' coder against gold, the LLM coders among themselves, the verifiers'
#' keep-or-reject decisions, the verifiers' own labels - the human ceiling),
#' over all labels, with kappa (Cohen's for two coders, Fleiss' for more),
#' Krippendorff's alpha and Gwet's AC1 and their confidence intervals. With
#' `full = TRUE`, the appendix table: every coefficient recorded (percent
#' agreement, Conger's kappa, Brennan-Prediger, the range of pairwise kappas,
#' ...) and the per-label rows of the verifiers, one row per comparison, scope
#' and coefficient.
#'
#' @inheritParams metrics_table
#' @param full `FALSE` for the main table, `TRUE` for the appendix table.
#'
#' @return An `llmcoder_table`.
#' @seealso [metrics_table()], [cohen_kappa_check()], [write_table()]
#' @examples
#' \dontrun{
#' res <- read_results("results/demo")
#' reliability_table(res, format = "latex")
#' reliability_table(res, format = "latex", full = TRUE)
#' }
#' @export
reliability_table <- function(x,
                              format = c("latex", "html", "markdown"),
                              digits = 3,
                              full = FALSE,
                              caption = NULL,
                              ...) {
  check_results(x)
  format <- match.arg(format)
  check_digits(digits)
  tbl <- require_part(x, "reliability", "reliability/coders_vs_gold.csv or verify/ingest/reliability.csv")
  tbl$label <- reliability_comparison_label(tbl, isTRUE(x$records$verification$simulated))
  out <- if (isTRUE(full)) reliability_long(tbl, digits) else reliability_wide(tbl, digits)
  if (is.null(caption)) {
    caption <- paste0(
      if (isTRUE(full)) "Every agreement coefficient recorded, by comparison and scope" else "Agreement between coders over all labels",
      if (any(!is.na(tbl$ci_low %||% NA))) "; confidence intervals in brackets",
      if (!isTRUE(full) && any(names(out) == "Kappa")) "; kappa is Cohen's for two coders and Fleiss' for more",
      ". n: documents (for the verifiers' decisions: proposals decided by two or more).",
      if (isTRUE(x$records$verification$simulated)) " The verifiers were simulated."
    )
  }
  if ("CI method" %in% names(out)) {
    out$`CI method`[is.na(out$`CI method`)] <- ""
  }
  new_llmcoder_table(
    render_kable(out, format, caption, align = ifelse(names(out) %in% c("Comparison", "Scope", "Coefficient", "CI method"), "l", "r"), ...),
    format = format,
    kind = if (isTRUE(full)) "reliability_full" else "reliability",
    provenance = new_provenance(
      "reliability_table", match.call(), attr(x, "provenance"),
      format = format, digits = digits, full = isTRUE(full)
    )
  )
}

#' One row per comparison over all labels: n, kappa, Krippendorff's alpha, Gwet's AC1
#' @noRd
reliability_wide <- function(tbl, digits) {
  all_labels <- is.na(tbl$scope %||% NA) | (tbl$scope %||% "") %in% c("", "all labels")
  tbl <- tbl[all_labels, , drop = FALSE]
  comparisons <- unique(tbl$label)
  kappa_of <- vapply(comparisons, function(cmp) main_kappa(tbl[tbl$label == cmp, , drop = FALSE]), "")
  kinds <- unique(stats::na.omit(kappa_of))
  kappa_head <- if (length(kinds) == 1) metric_label(kinds) else "Kappa"
  cell <- function(cmp, coefficient) {
    hit <- which(tbl$label == cmp & tbl$coefficient %in% coefficient)
    if (length(hit) == 0 || is.na(coefficient)) {
      return("")
    }
    r <- tbl[hit[[1]], ]
    fmt_ci(r$estimate, r$ci_low %||% NA, r$ci_high %||% NA, digits)
  }
  out <- data.frame(Comparison = comparisons, stringsAsFactors = FALSE, check.names = FALSE)
  out$n <- vapply(comparisons, function(cmp) {
    n <- unique(stats::na.omit(tbl$n[tbl$label == cmp & tbl$coefficient %in% c(agreement_main, kappa_of[[cmp]])]))
    if (length(n) == 1) format(n, big.mark = ",") else ""
  }, "", USE.NAMES = FALSE)
  out[[kappa_head]] <- vapply(comparisons, function(cmp) cell(cmp, kappa_of[[cmp]]), "", USE.NAMES = FALSE)
  out[["Krippendorff's alpha"]] <- vapply(comparisons, cell, "", coefficient = "krippendorff_alpha", USE.NAMES = FALSE)
  out[["Gwet's AC1"]] <- vapply(comparisons, cell, "", coefficient = "gwet_ac1", USE.NAMES = FALSE)
  out
}

#' The coefficients of the main reliability table (besides kappa)
#' @noRd
agreement_main <- c("krippendorff_alpha", "gwet_ac1")

#' Every row: comparison, scope, coefficient, estimate [CI], n
#' @noRd
reliability_long <- function(tbl, digits) {
  scope <- as.character(tbl$scope %||% rep(NA_character_, nrow(tbl)))
  scope[is.na(scope) | scope == ""] <- "all labels"
  order <- c(
    "percent_agreement", "cohen_kappa", "fleiss_kappa", "conger_kappa", "krippendorff_alpha",
    "gwet_ac1", "brennan_prediger", "pairwise_kappa_min", "pairwise_kappa_max"
  )
  rank <- match(tbl$coefficient, order)
  rank[is.na(rank)] <- length(order) + 1
  comparisons <- unique(tbl$label)
  o <- order(match(tbl$label, comparisons), scope != "all labels", scope, rank)
  tbl <- tbl[o, , drop = FALSE]
  scope <- scope[o]
  data.frame(
    Comparison = tbl$label,
    Scope = scope,
    Coefficient = metric_label(tbl$coefficient),
    Estimate = fmt_ci(tbl$estimate, tbl$ci_low %||% NA, tbl$ci_high %||% NA, digits),
    n = fmt_num(tbl$n, 0),
    `CI method` = as.character(tbl$method %||% rep("", nrow(tbl))),
    stringsAsFactors = FALSE, check.names = FALSE
  )
}

#' What each comparison is, for a reader: "smollm2 vs. gold", "Verifiers' labels (human ceiling)"
#' @noRd
reliability_comparison_label <- function(tbl, simulated = FALSE) {
  cmp <- as.character(tbl$comparison %||% rep(NA_character_, nrow(tbl)))
  who <- if (simulated) "Simulated verifiers'" else "Verifiers'"
  out <- cmp
  out[cmp %in% "human verifiers"] <- paste(who, "keep/reject decisions")
  out[cmp %in% "human ceiling"] <- paste(who, "labels (human ceiling)")
  out[cmp %in% "LLM coders"] <- "LLM coders with each other"
  vs_gold <- grepl(" vs gold$", cmp)
  out[vs_gold] <- sub(" vs gold$", " vs. gold", cmp[vs_gold])
  out[is.na(out)] <- ""
  out
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
