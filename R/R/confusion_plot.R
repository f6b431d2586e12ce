#' Plot a confusion matrix as a heat map
#'
#' Gold labels are rows and predicted labels columns; each row is normalised
#' to proportions of that gold label, so the diagonal shows recall. Cells
#' show the proportion and, below it, the count.
#'
#' @param x An `llmcoder_results` object from [read_results()].
#' @param system The system whose confusion matrix to draw. May be omitted
#'   when the results hold exactly one system.
#'
#' @return A `ggplot` object with a `provenance` attribute; save it with
#'   [save_figure()].
#' @seealso [learning_curve_plot()], [save_figure()]
#' @examples
#' \dontrun{
#' confusion_plot(read_results("results/demo"), "gemma3-270m")
#' }
#' @export
confusion_plot <- function(x, system = NULL) {
  check_results(x)
  tbl <- require_part(x, "confusion", "evaluation/<system>/confusion.csv")
  if (identical(x$task, "multi")) {
    cli::cli_abort(c(
      "{.fn confusion_plot} draws single-label confusion matrices.",
      "x" = "These results are multi-label: their confusion counts are gold x predicted label co-occurrences, whose rows are not recall.",
      "i" = "Use {.fn per_class_table} for per-label scores."
    ))
  }
  systems <- unique(tbl$system)
  if (is.null(system)) {
    if (length(systems) != 1) {
      cli::cli_abort(c(
        "{.arg system} is required when the results hold several systems.",
        "i" = "Choose one of {.val {systems}}."
      ))
    }
    system <- systems
  }
  system <- pick_levels(system, systems, "system")
  if (length(system) != 1) {
    cli::cli_abort("{.arg system} must be a single system name.")
  }
  tbl <- as.data.frame(tbl[tbl$system == system, , drop = FALSE], stringsAsFactors = FALSE)
  # Label order: as in per_class.csv (the codebook order) when available, then any others.
  order_ref <- if (!is.null(x$per_class)) x$per_class$label[x$per_class$system == system]
  gold_levels <- unique(c(intersect(order_ref, tbl$gold), unique(tbl$gold)))
  pred_levels <- unique(c(gold_levels, unique(tbl$pred)))
  pred_levels <- pred_levels[pred_levels %in% tbl$pred]
  row_total <- stats::ave(tbl$count, tbl$gold, FUN = sum)
  tbl$share <- ifelse(row_total > 0, tbl$count / row_total, NA_real_)
  tbl$gold <- factor(tbl$gold, levels = rev(gold_levels))
  tbl$pred <- factor(tbl$pred, levels = pred_levels)
  tbl$text <- ifelse(
    tbl$count > 0,
    sprintf("%.2f\n(%s)", tbl$share, format(tbl$count, big.mark = ",", trim = TRUE)),
    ""
  )
  n_labels <- length(gold_levels)
  text_size <- if (n_labels > 12) 1.8 else if (n_labels > 6) 2.5 else 3.2

  p <- ggplot2::ggplot(tbl, ggplot2::aes(x = .data$pred, y = .data$gold, fill = .data$share)) +
    ggplot2::geom_tile(colour = "white") +
    ggplot2::geom_text(
      ggplot2::aes(label = .data$text, colour = .data$share > 0.5),
      size = text_size, lineheight = 0.85, show.legend = FALSE
    ) +
    ggplot2::scale_fill_gradient(
      low = "#f7fbff", high = "#08306b", limits = c(0, 1), na.value = "grey90",
      name = "Share of\ngold row"
    ) +
    ggplot2::scale_colour_manual(values = c(`FALSE` = "black", `TRUE` = "white")) +
    ggplot2::labs(x = "Predicted label", y = "Gold label", title = system) +
    ggplot2::coord_equal() +
    ggplot2::theme_minimal(base_size = 11) +
    ggplot2::theme(
      axis.text.x = ggplot2::element_text(angle = 45, hjust = 1),
      panel.grid = ggplot2::element_blank()
    )
  attr(p, "provenance") <- new_provenance(
    "confusion_plot", match.call(), attr(x, "provenance"),
    system = system
  )
  p
}
