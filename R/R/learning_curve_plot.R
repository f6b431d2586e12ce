#' Plot a learning curve against the zero-shot LLM coders and the human ceiling
#'
#' Answers the question of a hybrid design - how many verified documents
#' does a small model need to match the LLM coders? - in one figure: a metric
#' on the test set against the number of training documents, as the mean
#' over seeds (line and points) with the range over seeds (ribbon) and each
#' seed's value (small points), one colour per fine-tuned model; each
#' zero-shot LLM coder's value of the same metric as a dashed horizontal
#' line; and the human ceiling (the agreement of the verifiers' own labels)
#' as a grey band (its confidence interval) around its estimate, for the
#' metrics that have one: Cohen's kappa, Krippendorff's alpha, and accuracy
#' (against the people's percent agreement).
#'
#' @param x An `llmcoder_results` object from [read_results()].
#' @param metric Metric to plot (a value of the `metric` column of
#'   `learning_curve.csv`). `NULL` takes Cohen's kappa when present, else
#'   macro-F1, else the first metric.
#' @param references Whether to draw the LLM coders and the human ceiling.
#'
#' @return A `ggplot` object with `references` (the lines and band drawn:
#'   `kind`, `name`, `estimate`, `low`, `high`, `n`) and `provenance`
#'   attributes; save it with [save_figure()].
#' @seealso [confusion_plot()], [save_figure()]
#' @examples
#' \dontrun{
#' learning_curve_plot(read_results("results/demo"))
#' }
#' @export
learning_curve_plot <- function(x, metric = NULL, references = TRUE) {
  check_results(x)
  tbl <- require_part(x, "learning_curve", "learning_curve.csv")
  tbl <- as.data.frame(tbl, stringsAsFactors = FALSE)
  missing <- setdiff(c("model", "train_size", "value", "metric"), names(tbl))
  if (length(missing) > 0) {
    cli::cli_abort(c(
      "The learning curve lacks column{?s} {.field {missing}}.",
      "i" = "Expected {.field model, train_size, seed, metric, value}."
    ))
  }
  available <- unique(tbl$metric)
  metric <- metric %||% curve_metric(tbl)
  metric <- pick_levels(metric, available, "metric")
  if (length(metric) != 1) {
    cli::cli_abort("{.arg metric} must be a single metric name.")
  }
  tbl <- tbl[tbl$metric == metric & !is.na(tbl$value) & !is.na(tbl$train_size), , drop = FALSE]
  summary <- curve_summary(tbl)
  refs <- if (isTRUE(references)) curve_references(x, metric) else curve_references(NULL, metric)

  p <- ggplot2::ggplot(
    summary,
    ggplot2::aes(x = .data$train_size, y = .data$mean, colour = .data$model, fill = .data$model, group = .data$model)
  )
  sizes <- sort(unique(summary$train_size))
  log_x <- length(sizes) > 2 && max(sizes) / max(min(sizes), 1) >= 8
  # the band spans the panel; on a log axis -Inf has no logarithm, so it spans the sizes with a margin
  left <- if (log_x) min(sizes) / 2 else -Inf
  right <- if (log_x) max(sizes) * 2 else Inf
  ceiling <- refs[refs$kind == "human ceiling", , drop = FALSE]
  if (nrow(ceiling) > 0) {
    p <- p +
      ggplot2::annotate(
        "rect",
        xmin = left, xmax = right, ymin = ceiling$low, ymax = ceiling$high, fill = "grey60", alpha = 0.25
      ) +
      ggplot2::geom_hline(yintercept = ceiling$estimate, colour = "grey35", linewidth = 0.5) +
      ggplot2::annotate(
        "text",
        x = left, y = ceiling$estimate, label = ceiling$name, hjust = -0.05, vjust = -0.5,
        size = 3, colour = "grey25"
      )
  }
  llm <- refs[refs$kind == "LLM coder", , drop = FALSE]
  if (nrow(llm) > 0) {
    p <- p +
      ggplot2::geom_hline(
        data = llm, ggplot2::aes(yintercept = .data$estimate),
        linetype = "dashed", colour = "grey20", linewidth = 0.5
      ) +
      ggplot2::geom_text(
        data = llm, ggplot2::aes(x = right, y = .data$estimate, label = .data$name),
        hjust = 1.05, vjust = -0.5, size = 3, colour = "grey20", inherit.aes = FALSE
      )
  }
  multi_seed <- max(summary$n_seeds) > 1
  p <- p +
    ggplot2::geom_ribbon(ggplot2::aes(ymin = .data$low, ymax = .data$high), alpha = 0.2, colour = NA) +
    ggplot2::geom_line(linewidth = 0.7) +
    ggplot2::geom_point(size = 1.8)
  if (multi_seed) {
    p <- p + ggplot2::geom_point(
      data = tbl, ggplot2::aes(x = .data$train_size, y = .data$value, colour = .data$model),
      size = 0.9, alpha = 0.5, inherit.aes = FALSE
    )
  }
  p <- p +
    ggplot2::scale_x_continuous(trans = if (log_x) "log10" else "identity", breaks = sizes) +
    ggplot2::labs(
      x = "Training documents",
      y = metric_label(metric),
      colour = "Fine-tuned model", fill = "Fine-tuned model",
      caption = curve_caption(multi_seed, summary, llm, ceiling)
    ) +
    ggplot2::theme_minimal(base_size = 11) +
    ggplot2::theme(legend.position = "bottom", plot.caption = ggplot2::element_text(hjust = 0))
  attr(p, "references") <- refs
  attr(p, "provenance") <- new_provenance(
    "learning_curve_plot", match.call(), attr(x, "provenance"),
    metric = metric
  )
  p
}

#' Mean, range and number of seeds per model and training size
#' @noRd
curve_summary <- function(tbl) {
  groups <- split(tbl, list(tbl$model, tbl$train_size), drop = TRUE)
  summary <- do.call(rbind, lapply(groups, function(g) {
    data.frame(
      model = g$model[[1]],
      train_size = g$train_size[[1]],
      mean = mean(g$value),
      low = min(g$value),
      high = max(g$value),
      n_seeds = nrow(g),
      stringsAsFactors = FALSE
    )
  }))
  summary <- summary[order(summary$model, summary$train_size), , drop = FALSE]
  rownames(summary) <- NULL
  summary
}

#' The reference lines of a curve: each LLM coder's value (labelled zero-shot or k-shot) and the human ceiling
#' @noRd
curve_references <- function(x, metric) {
  empty <- data.frame(
    kind = character(), name = character(), estimate = numeric(), low = numeric(), high = numeric(),
    n = integer(), stringsAsFactors = FALSE
  )
  if (is.null(x)) {
    return(empty)
  }
  out <- list(empty)
  m <- x$metrics
  coders <- llm_coders(x)
  if (!is.null(m) && length(coders) > 0) {
    d <- m[m$system %in% coders & m$metric == metric & !is.na(m$estimate), , drop = FALSE]
    if (nrow(d) > 0) {
      # "smollm2 (zero-shot)", "smollm2 (3-shot)", or the name alone where the coder record does not say
      shots <- vapply(d$system, function(sys) shots_text(coder_shots(x, sys)), "", USE.NAMES = FALSE)
      out[[length(out) + 1]] <- data.frame(
        kind = "LLM coder", name = ifelse(is.na(shots), d$system, paste0(d$system, " (", shots, ")")),
        estimate = d$estimate,
        low = d$ci_low %||% NA_real_, high = d$ci_high %||% NA_real_, n = as.integer(d$n %||% NA),
        stringsAsFactors = FALSE
      )
    }
  }
  ceiling_coefficient <- c(cohen_kappa = "cohen_kappa", krippendorff_alpha = "krippendorff_alpha", accuracy = "percent_agreement")
  rel <- x$reliability
  if (!is.null(rel) && metric %in% names(ceiling_coefficient)) {
    hc <- rel[rel$source %in% "human_ceiling_csv" & rel$coefficient %in% ceiling_coefficient[[metric]] &
      !is.na(rel$ci_low) & !is.na(rel$ci_high), , drop = FALSE]
    if (nrow(hc) == 1) {
      out[[length(out) + 1]] <- data.frame(
        kind = "human ceiling", name = "human ceiling", estimate = hc$estimate, low = hc$ci_low,
        high = hc$ci_high, n = as.integer(hc$n), stringsAsFactors = FALSE
      )
    }
  }
  do.call(rbind, out)
}

#' The caption: what the line, band, points and references are
#' @noRd
curve_caption <- function(multi_seed, summary, llm, ceiling) {
  parts <- c(
    if (multi_seed) {
      paste0("Line: mean over ", max(summary$n_seeds), " seeds; ribbon: their range; small points: each seed.")
    },
    if (nrow(llm) > 0) {
      n <- unique(stats::na.omit(llm$n))
      paste0(
        "Dashed: LLM coder", if (nrow(llm) > 1) "s",
        if (length(n) > 0) paste0(" (scored on ", paste(n, collapse = "/"), " test documents)"), "."
      )
    },
    if (nrow(ceiling) > 0) {
      paste0("Grey: human ceiling with its confidence interval (", ceiling$n, " documents).")
    }
  )
  if (length(parts) == 0) NULL else paste(strwrap(paste(parts, collapse = " "), 90), collapse = "\n")
}

#' @importFrom rlang .data
NULL
