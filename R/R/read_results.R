#' Read a study's results through its manifest
#'
#' Loads what the 'llmcoder' workflow wrote for one study into a single
#' object that the table, figure and methods verbs take. Only the files that
#' the study's `manifest.json` lists are read: the manifest is written at the
#' end of every run (Python's `llmcoder.results.write_manifest()`, contract
#' `pysrc/llmcoder/schemas/results.yaml`), so a folder left in the results
#' directory by an earlier run is never read. Every part is optional: a key
#' the manifest does not list leaves its part `NULL`, so a study without a
#' learning curve or a verification still reads.
#'
#' The manifest names each file by a *key* of the results contract, with its
#' path (relative to the folder holding the manifest), its wildcards
#' (`system`, `coder`, `model`, ...) and its checksums, and carries the
#' contract entry of every key it lists: the columns of a table with their
#' types, the keys of a JSON record. Columns are typed from these entries
#' (`integer`, `number`, `boolean`; the others stay text).
#'
#' Keys read (the other keys, e.g. parquet and xlsx files, are not read):
#' \describe{
#'   \item{`evaluation_metrics`}{`evaluation/<system>/metrics.csv`: part
#'     `metrics`, with `n` added from the system's `evaluation_record`.}
#'   \item{`evaluation_per_class`}{part `per_class`.}
#'   \item{`evaluation_confusion`}{part `confusion` (`n` read as `count`).}
#'   \item{`coders_vs_gold`, `verifier_reliability_csv`, `human_ceiling_csv`}{part
#'     `reliability`: agreement of each LLM coder with gold, of the human
#'     verifiers' decisions (comparison `"human verifiers"`) and of their own
#'     labels (comparison `"human ceiling"`); `coefficient` is also read as
#'     `metric` and `n_units` as `n`, and `source` names the key.}
#'   \item{`learning_curve`}{part `learning_curve`.}
#'   \item{`acceptance_csv`, `workload_csv`}{parts `acceptance` (the share of
#'     each LLM coder's proposals people kept, with a Wilson interval) and
#'     `workload` (per person and round).}
#'   \item{`bias_positional`, `bias_recall_asymmetry`, `bias_strata`,
#'     `bias_routing`}{part `bias`.}
#'   \item{`inference_estimates_csv`}{`inference/estimates.csv`: part
#'     `inference`, the downstream estimates (label shares, overall and per
#'     stratum, and regression coefficients) by method (`naive`, `classical`,
#'     `ppi`, `dsl`) with their 95% confidence intervals; `stratum` and `term`
#'     are `""` (not `NA`) for the whole population and for a share.}
#'   \item{`evaluation_record`, `evaluation_provenance`, `coder_provenance`,
#'     `verification_summary`, `sheets_manifest`, `finetune_record`,
#'     `corpus_predictions_provenance`, `inference_record`, `split_record`}{part
#'     `records`.}
#' }
#'
#' @param path A study's results folder (e.g. `"results/demo"`, read through
#'   its `manifest.json`) or the manifest file itself.
#'
#' @return An `llmcoder_results` object: a list with
#'   \describe{
#'     \item{`study`}{Study name (the manifest's `study`).}
#'     \item{`dir`}{Normalised path of the folder holding the manifest.}
#'     \item{`metrics`, `per_class`, `confusion`, `reliability`,
#'       `learning_curve`, `acceptance`, `workload`, `inference`}{Tibbles, or
#'       `NULL` when the manifest lists none.}
#'     \item{`bias`}{Named list of tibbles (`positional`,
#'       `recall_asymmetry`, `strata`, `routing`, those listed), or `NULL`.}
#'     \item{`task`}{`"single"` or `"multi"` (the `task` of the evaluation
#'       records), or `NA` when there is none.}
#'     \item{`records`}{The parsed JSON records, by kind:
#'       `evaluation[[system]]` (`evaluation_record`),
#'       `evaluation_provenance[[system]]`, `coders[[coder]]`
#'       (`coder_provenance`), `verification` (`verification_summary`),
#'       `sheets` (`sheets_manifest`), `finetune` (one element per
#'       `finetune_record`, named by its path: `path`, `wildcards` and
#'       `record`), `predictions[[model]]`
#'       (`corpus_predictions_provenance`), `inference` (`inference_record`:
#'       the surrogate, population, labelled sample and methods of the
#'       `inference` part), `split` (`split_record`: how the train, dev
#'       and test sets were drawn). A kind not listed is absent.}
#'     \item{`manifest`}{The parsed manifest.}
#'   }
#'   and a `provenance` attribute (verb, call, manifest, files read with
#'   their MD5 sums, package and R versions, time).
#'
#' @section Refusals:
#' `read_results()` stops, naming the file and the fix, when the manifest is
#' missing or unreadable, was written under another results contract or
#' contract version, lists a file that is missing, lists a file it reads
#' whose MD5 differs from the manifest (the file changed after the run), or
#' lists a table that lacks a required column (or a record that lacks a
#' required key) of its contract entry.
#'
#' @seealso [metrics_table()], [confusion_plot()], [inference_table()],
#'   [methods_section()].
#' @examples
#' \dontrun{
#' res <- read_results("results/demo")
#' res
#' metrics_table(res, format = "markdown")
#' }
#' @export
read_results <- function(path) {
  if (!is.character(path) || length(path) != 1 || is.na(path)) {
    cli::cli_abort(c(
      "{.arg path} must be a single path.",
      "x" = "It is {.obj_type_friendly {path}}."
    ))
  }
  manifest_path <- locate_manifest(path)
  manifest <- read_manifest(manifest_path)
  dir <- dirname(manifest_path)
  listed <- manifest_listing(manifest, manifest_path)
  check_listed_exist(listed, dir, manifest_path)
  used <- listed[listed$key %in% results_keys, , drop = FALSE]
  check_listed_md5(used, dir, manifest_path)
  data <- lapply(seq_len(nrow(used)), function(i) {
    read_listed(used[i, , drop = FALSE], manifest, dir, manifest_path)
  })

  new_llmcoder_results(
    c(
      list(study = as.character(manifest$study %||% NA_character_), dir = dir),
      results_parts(used, data),
      list(manifest = manifest)
    ),
    provenance = new_provenance(
      "read_results",
      call = match.call(),
      dir = dir,
      manifest = basename(manifest_path),
      files = stats::setNames(used$md5, used$path)
    )
  )
}

#' Version of the results contract this package reads
#' @noRd
results_contract_version <- 1L

#' The keys of the results contract that read_results() reads
#' @noRd
results_keys <- c(
  "evaluation_metrics", "evaluation_per_class", "evaluation_confusion", "evaluation_record",
  "evaluation_provenance", "coders_vs_gold", "verifier_reliability_csv", "human_ceiling_csv",
  "learning_curve", "acceptance_csv", "workload_csv",
  "bias_positional", "bias_recall_asymmetry", "bias_strata", "bias_routing", "coder_provenance",
  "verification_summary", "sheets_manifest", "finetune_record", "corpus_predictions_provenance",
  "inference_estimates_csv", "inference_record", "split_record"
)

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
  show("inference", "inference estimates")
  if (!is.null(x$bias)) {
    cli::cli_bullets(c("*" = "bias checks: {.val {names(x$bias)}}"))
  }
  kinds <- names(x$records)
  if (length(kinds) > 0) {
    cli::cli_bullets(c("*" = "records: {.val {kinds}}"))
  } else {
    cli::cli_bullets(c(" " = "records: {.emph absent}"))
  }
  n_files <- length(x$manifest$files)
  cli::cli_bullets(c("*" = "manifest: {n_files} file{?s} listed"))
  invisible(x)
}

# --- the manifest ------------------------------------------------------------------------------

#' The manifest file of `path`: `path` itself, or `<path>/manifest.json`
#'
#' Aborts when there is none, naming the file looked for.
#' @noRd
locate_manifest <- function(path, call = rlang::caller_env()) {
  manifest <- if (dir.exists(path) || !grepl("\\.json$", path)) file.path(path, "manifest.json") else path
  check_file_exists(
    manifest, "No results manifest.",
    "Run the workflow for this study first (it writes {.file manifest.json} at the end of every run), or check the path.",
    call = call
  )
  normalizePath(manifest, winslash = "/", mustWork = TRUE)
}

#' Parse a manifest and check its contract and version
#' @noRd
read_manifest <- function(path, call = rlang::caller_env()) {
  doc <- tryCatch(
    jsonlite::read_json(path, simplifyVector = FALSE),
    error = function(e) {
      cli::cli_abort(
        c(
          "Could not read the results manifest.",
          "x" = "{.file {path}}: {conditionMessage(e)}",
          "i" = "Rerun the workflow for this study to rewrite it."
        ),
        call = call
      )
    }
  )
  contract <- if (is.list(doc)) doc$contract
  version <- if (is.list(doc)) doc$contract_version
  if (!identical(contract, "llmcoder-results") ||
    !is.numeric(version) || length(version) != 1 || version != results_contract_version) {
    cli::cli_abort(
      c(
        "The results manifest was written under another results contract.",
        "x" = "{.file {path}} has contract {.val {format(contract %||% 'none')}} version {.val {format(version %||% 'none')}}; this package reads {.val llmcoder-results} version {.val {results_contract_version}}.",
        "i" = "Rerun the workflow with the llmcoder that goes with this R package, or install the R package of the llmcoder that wrote the results."
      ),
      call = call
    )
  }
  if (!is.list(doc$files) || !is.list(doc$entries %||% list())) {
    cli::cli_abort(
      c(
        "The results manifest is malformed.",
        "x" = "{.file {path}} lacks a list of {.field files} or an object of {.field entries}.",
        "i" = "Rerun the workflow for this study to rewrite it."
      ),
      call = call
    )
  }
  doc
}

#' The files a manifest lists, as a data frame: key, path, md5 and a list column of wildcards
#' @noRd
manifest_listing <- function(manifest, manifest_path, call = rlang::caller_env()) {
  ok <- vapply(manifest$files, function(f) {
    is.list(f) && is_string(f$key) && is_string(f$path) && is_string(f$md5) &&
      !grepl("(^|/)\\.\\.(/|$)", f$path) && !startsWith(f$path, "/")
  }, logical(1))
  if (!all(ok)) {
    cli::cli_abort(
      c(
        "The results manifest is malformed.",
        "x" = "{.file {manifest_path}}: file entr{?y/ies} {which(!ok)} lack{?s/} a {.field key}, a relative {.field path} or an {.field md5}.",
        "i" = "Rerun the workflow for this study to rewrite it."
      ),
      call = call
    )
  }
  out <- data.frame(
    key = vapply(manifest$files, function(f) f$key, ""),
    path = vapply(manifest$files, function(f) f$path, ""),
    md5 = vapply(manifest$files, function(f) f$md5, ""),
    stringsAsFactors = FALSE
  )
  out$wildcards <- lapply(manifest$files, function(f) as.list(f$wildcards %||% list()))
  out
}

#' Abort when a listed file is missing
#' @noRd
check_listed_exist <- function(listed, dir, manifest_path, call = rlang::caller_env()) {
  missing <- listed$path[!file.exists(file.path(dir, listed$path))]
  if (length(missing) > 0) {
    cli::cli_abort(
      c(
        "{length(missing)} file{?s} listed in the results manifest {?is/are} missing.",
        "x" = "Missing under {.path {dir}}: {.file {missing}}.",
        "i" = "{.file {manifest_path}} lists {?it/them}; rerun the workflow for this study (or copy the whole results folder)."
      ),
      call = call
    )
  }
}

#' Abort when a listed file's MD5 differs from the manifest's
#' @noRd
check_listed_md5 <- function(listed, dir, manifest_path, call = rlang::caller_env()) {
  if (nrow(listed) == 0) {
    return(invisible())
  }
  now <- unname(as.character(tools::md5sum(file.path(dir, listed$path))))
  changed <- listed$path[now != tolower(listed$md5)]
  if (length(changed) > 0) {
    cli::cli_abort(
      c(
        "{length(changed)} results file{?s} changed since the manifest was written.",
        "x" = "MD5 differs from {.file {manifest_path}}: {.file {file.path(dir, changed)}}.",
        "i" = "Rerun the workflow for this study; it rewrites the files and the manifest."
      ),
      call = call
    )
  }
}

# --- one listed file ---------------------------------------------------------------------------

#' Read one listed file by the format of its contract entry
#' @noRd
read_listed <- function(row, manifest, dir, manifest_path, call = rlang::caller_env()) {
  entry <- manifest$entries[[row$key]]
  file <- file.path(dir, row$path)
  if (!is.list(entry)) {
    cli::cli_abort(
      c(
        "The results manifest lacks the contract entry of a file it lists.",
        "x" = "{.file {manifest_path}} lists {.file {row$path}} under key {.field {row$key}}, but its {.field entries} have no {.field {row$key}}.",
        "i" = "Rerun the workflow for this study to rewrite the manifest."
      ),
      call = call
    )
  }
  switch(entry$format %||% "",
    csv = read_contract_csv(file, entry, row$key, call = call),
    json = read_contract_json(file, entry, row$key, call = call),
    cli::cli_abort(
      c(
        "A results file has a format this package does not read.",
        "x" = "{.file {file}} ({.field {row$key}}) is {.val {entry$format %||% 'unknown'}} in {.file {manifest_path}}.",
        "i" = "Install the R package of the llmcoder that wrote the results."
      ),
      call = call
    )
  )
}

#' Read a CSV of the contract: check its required columns and type them by its entry
#' @noRd
read_contract_csv <- function(file, entry, key, call = rlang::caller_env()) {
  tbl <- tryCatch(
    utils::read.csv(
      file,
      colClasses = "character", na.strings = "", check.names = FALSE,
      encoding = "UTF-8", fileEncoding = "UTF-8"
    ),
    error = function(e) {
      cli::cli_abort(
        c(
          "Could not read a results file.",
          "x" = "{.file {file}}: {conditionMessage(e)}",
          "i" = "Rerun the workflow for this study."
        ),
        call = call
      )
    }
  )
  columns <- entry$columns %||% list()
  check_required(names(tbl), columns, file, key, "column", call = call)
  for (col in intersect(names(columns), names(tbl))) {
    tbl[[col]] <- convert_column(tbl[[col]], columns[[col]]$type %||% "any", file, col, call = call)
  }
  tibble::as_tibble(tbl)
}

#' Read a JSON record of the contract and check its required keys
#' @noRd
read_contract_json <- function(file, entry, key, call = rlang::caller_env()) {
  doc <- tryCatch(
    jsonlite::read_json(file, simplifyVector = TRUE, simplifyDataFrame = FALSE, simplifyMatrix = FALSE),
    error = function(e) {
      cli::cli_abort(
        c(
          "Could not read a results file.",
          "x" = "{.file {file}}: {conditionMessage(e)}",
          "i" = "Rerun the workflow for this study."
        ),
        call = call
      )
    }
  )
  if (!is.list(doc) || (length(doc) > 0 && is.null(names(doc)))) {
    cli::cli_abort(
      c(
        "A results record is not a JSON object.",
        "x" = "{.file {file}} ({.field {key}}).",
        "i" = "Rerun the workflow for this study."
      ),
      call = call
    )
  }
  check_required(names(doc), entry$keys %||% list(), file, key, "key", call = call)
  doc
}

#' Abort when the required columns (or keys) of an entry are absent
#' @noRd
check_required <- function(present, fields, file, key, what, call = rlang::caller_env()) {
  required <- names(fields)[vapply(fields, function(f) !isFALSE(f$required), logical(1))]
  missing <- setdiff(required, present)
  if (length(missing) > 0) {
    cli::cli_abort(
      c(
        "A results file lacks {cli::qty(length(missing))}{what}{?s} that the results contract requires.",
        "x" = "{.file {file}} ({.field {key}}) has no {.field {missing}}.",
        "i" = "The file does not follow the manifest's entry for {.field {key}}; rerun the workflow with the llmcoder that goes with this R package."
      ),
      call = call
    )
  }
}

#' Convert a column read as text to the type of its contract entry
#'
#' `integer`, `number` and `boolean` are converted (a cell that does not
#' parse aborts, naming the file and column); `string`, `list`, `object` and
#' `any` stay text. Empty cells are `NA`.
#' @noRd
convert_column <- function(values, type, file, column, call = rlang::caller_env()) {
  if (!type %in% c("integer", "number", "boolean")) {
    return(values)
  }
  given <- !is.na(values)
  if (type == "boolean") {
    out <- c(true = TRUE, false = FALSE)[tolower(values)]
    bad <- given & is.na(out)
    out <- unname(out)
  } else {
    out <- suppressWarnings(as.numeric(values))
    bad <- given & is.na(out) & !is.nan(out) # "NaN" (an undefined ratio, as polars writes it) is a number
    if (type == "integer") {
      bad <- bad | (given & is.finite(out) & out != round(out))
      if (!any(bad) && all(abs(out[given]) <= .Machine$integer.max)) out <- as.integer(out)
    }
  }
  if (any(bad)) {
    cli::cli_abort(
      c(
        "A results file has a column of the wrong type.",
        "x" = "{.file {file}}: column {.field {column}} should be {type}, but has {.val {utils::head(values[bad], 3)}}.",
        "i" = "Rerun the workflow with the llmcoder that goes with this R package."
      ),
      call = call
    )
  }
  out
}

# --- the parts ---------------------------------------------------------------------------------

#' The parts of the results from the files read (`used`, the listing; `data`, their contents)
#' @noRd
results_parts <- function(used, data) {
  of_key <- function(key) data[used$key == key]
  table_of <- function(key) bind_rows_fill(of_key(key))
  records <- results_records(used, data)
  metrics <- table_of("evaluation_metrics")
  if (!is.null(metrics)) {
    # metrics.csv has no n: the test documents scored are in the system's evaluation record
    n_of <- vapply(records$evaluation, function(r) as.integer(r$n %||% NA), integer(1))
    metrics$n <- unname(n_of[metrics$system])
  }
  confusion <- table_of("evaluation_confusion")
  if (!is.null(confusion)) {
    names(confusion)[names(confusion) == "n"] <- "count"
  }
  bias <- Filter(Negate(is.null), list(
    positional = table_of("bias_positional"),
    recall_asymmetry = table_of("bias_recall_asymmetry"),
    strata = table_of("bias_strata"),
    routing = table_of("bias_routing")
  ))
  list(
    metrics = metrics,
    per_class = table_of("evaluation_per_class"),
    confusion = confusion,
    reliability = results_reliability(
      table_of("coders_vs_gold"), table_of("verifier_reliability_csv"), table_of("human_ceiling_csv")
    ),
    learning_curve = table_of("learning_curve"),
    acceptance = table_of("acceptance_csv"),
    workload = table_of("workload_csv"),
    inference = results_inference(table_of("inference_estimates_csv")),
    bias = if (length(bias) > 0) bias,
    task = results_task(records$evaluation),
    records = records
  )
}

#' The records part: the JSON records by kind, named by their wildcards
#' @noRd
results_records <- function(used, data) {
  by_wildcard <- function(key, wildcard) {
    hit <- used$key == key
    if (!any(hit)) {
      return(NULL)
    }
    values <- vapply(used$wildcards[hit], function(w) as.character(w[[wildcard]] %||% NA), "")
    stats::setNames(data[hit], values)
  }
  single <- function(key) {
    hit <- which(used$key == key)
    if (length(hit) == 0) NULL else data[[hit[[1]]]]
  }
  finetune <- NULL
  ft <- used$key == "finetune_record"
  if (any(ft)) {
    finetune <- Map(
      function(path, wildcards, record) list(path = path, wildcards = wildcards, record = record),
      used$path[ft], used$wildcards[ft], data[ft]
    )
    names(finetune) <- used$path[ft]
  }
  out <- list(
    evaluation = by_wildcard("evaluation_record", "system"),
    evaluation_provenance = by_wildcard("evaluation_provenance", "system"),
    coders = by_wildcard("coder_provenance", "coder"),
    verification = single("verification_summary"),
    sheets = single("sheets_manifest"),
    finetune = finetune,
    predictions = by_wildcard("corpus_predictions_provenance", "model"),
    inference = single("inference_record"),
    split = single("split_record")
  )
  Filter(Negate(is.null), out)
}

#' The reliability part: coders vs gold, the human verifiers, the human ceiling
#' @noRd
results_reliability <- function(coders, verifiers, ceiling = NULL) {
  if (!is.null(coders)) {
    coders$source <- rep("coders_vs_gold", nrow(coders))
  }
  if (!is.null(verifiers)) {
    verifiers$comparison <- rep("human verifiers", nrow(verifiers))
    verifiers$source <- rep("verifier_reliability_csv", nrow(verifiers))
  }
  if (!is.null(ceiling)) {
    ceiling$comparison <- rep("human ceiling", nrow(ceiling))
    ceiling$source <- rep("human_ceiling_csv", nrow(ceiling))
  }
  rel <- bind_rows_fill(list(coders, verifiers, ceiling))
  if (is.null(rel)) {
    return(NULL)
  }
  # the verbs' names: metric for the coefficient, n for the units
  rel$metric <- rel$coefficient
  rel$n <- rel$n_units
  first <- intersect(c("source", "comparison", "scope"), names(rel))
  rel[c(first, setdiff(names(rel), first))]
}

#' The inference part: the estimates, with `stratum` and `term` `""` where the file has them empty
#'
#' The CSV reader reads an empty cell as `NA`; in `inference/estimates.csv` an empty `stratum` is the
#' whole population and an empty `term` a share (the contract's values), so they are kept as `""`.
#' @noRd
results_inference <- function(est) {
  if (is.null(est)) {
    return(NULL)
  }
  for (col in intersect(c("stratum", "term"), names(est))) {
    est[[col]][is.na(est[[col]])] <- ""
  }
  est
}

#' Single- or multi-label, from the task of the evaluation records; NA when none
#' @noRd
results_task <- function(evaluation) {
  tasks <- unique(unlist(lapply(evaluation, function(r) r$task)))
  tasks <- intersect(tasks, c("single", "multi"))
  if (length(tasks) == 1) tasks else NA_character_
}

#' Whether `x` is one non-missing string
#' @noRd
is_string <- function(x) {
  is.character(x) && length(x) == 1 && !is.na(x)
}
