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
#'     pred, n` (read as `count`); multi-label: `system, label, tp, fp, fn,
#'     tn`.}
#'   \item{`reliability/*.csv` (or `reliability*.csv`)}{agreement between
#'     coders: `coefficient, estimate, se, ci_low, ci_high, n_units,
#'     n_coders` and optional `comparison, label` (`coefficient` is also
#'     read as `metric`, `n_units` as `n`); a `source` column names the
#'     file.}
#'   \item{`learning_curve.csv` (or `learning_curve/learning_curve.csv`)}{
#'     `model, train_size, train_fraction, seed, metric, value`.}
#'   \item{`verify/ingest/reliability.csv`}{agreement of the human
#'     verifiers (`scope, coefficient, estimate, ...`), read as comparison
#'     `"human verifiers"`.}
#'   \item{`bias/*.csv`}{bias checks: `positional.csv`,
#'     `recall_asymmetry.csv`, `strata.csv`.}
#'   \item{`*.json` under `dir`}{provenance records (`provenance.json`,
#'     `metrics.json`, ...), kept as parsed lists keyed by relative path.
#'     The `report/` folder is skipped.}
#' }
#' The `system` column is filled from the folder name when a file lacks it,
#' and `n` of the metrics from the system's `metrics.json` when
#' `metrics.csv` lacks it.
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
#'     \item{`bias`}{Named list of tibbles (one per `bias/*.csv`), or
#'       `NULL`.}
#'     \item{`task`}{`"single"` or `"multi"` (from the `task` of the
#'       metrics records, else the confusion layout), or `NA`.}
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
  # a staged folder (".<name>.*") left by a killed step is not a system
  eval_dirs <- eval_dirs[!startsWith(basename(eval_dirs), ".")]
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
    num = c("count", "n", "tp", "fp", "fn", "tn")
  )
  if (!is.null(confusion) && "n" %in% names(confusion) && !"count" %in% names(confusion)) {
    names(confusion)[names(confusion) == "n"] <- "count" # the contract's name for the cell count
  }

  rel_files <- c(
    sort(list.files(file.path(dir, "reliability"), pattern = "\\.csv$", full.names = TRUE)),
    sort(list.files(dir, pattern = "^reliability.*\\.csv$", full.names = TRUE)),
    Filter(file.exists, file.path(dir, "verify", "ingest", "reliability.csv"))
  )
  reliability <- bind_rows_fill(lapply(rel_files, function(path) {
    files <<- c(files, path)
    tbl <- read_csv_typed(
      path,
      chr = c(
        "comparison", "coder_a", "coder_b", "coefficient", "metric", "level", "label",
        "scope", "method"
      ),
      num = c("estimate", "se", "ci_low", "ci_high", "n", "n_units", "n_coders")
    )
    # contract names: coefficient, n_units; the verbs use metric, n
    if ("coefficient" %in% names(tbl) && !"metric" %in% names(tbl)) tbl$metric <- tbl$coefficient
    if ("n_units" %in% names(tbl) && !"n" %in% names(tbl)) tbl$n <- tbl$n_units
    # human verification: keep/reject agreement of the human verifiers
    if (basename(dirname(path)) == "ingest" && !"comparison" %in% names(tbl)) {
      tbl$comparison <- rep("human verifiers", nrow(tbl))
    }
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

  bias_files <- sort(list.files(file.path(dir, "bias"), pattern = "\\.csv$", full.names = TRUE))
  bias <- lapply(bias_files, function(path) {
    files <<- c(files, path)
    read_csv_typed(
      path,
      chr = c("system", "label", "metric", "most_confused_as"),
      num = c(
        "n_docs", "n_flipped", "flip_rate", "n_codings", "first_chosen", "first_share",
        "first_base_rate", "first_ratio", "p_value", "support", "predicted", "recall",
        "precision", "recall_gap", "pred_ratio", "n_confused_as", "estimate", "ci_low",
        "ci_high", "n", "overall"
      )
    )
  })
  names(bias) <- tools::file_path_sans_ext(basename(bias_files))
  if (length(bias) == 0) bias <- NULL

  json_files <- sort(list.files(dir, pattern = "\\.json$", recursive = TRUE, full.names = TRUE))
  # The report folder holds this package's own output, not results; model folders hold the
  # models' own files (tokenizer vocabularies, configs), which are not records of the run.
  rel_json <- relative_to(json_files, dir)
  json_files <- json_files[!startsWith(rel_json, "report/") & !grepl("(^|/)model/", rel_json)]
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

  # metrics.csv has no n in the contract: take it from the system's metrics.json
  if (!is.null(metrics) && !"n" %in% names(metrics)) {
    n_of <- vapply(unique(metrics$system), function(sys) {
      rec <- records[[paste0("evaluation/", sys, "/metrics.json")]] %||%
        Filter(function(r) identical(r[["system"]], sys), records)[1][[1]]
      n <- if (is.list(rec)) rec[["n"]]
      if (is.numeric(n) && length(n) == 1) n else NA_real_
    }, numeric(1))
    if (any(!is.na(n_of))) metrics$n <- unname(n_of[metrics$system])
  }

  new_llmcoder_results(
    list(
      study = basename(dir),
      dir = dir,
      metrics = metrics,
      per_class = per_class,
      confusion = confusion,
      reliability = reliability,
      learning_curve = learning_curve,
      bias = bias,
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
  if (!is.null(x$bias)) {
    cli::cli_bullets(c("*" = "bias checks: {.val {names(x$bias)}}"))
  }
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

#' Single- or multi-label, from the metrics.json records, else the confusion layout
#' @noRd
infer_task <- function(confusion, records) {
  tasks <- unlist(lapply(records, function(r) if (is.list(r)) r[["task"]]))
  tasks <- intersect(unique(tasks), c("single", "multi"))
  if (length(tasks) == 1) {
    return(tasks)
  }
  if (!is.null(confusion)) {
    if (all(c("gold", "pred") %in% names(confusion))) {
      return("single")
    }
    if (all(c("tp", "fp") %in% names(confusion))) {
      return("multi")
    }
  }
  NA_character_
}
