#' Write a table to a file
#'
#' Writes the text of an `llmcoder_table` (from [metrics_table()],
#' [per_class_table()] or [reliability_table()]) to `path`, through a
#' temporary file in the same folder that is renamed into place, so a failed
#' write never leaves half a table behind.
#'
#' @param tbl An `llmcoder_table`.
#' @param path File to write, e.g. `"report/metrics.tex"`. Folders are
#'   created as needed.
#'
#' @return `path`, invisibly.
#' @seealso [metrics_table()]
#' @examples
#' \dontrun{
#' res <- read_results("results/demo")
#' write_table(metrics_table(res, format = "latex"), "report/metrics.tex")
#' }
#' @export
write_table <- function(tbl, path) {
  if (!inherits(tbl, "llmcoder_table")) {
    cli::cli_abort(c(
      "{.arg tbl} must be an {.cls llmcoder_table}.",
      "x" = "It is {.obj_type_friendly {tbl}}.",
      "i" = "Make one with {.fn metrics_table}, {.fn per_class_table} or {.fn reliability_table}."
    ))
  }
  if (!is.character(path) || length(path) != 1 || is.na(path)) {
    cli::cli_abort("{.arg path} must be a single file path.")
  }
  write_atomic(unclass(tbl)[[1]], path)
}

#' Constructor of `llmcoder_table`: the table text with its format and provenance
#' @noRd
new_llmcoder_table <- function(text, format, kind, provenance = NULL) {
  structure(
    paste(as.character(text), collapse = "\n"),
    class = "llmcoder_table",
    format = format,
    kind = kind,
    provenance = provenance
  )
}

#' @export
print.llmcoder_table <- function(x, ...) {
  cat(unclass(x)[[1]], sep = "\n")
  invisible(x)
}

#' @export
format.llmcoder_table <- function(x, ...) {
  unclass(x)[[1]]
}

#' kable format name for our format names
#' @noRd
kable_format <- function(format) {
  switch(format, latex = "latex", html = "html", markdown = "pipe")
}

#' Render a data frame with knitr::kable (booktabs for LaTeX)
#' @noRd
render_kable <- function(df, format, caption, align = NULL, ...) {
  if (format == "latex" && !is.null(caption)) {
    caption <- escape_latex(caption) # kable escapes the cells, not the caption
  }
  args <- list(
    x = as.data.frame(df, stringsAsFactors = FALSE),
    format = kable_format(format),
    caption = caption,
    align = align,
    row.names = FALSE,
    ...
  )
  if (format == "latex" && is.null(args$booktabs)) {
    args$booktabs <- TRUE
  }
  do.call(knitr::kable, args)
}
