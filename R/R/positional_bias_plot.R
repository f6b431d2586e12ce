#' Plot positional bias under rotated label orders
#'
#' For each LLM coder coded under two or more label orders
#' (`bias/positional.csv`): the share of its codings that chose the label
#' listed first, with its exact binomial (Clopper-Pearson) 95% interval, against
#' the share expected without positional bias (the base rate, an open
#' diamond), and the p-value of the binomial test recorded by the bias check.
#' A second panel shows the share of documents whose label changed with the
#' order.
#'
#' @param x An `llmcoder_results` object from [read_results()].
#'
#' @return A `ggplot` object with a `provenance` attribute; its data has one
#'   row per coder and measure (`measure`, `share`, `low`, `high`,
#'   `base_rate`, `label`). Save it with [save_figure()].
#' @seealso [learning_curve_plot()], [save_figure()]
#' @examples
#' \dontrun{
#' positional_bias_plot(read_results("results/demo"))
#' }
#' @export
positional_bias_plot <- function(x) {
  check_results(x)
  pos <- x$bias$positional
  if (is.null(pos) || nrow(pos) == 0) {
    cli::cli_abort(c(
      "The results have no positional bias data.",
      "x" = "The manifest of {.path {x$dir %||% '(unknown)'}} lists no {.file bias/positional.csv}.",
      "i" = "Code with two or more label orders ({.field coding.rotations}) and run the bias checks."
    ))
  }
  pos <- as.data.frame(pos, stringsAsFactors = FALSE)
  interval <- function(k, n) {
    if (is.na(k) || is.na(n) || n == 0) {
      return(c(NA_real_, NA_real_))
    }
    stats::binom.test(k, n)$conf.int[1:2]
  }
  first <- t(mapply(interval, pos$first_chosen, pos$n_codings))
  flips <- t(mapply(interval, pos$n_flipped, pos$n_docs))
  d <- rbind(
    data.frame(
      system = pos$system, measure = "First-listed label chosen", share = pos$first_share,
      low = first[, 1], high = first[, 2], base_rate = pos$first_base_rate,
      label = ifelse(is.na(pos$p_value), "", paste0("binomial p = ", formatC(pos$p_value, format = "g", digits = 2))),
      stringsAsFactors = FALSE
    ),
    data.frame(
      system = pos$system, measure = "Label changed with the order", share = pos$flip_rate,
      low = flips[, 1], high = flips[, 2], base_rate = NA_real_,
      label = paste0(pos$n_flipped, " of ", pos$n_docs), stringsAsFactors = FALSE
    )
  )
  d$measure <- factor(d$measure, levels = c("First-listed label chosen", "Label changed with the order"))
  p <- ggplot2::ggplot(d, ggplot2::aes(x = .data$share, y = .data$system)) +
    ggplot2::geom_errorbar(
      ggplot2::aes(xmin = .data$low, xmax = .data$high),
      width = 0.2, orientation = "y", na.rm = TRUE
    ) +
    ggplot2::geom_point(size = 2.2) +
    ggplot2::geom_point(ggplot2::aes(x = .data$base_rate), shape = 5, size = 2.6, colour = "firebrick", na.rm = TRUE) +
    ggplot2::geom_text(ggplot2::aes(label = .data$label), vjust = -1.1, size = 3, colour = "grey25") +
    ggplot2::facet_wrap(~measure, scales = "free_x") +
    ggplot2::scale_x_continuous(labels = function(v) paste0(round(100 * v), "%")) +
    ggplot2::labs(
      x = "Share (exact binomial 95% interval)", y = NULL,
      caption = "Open diamond: share of codings expected to choose the first-listed label without positional bias."
    ) +
    ggplot2::theme_minimal(base_size = 11) +
    ggplot2::theme(plot.caption = ggplot2::element_text(hjust = 0))
  attr(p, "provenance") <- new_provenance("positional_bias_plot", match.call(), attr(x, "provenance"))
  p
}
