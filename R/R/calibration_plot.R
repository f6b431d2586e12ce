#' Calibration of a coder's probabilities: bins and expected calibration error
#'
#' Sorts a coder's test-set predictions into equal-width bins of confidence
#' and compares, in each bin, the mean confidence with the share correct.
#' The expected calibration error (ECE) is the mean absolute gap over bins,
#' weighted by the predictions in each: \eqn{\sum_b (n_b / N) |acc_b - conf_b|}.
#'
#' The predictions are per document: for a single-label coder the
#' probability of the label it gave (`confidence`) and whether that label is
#' the gold one (`correct`); for a multi-label coder one row per document and
#' label, with the probability of the label and whether it applies in gold.
#' The report (Python's `llmcoder.report.build_report()`) writes them to
#' `report/calibration.csv` from the coders' and models' probability files.
#'
#' @param data A data frame with `system`, `confidence` (0 to 1) and
#'   `correct` (logical, or 0/1), and optionally `kind` (`"top label"` or
#'   `"per label"`), or the path of a CSV file with these columns.
#' @param bins Number of equal-width bins over \[0, 1\].
#'
#' @return A tibble with one row per system and non-empty bin: `system`,
#'   `bin`, `low`, `high` (the bin's edges), `n`, `confidence` (mean),
#'   `accuracy` (share correct), `gap`; its `ece` attribute is a named
#'   vector of the ECE of each system.
#' @seealso [calibration_plot()]
#' @examples
#' \dontrun{
#' calibration_bins("results/demo/report/calibration.csv")
#' }
#' @export
calibration_bins <- function(data, bins = 10) {
  data <- check_calibration_data(data)
  if (!is.numeric(bins) || length(bins) != 1 || is.na(bins) || bins < 1 || bins != round(bins)) {
    cli::cli_abort(c("{.arg bins} must be one positive whole number.", "x" = "It is {.val {bins}}."))
  }
  edges <- seq(0, 1, length.out = bins + 1)
  # a confidence of exactly 1 belongs to the last bin; every other bin is [low, high)
  data$bin <- pmin(findInterval(data$confidence, edges, rightmost.closed = TRUE), bins)
  groups <- split(data, list(data$system, data$bin), drop = TRUE)
  out <- do.call(rbind, lapply(groups, function(g) {
    data.frame(
      system = g$system[[1]], kind = g$kind[[1]], bin = g$bin[[1]],
      low = edges[[g$bin[[1]]]], high = edges[[g$bin[[1]] + 1]], n = nrow(g),
      confidence = mean(g$confidence), accuracy = mean(g$correct),
      stringsAsFactors = FALSE
    )
  }))
  out <- out[order(match(out$system, unique(data$system)), out$bin), , drop = FALSE]
  out$gap <- out$accuracy - out$confidence
  rownames(out) <- NULL
  ece <- vapply(unique(data$system), function(s) {
    b <- out[out$system == s, , drop = FALSE]
    sum(b$n / sum(b$n) * abs(b$gap))
  }, numeric(1))
  structure(tibble::as_tibble(out), ece = ece)
}

#' Plot a calibration (reliability) diagram with its expected calibration error
#'
#' One panel per system: the share correct against the mean confidence in
#' each of `bins` equal-width bins (points sized by the number of
#' predictions), the diagonal of perfect calibration, and the expected
#' calibration error in the panel's title (see [calibration_bins()]).
#'
#' @inheritParams calibration_bins
#'
#' @return A `ggplot` object whose data are the bins, with `ece` and
#'   `provenance` attributes; save it with [save_figure()].
#' @seealso [calibration_bins()], [save_figure()]
#' @examples
#' \dontrun{
#' calibration_plot("results/demo/report/calibration.csv")
#' }
#' @export
calibration_plot <- function(data, bins = 10) {
  b <- calibration_bins(data, bins)
  ece <- attr(b, "ece")
  titles <- paste0(b$system, "\nECE = ", formatC(ece[b$system], format = "f", digits = 3))
  b$panel <- factor(titles, levels = unique(titles))
  kinds <- unique(b$kind)
  p <- ggplot2::ggplot(b, ggplot2::aes(x = .data$confidence, y = .data$accuracy)) +
    ggplot2::geom_abline(slope = 1, intercept = 0, linetype = "dashed", colour = "grey50") +
    ggplot2::geom_segment(
      ggplot2::aes(xend = .data$confidence, yend = .data$confidence),
      colour = "firebrick", alpha = 0.6
    ) +
    ggplot2::geom_line(colour = "grey20") +
    ggplot2::geom_point(ggplot2::aes(size = .data$n), colour = "grey20") +
    ggplot2::facet_wrap(~panel, ncol = min(3, length(ece))) +
    ggplot2::coord_equal(xlim = c(0, 1), ylim = c(0, 1)) +
    ggplot2::scale_size_area(max_size = 4, name = "Predictions") +
    ggplot2::labs(
      x = "Mean confidence in bin", y = "Share correct",
      caption = paste(strwrap(paste0(
        "Confidence: the probability of ", if (identical(kinds, "per label")) "each label (multi-label)" else "the label given",
        "; ", bins, " equal-width bins; red: gap to perfect calibration. ",
        "ECE: the mean gap, weighted by the predictions in each bin."
      ), 90), collapse = "\n")
    ) +
    ggplot2::theme_minimal(base_size = 10) +
    ggplot2::theme(legend.position = "bottom", plot.caption = ggplot2::element_text(hjust = 0))
  attr(p, "ece") <- ece
  attr(p, "provenance") <- new_provenance("calibration_plot", match.call(), NULL, bins = bins, ece = as.list(ece))
  p
}

#' Read and check calibration data: system, confidence in [0, 1], correct
#' @noRd
check_calibration_data <- function(data, call = rlang::caller_env()) {
  file <- NULL
  if (is.character(data) && length(data) == 1) {
    file <- data
    check_file_exists(
      file, "No calibration data.",
      "The report writes it ({.file report/calibration.csv}) when the coders' probabilities are in the results.",
      call = call
    )
    data <- utils::read.csv(file, stringsAsFactors = FALSE, check.names = FALSE, encoding = "UTF-8")
  }
  where <- if (is.null(file)) "{.arg data}" else paste0("{.file ", file, "}")
  if (!is.data.frame(data)) {
    cli::cli_abort(
      c("{.arg data} must be a data frame or the path of a CSV file.", "x" = "It is {.obj_type_friendly {data}}."),
      call = call
    )
  }
  missing <- setdiff(c("system", "confidence", "correct"), names(data))
  if (length(missing) > 0) {
    cli::cli_abort(
      c(
        paste0("The calibration data in ", where, " lack column{?s} {.field {missing}}."),
        "i" = "Give one row per prediction with {.field system}, {.field confidence} and {.field correct}."
      ),
      call = call
    )
  }
  data <- as.data.frame(data, stringsAsFactors = FALSE)
  data$system <- as.character(data$system)
  correct <- data$correct
  if (is.character(correct)) correct <- c(true = TRUE, false = FALSE, `1` = TRUE, `0` = FALSE)[tolower(correct)]
  data$correct <- as.numeric(as.logical(correct))
  data$confidence <- suppressWarnings(as.numeric(data$confidence))
  bad <- is.na(data$confidence) | data$confidence < 0 | data$confidence > 1 | is.na(data$correct)
  if (any(bad)) {
    cli::cli_abort(
      c(
        paste0("The calibration data in ", where, " have invalid rows."),
        "x" = "Row{?s} {utils::head(which(bad), 5)}: {.field confidence} must be a number from 0 to 1 and {.field correct} true or false.",
        "i" = "Rebuild the report, or fix the rows."
      ),
      call = call
    )
  }
  if (nrow(data) == 0) {
    cli::cli_abort(paste0("The calibration data in ", where, " have no rows."), call = call)
  }
  data$kind <- if ("kind" %in% names(data)) as.character(data$kind) else "top label"
  data
}
