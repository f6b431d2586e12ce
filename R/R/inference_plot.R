#' Plot the findings: estimates with 95% intervals by estimator
#'
#' A coefficient plot of `inference/estimates.csv`: for each label share and
#' each regression coefficient, the point estimate and 95% confidence interval
#' of every estimator (naive, classical, PPI++, DSL), dodged one above the
#' other, with the shares and the coefficients in separate panels (each on its
#' own scale; a dashed line marks zero for the coefficients). A naive
#' interval that leaves out the corrected estimates shows at a glance.
#'
#' @param x An `llmcoder_results` object from [read_results()].
#' @param strata Whether to add the shares within each stratum.
#' @param methods Estimators to show, in order. `NULL` shows those estimated.
#' @param intercept Whether to show the regressions' intercepts.
#'
#' @return A `ggplot` object with a `provenance` attribute; its data has one
#'   row per estimate shown (`panel`, `item`, `method`, `estimate`,
#'   `ci_low`, `ci_high`, and the columns of the file). Save it with
#'   [save_figure()].
#' @seealso [inference_table()], [save_figure()]
#' @examples
#' \dontrun{
#' save_figure(inference_plot(read_results("results/demo")), "report/figures/inference")
#' }
#' @export
inference_plot <- function(x, strata = FALSE, methods = NULL, intercept = FALSE) {
  check_results(x)
  for (arg in c("strata", "intercept")) {
    v <- get(arg)
    if (!is.logical(v) || length(v) != 1 || is.na(v)) {
      cli::cli_abort(c("{.arg {arg}} must be {.code TRUE} or {.code FALSE}.", "x" = "It is {.val {v}}."))
    }
  }
  est <- require_part(x, "inference", "inference/estimates.csv")
  methods <- pick_levels(methods, inference_methods(est), "methods")
  keep <- est$method %in% methods & (strata | est$stratum == "") &
    (intercept | !(est$estimand == "regression" & est$term == "Intercept"))
  d <- as.data.frame(est[keep, , drop = FALSE], stringsAsFactors = FALSE)
  if (nrow(d) == 0) {
    cli::cli_abort(c(
      "No estimates to plot.",
      "i" = "{.file inference/estimates.csv} has only intercepts or other methods; set {.code intercept = TRUE} or choose {.arg methods}."
    ))
  }
  rows <- inference_rows(d)
  item_of <- function(r) {
    if (r$estimand == "prevalence") {
      if (r$stratum == "") r$label else paste0(r$label, " (", r$stratum, ")")
    } else {
      paste0(r$label, ": ", r$term)
    }
  }
  items <- vapply(seq_len(nrow(rows)), function(i) item_of(rows[i, ]), "")
  d$item <- factor(items[match(inference_key(d), rows$key)], levels = rev(unique(items)))
  d$panel <- factor(
    ifelse(d$estimand == "prevalence", "Label share", "Regression coefficient"),
    levels = c("Label share", "Regression coefficient")
  )
  d$method <- factor(inference_method_label(d$method), levels = inference_method_label(methods))
  colours <- c(
    "Naive (surrogate labels)" = "#D55E00", "Classical (labelled sample only)" = "#999999",
    "PPI++" = "#0072B2", "DSL" = "#009E73"
  )
  extra <- setdiff(levels(d$method), names(colours))
  colours <- c(colours, stats::setNames(grDevices::hcl.colors(max(1, length(extra)), "Dark 3")[seq_along(extra)], extra))
  zero <- data.frame(panel = factor("Regression coefficient", levels = levels(d$panel)), x = 0)[any(d$panel == "Regression coefficient"), , drop = FALSE]
  dodge <- ggplot2::position_dodge(width = 0.6)
  # dodged in reading order from the top: the naive estimate above the others
  d$order <- factor(d$method, levels = rev(levels(d$method)))
  p <- ggplot2::ggplot(d, ggplot2::aes(x = .data$estimate, y = .data$item, colour = .data$method, group = .data$order)) +
    ggplot2::geom_vline(data = zero, ggplot2::aes(xintercept = .data$x), linetype = "dashed", colour = "grey60") +
    ggplot2::geom_errorbar(
      ggplot2::aes(xmin = .data$ci_low, xmax = .data$ci_high),
      width = 0.3, orientation = "y", position = dodge, na.rm = TRUE
    ) +
    ggplot2::geom_point(size = 1.8, position = dodge, na.rm = TRUE) +
    ggplot2::facet_wrap(~panel, ncol = 1, scales = "free") +
    ggplot2::scale_colour_manual(values = colours[levels(d$method)], breaks = levels(d$method), drop = FALSE) +
    ggplot2::guides(colour = ggplot2::guide_legend(nrow = 2, byrow = TRUE)) +
    ggplot2::labs(
      x = "Estimate (95% confidence interval)", y = NULL, colour = NULL,
      caption = inference_plot_caption(x)
    ) +
    ggplot2::theme_minimal(base_size = 11) +
    ggplot2::theme(
      legend.position = "bottom", legend.justification = c(1, 0.5),
      plot.caption = ggplot2::element_text(hjust = 0), plot.caption.position = "plot"
    )
  attr(p, "provenance") <- new_provenance(
    "inference_plot", match.call(), attr(x, "provenance"),
    strata = strata, methods = methods, intercept = intercept
  )
  p
}

#' "Surrogate: tfidf (fine-tuned) on 264 test documents; labelled sample: 100 (uniform)."
#' @noRd
inference_plot_caption <- function(x) {
  rec <- x$records$inference
  if (is.null(rec$surrogate)) {
    return(NULL)
  }
  text <- paste0(
    "Surrogate labels: ", rec$surrogate,
    if (!is.null(rec$n_population)) {
      paste0(" on ", big_num(rec$n_population), if (identical(rec$population, "test")) " test documents" else " documents")
    },
    if (!is.null(rec$n_sample)) {
      paste0(
        "; labelled sample: ", big_num(rec$n_sample),
        if (!is.null(rec$design)) paste0(" (", rec$design, ")"),
        if (isTRUE(rec$simulated)) ", simulated labels"
      )
    },
    "."
  )
  paste(strwrap(text, width = 90), collapse = "\n")
}
