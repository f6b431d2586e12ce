#' @keywords internal
"_PACKAGE"

# Internal helpers shared by the verbs. Nothing here is exported.

#' Provenance record of one verb call
#'
#' Every result of this package carries one of these as its `provenance`
#' attribute: which verb made it, from what, with which package and R
#' versions, and when. `parent` holds the provenance of the input, so a table
#' can be traced back to the results directory it was made from.
#'
#' @param verb Name of the verb.
#' @param call The matched call.
#' @param parent Provenance of the input object, or `NULL`.
#' @param ... Further named fields.
#' @return A named list.
#' @noRd
new_provenance <- function(verb, call = NULL, parent = NULL, ...) {
  list(
    verb = verb,
    call = if (is.null(call)) NA_character_ else paste(deparse(call), collapse = " "),
    llmcoder_r_version = as.character(utils::packageVersion("llmcoder")),
    r_version = paste(R.version$major, R.version$minor, sep = "."),
    created_utc = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
    parent = parent,
    ...
  )
}

#' Abort unless `x` inherits from `class`, naming the function that makes one
#' @noRd
check_class <- function(x, class, maker, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (!inherits(x, class)) {
    cli::cli_abort(
      c(
        "{.arg {arg}} must be an {.cls {class}} object.",
        "x" = "It is {.obj_type_friendly {x}}.",
        "i" = "Create one with {.fn {maker}}."
      ),
      call = call
    )
  }
  invisible(x)
}

#' Abort unless `x` is an `llmcoder_results` object
#' @noRd
check_results <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  check_class(x, "llmcoder_results", "read_results", arg = arg, call = call)
}

#' Abort unless `file` is an existing file: what is missing, where, and how to make it
#' @noRd
check_file_exists <- function(file, what, hint, call = rlang::caller_env()) {
  if (!file.exists(file) || dir.exists(file)) {
    cli::cli_abort(c(what, "x" = "Not found: {.file {file}}.", "i" = hint), call = call)
  }
  invisible(file)
}

#' Abort when a part of the results is absent or empty
#' @noRd
require_part <- function(x, part, file, call = rlang::caller_env()) {
  tbl <- x[[part]]
  if (is.null(tbl) || nrow(tbl) == 0) {
    cli::cli_abort(
      c(
        "The results have no {part} data.",
        "x" = "The manifest of {.path {x$dir %||% '(unknown)'}} lists no {.file {file}}.",
        "i" = "Run the workflow step that writes it, then call {.fn read_results} again."
      ),
      call = call
    )
  }
  tbl
}

#' Format numbers with a fixed number of decimals; NA becomes ""
#' @noRd
fmt_num <- function(x, digits) {
  out <- formatC(as.numeric(x), format = "f", digits = digits)
  out[is.na(x)] <- ""
  out
}

#' "0.812 [0.790, 0.833]", or "0.812" when the interval is missing
#' @noRd
fmt_ci <- function(estimate, low, high, digits) {
  est <- fmt_num(estimate, digits)
  has_ci <- !is.na(estimate) & !is.na(low) & !is.na(high)
  est[has_ci] <- sprintf(
    "%s [%s, %s]", est[has_ci], fmt_num(low[has_ci], digits), fmt_num(high[has_ci], digits)
  )
  est
}

#' Display names of the metrics and agreement coefficients the Python side writes
#'
#' The names a table prints (a capital first letter); [metric_prose()] gives
#' the ones a sentence uses. Unknown names lose their underscores.
#' @noRd
metric_label <- function(metric) {
  known <- c(
    accuracy = "Accuracy",
    balanced_accuracy = "Balanced accuracy",
    macro_f1 = "Macro-F1",
    micro_f1 = "Micro-F1",
    weighted_f1 = "Weighted F1",
    cohen_kappa = "Cohen's kappa",
    fleiss_kappa = "Fleiss' kappa",
    conger_kappa = "Conger's kappa",
    krippendorff_alpha = "Krippendorff's alpha",
    percent_agreement = "Percent agreement",
    gwet_ac1 = "Gwet's AC1",
    brennan_prediger = "Brennan-Prediger",
    pairwise_kappa_min = "Lowest pairwise Cohen's kappa",
    pairwise_kappa_max = "Highest pairwise Cohen's kappa",
    hamming_loss = "Hamming loss",
    jaccard_samples = "Jaccard (samples)",
    jaccard_gold_docs = "Jaccard (documents with a gold label)",
    hamming_gold_docs = "Hamming loss (documents with a gold label)",
    jaccard_macro = "Jaccard (macro)",
    subset_accuracy = "Subset accuracy",
    any_correct = "Any label correct",
    precision = "Precision",
    recall = "Recall",
    f1 = "F1",
    sensitivity = "Sensitivity",
    specificity = "Specificity",
    support = "Support"
  )
  out <- unname(known[metric])
  miss <- is.na(out)
  out[miss] <- gsub("_", " ", metric[miss], fixed = TRUE)
  out
}

#' The names of metrics inside a sentence: "accuracy", "macro-F1", "Cohen's kappa"
#' @noRd
metric_prose <- function(metric) {
  label <- metric_label(metric)
  proper <- grepl("^(Cohen|Fleiss|Conger|Krippendorff|Gwet|Brennan|Hamming|Jaccard|F1)", label)
  ifelse(proper, label, paste0(tolower(substr(label, 1, 1)), substring(label, 2)))
}

#' Bind data frames that may have different columns (missing ones become NA)
#' @noRd
bind_rows_fill <- function(frames) {
  frames <- Filter(function(d) !is.null(d) && nrow(d) > 0, frames)
  if (length(frames) == 0) {
    return(NULL)
  }
  cols <- unique(unlist(lapply(frames, names)))
  frames <- lapply(frames, function(d) {
    for (col in setdiff(cols, names(d))) {
      d[[col]] <- NA
    }
    as.data.frame(d, stringsAsFactors = FALSE)[cols]
  })
  tibble::as_tibble(do.call(rbind, c(frames, make.row.names = FALSE)))
}

#' Write text to `path` through a temporary file in the same folder
#' @noRd
write_atomic <- function(lines, path) {
  dir.create(dirname(path), recursive = TRUE, showWarnings = FALSE)
  tmp <- tempfile(pattern = paste0(".", basename(path), "."), tmpdir = dirname(path))
  on.exit(if (file.exists(tmp)) unlink(tmp), add = TRUE)
  con <- file(tmp, open = "w", encoding = "UTF-8")
  writeLines(enc2utf8(lines), con, useBytes = TRUE)
  close(con)
  if (!file.rename(tmp, path)) {
    cli::cli_abort("Could not move the written file onto {.path {path}}.")
  }
  invisible(path)
}

`%||%` <- function(x, y) if (is.null(x)) y else x
