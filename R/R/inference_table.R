#' Table of the findings: label shares and regression coefficients by estimator
#'
#' The findings table of a paper (`inference/estimates.csv`): one row per
#' estimand, label and term (a label's share, or one coefficient of a
#' regression of a label's indicator on corpus columns), with the estimators
#' side by side, each cell the estimate and its 95% confidence interval,
#' `0.132 [0.071, 0.193]`: naive (the surrogate labels of every document taken
#' as true), classical (the labelled sample only, weighted by its known
#' inclusion probabilities), PPI++ (prediction-powered inference, power-tuned)
#' and DSL (design-based supervised learning), then the labelled documents and
#' the documents of the population (N) each row used. Shares of the whole
#' population by default; `strata = TRUE` adds the shares within each stratum.
#'
#' @inheritParams metrics_table
#' @param strata Whether to add the rows of each stratum (`"party=Greens"`)
#'   after the whole population's.
#' @param methods Estimators to show, in order (`"naive"`, `"classical"`,
#'   `"ppi"`, `"dsl"`). `NULL` shows those estimated.
#'
#' @return An `llmcoder_table`.
#' @seealso [inference_plot()], [write_table()], [read_results()]
#' @examples
#' \dontrun{
#' res <- read_results("results/demo")
#' inference_table(res, format = "markdown")
#' inference_table(res, format = "latex", strata = TRUE)
#' }
#' @export
inference_table <- function(x,
                            format = c("latex", "html", "markdown"),
                            digits = 3,
                            strata = FALSE,
                            methods = NULL,
                            caption = NULL,
                            ...) {
  check_results(x)
  format <- match.arg(format)
  check_digits(digits)
  if (!is.logical(strata) || length(strata) != 1 || is.na(strata)) {
    cli::cli_abort(c("{.arg strata} must be {.code TRUE} or {.code FALSE}.", "x" = "It is {.val {strata}}."))
  }
  est <- require_part(x, "inference", "inference/estimates.csv")
  methods <- pick_levels(methods, inference_methods(est), "methods")
  est <- est[est$method %in% methods & (strata | est$stratum == ""), , drop = FALSE]
  rows <- inference_rows(est)

  cells <- fmt_ci(est$estimate, est$ci_low, est$ci_high, digits)
  key <- inference_key(est)
  out <- data.frame(
    Estimand = ifelse(rows$estimand == "prevalence", "Share", "Coefficient"),
    Label = rows$label,
    stringsAsFactors = FALSE, check.names = FALSE
  )
  if (strata && any(rows$stratum != "")) {
    out$Stratum <- ifelse(rows$stratum == "", "all", rows$stratum)
  }
  if (any(rows$term != "")) {
    out$Term <- rows$term
  }
  for (m in methods) {
    out[[inference_method_label(m)]] <- vapply(rows$key, function(k) {
      hit <- which(key == k & est$method == m)
      if (length(hit) == 0) "" else cells[[hit[[1]]]]
    }, character(1), USE.NAMES = FALSE)
  }
  out$Labelled <- fmt_num(rows$n_labelled, 0)
  out$N <- fmt_num(rows$n_unlabelled, 0)
  if (is.null(caption)) {
    caption <- inference_caption(x, methods)
  }
  n_left <- sum(names(out) %in% c("Estimand", "Label", "Stratum", "Term"))
  new_llmcoder_table(
    render_kable(out, format, caption, align = c(rep("l", n_left), rep("r", ncol(out) - n_left)), ...),
    format = format,
    kind = "inference",
    provenance = new_provenance(
      "inference_table", match.call(), attr(x, "provenance"),
      format = format, digits = digits, strata = strata, methods = methods
    )
  )
}

#' The caption: what was estimated from which surrogate, corrected with which sample
#' @noRd
inference_caption <- function(x, methods) {
  rec <- x$records$inference
  surrogate <- if (!is.null(rec$surrogate)) {
    paste0(
      " from the labels of ", rec$surrogate,
      if (identical(rec$surrogate_kind, "finetuned")) " (fine-tuned model)" else if (identical(rec$surrogate_kind, "llm_coder")) " (LLM coder)",
      if (!is.null(rec$n_population)) {
        paste0(
          " on the ", big_num(rec$n_population), " documents of the ",
          if (identical(rec$population, "test")) "test split" else "corpus"
        )
      }
    )
  } else {
    " from surrogate labels"
  }
  sample <- if (!is.null(rec$n_sample)) {
    paste0(
      ", corrected with a labelled sample of ", big_num(rec$n_sample), " documents",
      if (!is.null(rec$design)) paste0(" (", rec$design, " design)"),
      if (isTRUE(rec$simulated)) " whose labels were simulated"
    )
  } else {
    ""
  }
  corrected <- intersect(methods, c("ppi", "dsl"))
  said <- c(
    if ("naive" %in% methods) "naive treats the surrogate labels as true",
    if ("classical" %in% methods) "classical uses the labelled sample only",
    if (length(corrected) > 0) {
      paste(and_list(inference_method_label(corrected)), if (length(corrected) == 1) "combines" else "combine", "both")
    }
  )
  model <- if (identical(rec$regression, "logistic")) "logistic regression" else if (identical(rec$regression, "linear")) "linear probability model"
  paste0(
    "Label shares", if (any(x$inference$estimand == "regression")) paste0(" and coefficients of a ", model %||% "regression", " of a label's indicator"),
    " estimated", surrogate, sample, "; 95% confidence intervals in brackets.",
    if (length(said) > 0) paste0(" ", capitalise(paste(said, collapse = "; ")), ".")
  )
}

# --- helpers shared by the inference table, plot and methods paragraph -----------------------------

#' The estimators in reading order, those present
#' @noRd
inference_methods <- function(est) {
  known <- c("naive", "classical", "ppi", "dsl")
  present <- unique(est$method)
  c(intersect(known, present), setdiff(present, known))
}

#' Names of the estimators as a table prints them
#' @noRd
inference_method_label <- function(method) {
  known <- c(
    naive = "Naive (surrogate labels)",
    classical = "Classical (labelled sample only)",
    ppi = "PPI++",
    dsl = "DSL"
  )
  out <- unname(known[method])
  out[is.na(out)] <- method[is.na(out)]
  out
}

#' One key per estimand, label, stratum and term (a row of the findings)
#' @noRd
inference_key <- function(est) {
  paste(est$estimand, est$label, est$stratum, est$term, sep = "\001")
}

#' The rows of the findings in reading order: shares, then coefficients; labels, strata and terms in
#' file order (the whole population first)
#' @noRd
inference_rows <- function(est) {
  key <- inference_key(est)
  first <- !duplicated(key)
  rows <- as.data.frame(est[first, c("estimand", "label", "stratum", "term", "n_labelled", "n_unlabelled")], stringsAsFactors = FALSE)
  rows$key <- key[first]
  estimand_rank <- match(rows$estimand, c("prevalence", "regression"))
  estimand_rank[is.na(estimand_rank)] <- 3L
  o <- order(
    estimand_rank,
    match(rows$label, unique(rows$label)),
    rows$stratum != "",
    seq_len(nrow(rows))
  )
  rows[o, , drop = FALSE]
}
