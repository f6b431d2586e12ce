#' Plot a learning curve
#'
#' Draws a metric against the number of training documents: the mean over
#' seeds as a line with points, and the range over seeds (minimum to
#' maximum) as a ribbon, one colour per model.
#'
#' @param x An `llmcoder_results` object from [read_results()].
#' @param metric Metric to plot (a value of the `metric` column of
#'   `learning_curve.csv`). `NULL` takes `macro_f1` when present, else the
#'   first metric.
#'
#' @return A `ggplot` object with a `provenance` attribute; save it with
#'   [save_figure()].
#' @seealso [confusion_plot()], [save_figure()]
#' @examples
#' \dontrun{
#' learning_curve_plot(read_results("results/demo"))
#' }
#' @export
learning_curve_plot <- function(x, metric = NULL) {
  check_results(x)
  tbl <- require_part(x, "learning_curve", "learning_curve.csv")
  tbl <- as.data.frame(tbl, stringsAsFactors = FALSE)
  missing <- setdiff(c("model", "train_size", "value"), names(tbl))
  if (length(missing) > 0) {
    cli::cli_abort(c(
      "The learning curve lacks column{?s} {.field {missing}}.",
      "i" = "Expected {.field model, train_size, seed, metric, value}."
    ))
  }
  if ("metric" %in% names(tbl)) {
    available <- unique(tbl$metric)
    if (is.null(metric)) {
      metric <- if ("macro_f1" %in% available) "macro_f1" else available[[1]]
    }
    metric <- pick_levels(metric, available, "metric")
    if (length(metric) != 1) {
      cli::cli_abort("{.arg metric} must be a single metric name.")
    }
    tbl <- tbl[tbl$metric == metric, , drop = FALSE]
  } else {
    metric <- metric %||% "value"
  }
  tbl <- tbl[!is.na(tbl$value) & !is.na(tbl$train_size), , drop = FALSE]
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

  p <- ggplot2::ggplot(
    summary,
    ggplot2::aes(
      x = .data$train_size, y = .data$mean,
      colour = .data$model, fill = .data$model, group = .data$model
    )
  ) +
    ggplot2::geom_ribbon(
      ggplot2::aes(ymin = .data$low, ymax = .data$high),
      alpha = 0.2, colour = NA
    ) +
    ggplot2::geom_line(linewidth = 0.7) +
    ggplot2::geom_point(size = 1.8) +
    ggplot2::labs(
      x = "Training documents",
      y = metric_label(metric),
      colour = "Model", fill = "Model",
      caption = if (max(summary$n_seeds) > 1) "Line: mean over seeds; band: range over seeds."
    ) +
    ggplot2::theme_minimal(base_size = 11) +
    ggplot2::theme(legend.position = "bottom")
  attr(p, "provenance") <- new_provenance(
    "learning_curve_plot", match.call(), attr(x, "provenance"),
    metric = metric
  )
  p
}

#' @importFrom rlang .data
NULL
