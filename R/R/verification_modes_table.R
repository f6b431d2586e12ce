#' Table of the verification modes: rejection against selection, per document
#'
#' Where a study showed a share of each person's documents for selection
#' (`verify.selection_share`: the label chosen from the codebook, no proposal
#' shown) instead of rejection, one row per mode from the ingest summary's
#' `timing$by_mode` (`verify/ingest/summary.json`, written from the browser's
#' `timing.csv`): the documents, seconds per document (median and
#' interquartile range; a document's time runs from when it was shown to its
#' last decision) and the share of documents whose person's own label (kept
#' or chosen) is the gold label, with its Wilson interval.
#'
#' @inheritParams metrics_table
#'
#' @return An `llmcoder_table`.
#' @seealso [verification_table()], [write_table()]
#' @examples
#' \dontrun{
#' verification_modes_table(read_results("results/mystudy"), format = "markdown")
#' }
#' @export
verification_modes_table <- function(x,
                                     format = c("latex", "html", "markdown"),
                                     digits = 3,
                                     caption = NULL,
                                     ...) {
  check_results(x)
  format <- match.arg(format)
  check_digits(digits)
  by <- x$records$verification$timing$by_mode
  if (is.null(by) || length(by) == 0) {
    cli::cli_abort(c(
      "The results have no comparison of verification modes.",
      "i" = "It exists where {.code verify.selection_share} showed documents for selection in the browser."
    ))
  }
  modes <- intersect(c("rejection", "selection"), names(by))
  val <- function(m, key) {
    v <- by[[m]][[key]]
    if (is.null(v)) NA_real_ else as.numeric(v)
  }
  col <- function(key) vapply(modes, val, 1, key = key)
  seconds <- fmt_num(col("median_seconds_per_document"), 1)
  has_iqr <- !is.na(col("q1_seconds_per_document")) & !is.na(col("q3_seconds_per_document"))
  seconds[has_iqr] <- sprintf(
    "%s (%s to %s)", seconds[has_iqr], fmt_num(col("q1_seconds_per_document")[has_iqr], 1),
    fmt_num(col("q3_seconds_per_document")[has_iqr], 1)
  )
  out <- data.frame(
    Mode = c(rejection = "Rejection (proposals kept or rejected)", selection = "Selection (label chosen from the codebook)")[modes],
    Documents = fmt_num(col("n_documents"), 0),
    `Seconds per document` = seconds,
    `Documents with gold` = fmt_num(col("n_gold"), 0),
    `Own label is gold` = fmt_ci(col("agreement_with_gold"), col("agreement_ci_low"), col("agreement_ci_high"), digits),
    stringsAsFactors = FALSE, check.names = FALSE, row.names = NULL
  )
  if (is.null(caption)) {
    caption <- paste0(
      "Verification by rejection and by selection in the browser: seconds per document (median, ",
      "interquartile range in parentheses) and the share of documents whose person's own label is the gold label ",
      "(Wilson interval in brackets)."
    )
  }
  new_llmcoder_table(
    render_kable(out, format, caption, align = c("l", rep("r", ncol(out) - 1)), ...),
    format = format,
    kind = "verification_modes",
    provenance = new_provenance(
      "verification_modes_table", match.call(), attr(x, "provenance"),
      format = format, digits = digits
    )
  )
}
