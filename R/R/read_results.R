#' Read a study's results directory
#'
#' Loads what the 'llmcoder' workflow wrote for one study into a single
#' object that the table, figure and methods verbs take. Every part is
#' optional: an absent file leaves its part `NULL`, so a study without a
#' learning curve or a reliability study still reads.
#'
#' Files read, relative to `dir`:
#' \describe{
#'   \item{`evaluation/<system>/metrics.csv`}{`system, metric, estimate,
#'     ci_low, ci_high, n`; one row per headline metric.}
#'   \item{`evaluation/<system>/per_class.csv`}{`system, label, precision,
#'     recall, f1, sensitivity, specificity, support`.}
#'   \item{`evaluation/<system>/confusion.csv`}{single-label: `system, gold,
#'     pred, count`; multi-label: `system, label, tp, fp, fn, tn`.}
#'   \item{`reliability/*.csv` (or `reliability*.csv`)}{agreement between
#'     coders: `comparison, coder_a, coder_b, metric, estimate, ci_low,
#'     ci_high, n`; a `source` column names the file.}
#'   \item{`learning_curve.csv` (or `learning_curve/learning_curve.csv`)}{
#'     `model, train_size, seed, metric, value`.}
#'   \item{`*.json` under `dir`}{provenance records (`provenance.json`,
#'     `metrics.json`, ...), kept as parsed lists keyed by relative path.
#'     The `report/` folder is skipped.}
#' }
#' The `system` column is filled from the folder name when a file lacks it.
#'
#' @param dir Path to the results directory of one study,
#'   e.g. `"results/demo"`.
#'
#' @return An `llmcoder_results` object: a list with
#'   \describe{
#'     \item{`study`}{Study name (the folder name of `dir`).}
#'     \item{`dir`}{Normalised path of `dir`.}
#'     \item{`metrics`, `per_class`, `confusion`, `reliability`,
#'       `learning_curve`}{Tibbles, or `NULL` when absent.}
#'     \item{`task`}{`"single"` or `"multi"` (from the confusion layout or
#'       the metrics records), or `NA`.}
#'     \item{`records`}{Named list of the parsed JSON files.}
#'   }
#'   and a `provenance` attribute (verb, call, files read with their MD5
#'   sums, package and R versions, time).
#'
#' @seealso [metrics_table()], [confusion_plot()], [methods_section()].
#' @examples
#' \dontrun{
#' res <- read_results("results/demo")
#' res
#' metrics_table(res, format = "markdown")
#' }
#' @export
read_results <- function(dir) {
  if (!is.character(dir) || length(dir) != 1 || is.na(dir)) {
    cli::cli_abort(c(
      "{.arg dir} must be a single path.",
      "x" = "It is {.obj_type_friendly {dir}}."
    ))
  }
  if (!dir.exists(dir)) {
    cli::cli_abort(c(
      "The results directory does not exist.",
      "x" = "Not found: {.path {dir}}.",
      "i" = "Run the workflow for this study first, or check the path."
    ))
  }
  dir <- normalizePath(dir, winslash = "/", mustWork = TRUE)
  files <- character()

  eval_dirs <- sort(list.dirs(file.path(dir, "evaluation"), recursive = FALSE))
  read_eval <- function(name, chr, num) {
    frames <- lapply(eval_dirs, function(d) {
      path <- file.path(d, name)
      if (!file.exists(path)) {
        return(NULL)
      }
      files <<- c(files, path)
      tbl <- read_csv_typed(path, chr = chr, num = num)
      if (!"system" %in% names(tbl)) {
        tbl <- cbind(system = rep(basename(d), nrow(tbl)), tbl)
      }
      tbl
    })
    bind_rows_fill(frames)
  }
  metrics <- read_eval(
    "metrics.csv",
    chr = c("system", "metric"), num = c("estimate", "ci_low", "ci_high", "n")
  )
  per_class <- read_eval(
    "per_class.csv",
    chr = c("system", "label"),
    num = c("precision", "recall", "f1", "sensitivity", "specificity", "support")
  )
  confusion <- read_eval(
    "confusion.csv",
    chr = c("system", "gold", "pred", "label"),
    num = c("count", "tp", "fp", "fn", "tn")
  )

  rel_files <- c(
    sort(list.files(file.path(dir, "reliability"), pattern = "\\.csv$", full.names = TRUE)),
    sort(list.files(dir, pattern = "^reliability.*\\.csv$", full.names = TRUE))
  )
  reliability <- bind_rows_fill(lapply(rel_files, function(path) {
    files <<- c(files, path)
    tbl <- read_csv_typed(
      path,
      chr = c("comparison", "coder_a", "coder_b", "metric", "level", "label"),
      num = c("estimate", "ci_low", "ci_high", "n", "n_coders")
    )
    if (!"source" %in% names(tbl)) {
      tbl <- cbind(source = rep(tools::file_path_sans_ext(basename(path)), nrow(tbl)), tbl)
    }
    tbl
  }))

  lc_path <- Filter(file.exists, file.path(dir, c(
    "learning_curve.csv", "learning_curve/learning_curve.csv"
  )))
  learning_curve <- NULL
  if (length(lc_path) > 0) {
    files <- c(files, lc_path[[1]])
    learning_curve <- tibble::as_tibble(read_csv_typed(
      lc_path[[1]],
      chr = c("model", "metric", "system"),
      num = c("train_size", "seed", "value", "estimate")
    ))
  }

  json_files <- sort(list.files(dir, pattern = "\\.json$", recursive = TRUE, full.names = TRUE))
  # The report folder holds this package's own output, not results.
  json_files <- json_files[!startsWith(relative_to(json_files, dir), "report/")]
  records <- lapply(json_files, function(path) {
    tryCatch(
      jsonlite::read_json(path, simplifyVector = TRUE),
      error = function(e) {
        cli::cli_warn(c(
          "Skipped a JSON file that could not be parsed.",
          "x" = "{.path {path}}: {conditionMessage(e)}"
        ))
        NULL
      }
    )
  })
  names(records) <- relative_to(json_files, dir)
  records <- Filter(Negate(is.null), records)
  files <- c(files, json_files)

  new_llmcoder_results(
    list(
      study = basename(dir),
      dir = dir,
      metrics = metrics,
      per_class = per_class,
      confusion = confusion,
      reliability = reliability,
      learning_curve = learning_curve,
      task = infer_task(confusion, records),
      records = records
    ),
    provenance = new_provenance(
      "read_results",
      call = match.call(),
      dir = dir,
      files = stats::setNames(
        unname(as.character(tools::md5sum(files))), relative_to(files, dir)
      )
    )
  )
}

#' Constructor of `llmcoder_results` (no checks; used by read_results and tests)
#' @noRd
new_llmcoder_results <- function(x, provenance = NULL) {
  structure(x, class = "llmcoder_results", provenance = provenance)
}

#' @export
print.llmcoder_results <- function(x, ...) {
  cli::cli_text("{.cls llmcoder_results} for study {.val {x$study}}")
  show <- function(part, what) {
    tbl <- x[[part]]
    if (is.null(tbl)) {
      cli::cli_bullets(c(" " = "{what}: {.emph absent}"))
    } else {
      cli::cli_bullets(c("*" = "{what}: {nrow(tbl)} row{?s}"))
    }
  }
  systems <- unique(x$metrics$system)
  if (length(systems) > 0) {
    cli::cli_bullets(c("*" = "systems: {.val {systems}}"))
  }
  if (!is.na(x$task)) {
    cli::cli_bullets(c("*" = "task: {x$task}-label"))
  }
  show("metrics", "metrics")
  show("per_class", "per-class scores")
  show("confusion", "confusion counts")
  show("reliability", "reliability")
  show("learning_curve", "learning curve")
  cli::cli_bullets(c("*" = "records: {length(x$records)} JSON file{?s}"))
  invisible(x)
}

#' Read a CSV as character, then convert the named numeric columns
#' @noRd
read_csv_typed <- function(path, chr = character(), num = character()) {
  tbl <- tryCatch(
    utils::read.csv(
      path,
      colClasses = "character", na.strings = "", check.names = FALSE,
      encoding = "UTF-8", fileEncoding = "UTF-8"
    ),
    error = function(e) {
      cli::cli_abort(c(
        "Could not read a results file.",
        "x" = "{.path {path}}: {conditionMessage(e)}"
      ))
    }
  )
  for (col in intersect(num, names(tbl))) {
    tbl[[col]] <- suppressWarnings(as.numeric(tbl[[col]]))
  }
  tibble::as_tibble(tbl)
}

#' Paths relative to a root
#' @noRd
relative_to <- function(paths, root) {
  paths <- normalizePath(paths, winslash = "/", mustWork = FALSE)
  sub(paste0("^", gsub("([][{}()+*^$|\\\\?.])", "\\\\\\1", root), "/?"), "", paths)
}

#' Single- or multi-label, from the confusion layout or metrics.json records
#' @noRd
infer_task <- function(confusion, records) {
  if (!is.null(confusion)) {
    if (all(c("gold", "pred") %in% names(confusion))) {
      return("single")
    }
    if (all(c("tp", "fp") %in% names(confusion))) {
      return("multi")
    }
  }
  tasks <- unlist(lapply(records, function(r) if (is.list(r)) r[["task"]]))
  tasks <- intersect(unique(tasks), c("single", "multi"))
  if (length(tasks) == 1) tasks else NA_character_
}
