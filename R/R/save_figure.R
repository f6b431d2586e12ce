#' Save a figure as PDF and PNG
#'
#' Writes `<path>.pdf` (vector, for the paper) and `<path>.png` (raster, for
#' the web and slides) with devices that work without a display: Cairo when R
#' has it, else the standard devices.
#'
#' @param p A `ggplot` object, e.g. from [confusion_plot()].
#' @param path File path without extension, e.g. `"report/confusion_gemma"`.
#'   Folders are created as needed.
#' @param width,height Size in inches.
#' @param dpi Resolution of the PNG.
#'
#' @return The two paths written, invisibly.
#' @seealso [confusion_plot()], [learning_curve_plot()]
#' @examples
#' \dontrun{
#' res <- read_results("results/demo")
#' save_figure(learning_curve_plot(res), "report/learning_curve")
#' }
#' @export
save_figure <- function(p, path, width = 6, height = 4.5, dpi = 300) {
  if (!inherits(p, "ggplot")) {
    cli::cli_abort(c(
      "{.arg p} must be a {.cls ggplot} object.",
      "x" = "It is {.obj_type_friendly {p}}."
    ))
  }
  if (!is.character(path) || length(path) != 1 || is.na(path)) {
    cli::cli_abort("{.arg path} must be a single file path without extension.")
  }
  path <- sub("\\.(pdf|png)$", "", path, ignore.case = TRUE)
  dir.create(dirname(path), recursive = TRUE, showWarnings = FALSE)
  cairo <- isTRUE(capabilities("cairo"))
  out <- paste0(path, c(".pdf", ".png"))

  draw <- function(target, open) {
    tmp <- tempfile(
      pattern = paste0(".", basename(target), "."), tmpdir = dirname(target),
      fileext = paste0(".", tools::file_ext(target))
    )
    on.exit(if (file.exists(tmp)) unlink(tmp), add = TRUE)
    open(tmp)
    ok <- FALSE
    tryCatch(
      {
        print(p)
        ok <- TRUE
      },
      finally = grDevices::dev.off()
    )
    if (ok && !file.rename(tmp, target)) {
      cli::cli_abort("Could not move the figure onto {.path {target}}.")
    }
  }
  draw(out[[1]], function(f) {
    if (cairo) {
      grDevices::cairo_pdf(f, width = width, height = height)
    } else {
      grDevices::pdf(f, width = width, height = height, useDingbats = FALSE)
    }
  })
  draw(out[[2]], function(f) {
    if (cairo) {
      grDevices::png(f, width = width, height = height, units = "in", res = dpi, type = "cairo")
    } else {
      grDevices::png(f, width = width, height = height, units = "in", res = dpi)
    }
  })
  invisible(out)
}
