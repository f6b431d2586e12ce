#' Table of per-class precision, recall and F1
#'
#' One row per label (and system): precision, recall, F1, specificity and
#' support (the number of gold-standard documents with the label) and, when
#' recorded, the number of documents the system gave the label.
#'
#' @inheritParams metrics_table
#' @param systems Systems to show, in order. `NULL` shows all; with more than
#'   one system a `System` column comes first.
#'
#' @return An `llmcoder_table`.
#' @seealso [metrics_table()], [write_table()]
#' @examples
#' \dontrun{
#' per_class_table(read_results("results/demo"), format = "html")
#' }
#' @export
per_class_table <- function(x,
                            format = c("latex", "html", "markdown"),
                            digits = 3,
                            systems = NULL,
                            caption = NULL,
                            ...) {
  check_results(x)
  format <- match.arg(format)
  check_digits(digits)
  tbl <- require_part(x, "per_class", "evaluation/<system>/per_class.csv")
  systems <- pick_levels(systems, unique(tbl$system), "systems")
  tbl <- tbl[tbl$system %in% systems, , drop = FALSE]
  tbl <- tbl[order(match(tbl$system, systems)), , drop = FALSE]

  out <- data.frame(Label = tbl$label, stringsAsFactors = FALSE, check.names = FALSE)
  if (length(systems) > 1) {
    out <- cbind(data.frame(System = tbl$system, stringsAsFactors = FALSE), out)
  }
  for (col in intersect(c("precision", "recall", "f1", "specificity"), names(tbl))) {
    out[[metric_label(col)]] <- fmt_num(tbl[[col]], digits)
  }
  if ("support" %in% names(tbl)) {
    out$Support <- fmt_num(tbl$support, 0)
  }
  if ("predicted" %in% names(tbl)) {
    out$Predicted <- fmt_num(tbl$predicted, 0)
  }
  if (is.null(caption)) {
    caption <- if (length(systems) == 1) {
      paste0("Per-class scores of ", systems, " on the gold standard.")
    } else {
      "Per-class scores of each system on the gold standard."
    }
  }
  n_text <- ncol(out) - sum(!names(out) %in% c("System", "Label"))
  new_llmcoder_table(
    render_kable(out, format, caption, align = c(rep("l", n_text), rep("r", ncol(out) - n_text)), ...),
    format = format,
    kind = "per_class",
    provenance = new_provenance(
      "per_class_table", match.call(), attr(x, "provenance"),
      format = format, digits = digits
    )
  )
}
