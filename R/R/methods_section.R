#' Write a methods section from the recorded results
#'
#' Writes the methods section of a study as a journal prints it, from its
#' results files and provenance records only, in the order of the workflow.
#' Every number in it is read from a named field of `x` (see
#' [read_results()]) and recorded with its source: [methods_sources()] lists
#' them and [write_methods()] saves them beside the text, so each number can
#' be followed back to its file, key and row. A sentence whose facts are not
#' recorded is left out rather than guessed.
#'
#' Paragraphs, each written only when its facts are present, and the fields
#' they read:
#' \describe{
#'   \item{`corpus`}{Corpus and samples: the corpus size
#'     (`records$predictions[[model]]$n_docs` of a prediction of the whole
#'     corpus), the documents each LLM coder coded (`records$coders[[coder]]$n_docs`),
#'     the training, development and test documents of the fine-tuned models
#'     (`n_train`, `n_dev`, `n_test` of the full-size `records$finetune`).}
#'   \item{`codebook`}{Name, labels, task and SHA-256 of the codebook
#'     (`records$coders[[coder]]$codebook`; else the `labels` of an evaluation
#'     record and the task of the results).}
#'   \item{`coders`}{Each LLM coder: model, weights hash or revision, prompt
#'     template hash (the template itself in an appendix), few-shot examples,
#'     how labels were scored (`prompts[["0"]]$mode`, contextual calibration),
#'     temperature, document truncation, label orders (`rotations`), and how
#'     often its label changed under a rotated order (`bias$positional`).}
#'   \item{`verification`}{Human verification (`records$verification`,
#'     `records$sheets$settings`): who, the proposals shown per document and
#'     how often they held the gold label, overlap, the verifiers' agreement
#'     (`verify/ingest/reliability.csv`, all labels), adjudication, the share
#'     of each LLM coder's proposals kept with its Wilson interval
#'     (`acceptance`), the documents that received a verified label, the human ceiling
#'     (`verify/ingest/human_ceiling.csv`), sheets with no rejection and
#'     sheets not returned.}
#'   \item{`finetune`}{Each fine-tuned model: kind, base model, epochs,
#'     learning rate and class weights (when its record has a `config`),
#'     training sizes and seeds, the learning curve of the main metric
#'     against the zero-shot LLM coders, and which job coded the corpus.}
#'   \item{`validation`}{The main metrics with confidence intervals of the
#'     final (fine-tuned) model and of the LLM coders (`metrics`), the
#'     interval level and resamples, one sentence against the human ceiling
#'     (Cohen's kappa), and the range of per-class F1 of the final model.}
#'   \item{`bias`}{Only what a test or an interval supports: the binomial
#'     test of positional bias, the labels whose recall gap interval excludes zero
#'     (when `bias$recall_asymmetry` has `ci_low`, `ci_high`), and strata
#'     whose accuracy or kappa interval lies entirely below the overall
#'     estimate (macro-F1 is left out: a stratum lacking a class lowers it
#'     without any coder being worse).}
#'   \item{`routing`}{The share of the corpus routed to people, and by what
#'     (`records$predictions[[model]]`).}
#'   \item{`findings`}{Downstream inference (`inference`,
#'     `records$inference`): the surrogate whose labels were corrected, the
#'     population and its size, how the labelled sample was drawn (design,
#'     size, known inclusion probabilities, where its labels came from), the
#'     estimands and estimators (naive, classical, PPI++, DSL), and the
#'     headline: each non-intercept regression coefficient (with one decimal
#'     more than `digits`) or, without a regression, each label's overall
#'     share, by the naive, PPI++ and DSL estimators with their intervals, and
#'     the terms whose naive interval excludes a corrected estimate (only
#'     those).}
#'   \item{`limitations`}{What was simulated, and coders scored on part of the
#'     test split.}
#'   \item{`software`}{The llmcoder version and git revision of the evaluation.}
#' }
#' An appendix gives each LLM coder's system message and prompt template.
#'
#' @param x An `llmcoder_results` object from [read_results()].
#' @param format `"markdown"` or `"latex"`.
#' @param digits Decimals of the reported statistics.
#' @param metrics Metrics to report for each system, in order. `NULL`
#'   reports accuracy, macro-F1 and Cohen's kappa (single-label) or the
#'   metrics with confidence intervals (multi-label).
#' @param heading Whether to start with a "Methods" heading.
#' @param appendix Whether to end with the prompt templates.
#'
#' @return An `llmcoder_methods` object: the text (one string), with
#'   `format`, `facts` (the values used, by paragraph and name), `sources`
#'   (see [methods_sources()]) and `provenance` attributes. Print it, or save
#'   it with [write_methods()].
#' @seealso [read_results()], [methods_sources()], [write_methods()],
#'   [metrics_table()]
#' @examples
#' \dontrun{
#' m <- methods_section(read_results("results/demo"))
#' m
#' write_methods(m, "report/methods.md")
#' }
#' @export
methods_section <- function(x,
                            format = c("markdown", "latex"),
                            digits = 2,
                            metrics = NULL,
                            heading = TRUE,
                            appendix = TRUE) {
  check_results(x)
  format <- match.arg(format)
  check_digits(digits)
  led <- new_ledger(x)
  st <- ledger_style(led, format, digits)
  writers <- list(
    corpus = methods_corpus,
    codebook = methods_codebook,
    coders = methods_coders,
    verification = methods_verification,
    finetune = methods_finetune,
    validation = function(x, st) methods_validation(x, st, metrics),
    bias = methods_bias,
    routing = methods_routing,
    findings = methods_findings,
    limitations = methods_limitations,
    software = methods_software
  )
  titles <- c(
    corpus = "Corpus and samples", codebook = "Codebook", coders = "LLM coders",
    verification = "Human verification", finetune = "Fine-tuning", validation = "Validation",
    bias = "Bias checks", routing = "Routing", findings = "Findings", limitations = "Limitations",
    software = "Software"
  )
  paras <- list()
  for (name in names(writers)) {
    led$paragraph <- name
    text <- writers[[name]](x, st)
    if (!is.null(text)) paras[[name]] <- paste0(run_in(titles[[name]], format), text)
  }
  led$paragraph <- "appendix"
  extra <- if (isTRUE(appendix)) methods_appendix(x, st)

  head <- if (isTRUE(heading)) {
    if (format == "latex") "\\section*{Methods}" else "## Methods"
  }
  text <- paste(c(head, unlist(paras), extra), collapse = "\n\n")
  structure(
    text,
    class = "llmcoder_methods",
    format = format,
    facts = stats::setNames(lapply(names(paras), function(p) ledger_facts(led, p)), names(paras)),
    sources = list(
      study = x$study,
      numbers = Filter(function(e) e$paragraph %in% names(paras), led$entries)
    ),
    provenance = new_provenance(
      "methods_section", match.call(), attr(x, "provenance"),
      format = format, digits = digits, paragraphs = names(paras)
    )
  )
}

#' @export
print.llmcoder_methods <- function(x, ...) {
  cat(unclass(x)[[1]], sep = "\n")
  invisible(x)
}

#' @export
format.llmcoder_methods <- function(x, ...) {
  unclass(x)[[1]]
}

#' The sources of the numbers in a methods section
#'
#' One row per number (or recorded name or hash) that [methods_section()]
#' wrote, and per results field it was read from: a value derived from
#' several fields (a mean over seeds, a share) has one row per field and
#' says how it was derived.
#'
#' @param m An `llmcoder_methods` object.
#' @return A tibble with `paragraph`, `name`, `text` (as printed), `value`,
#'   `how` (for a derived value), `file` (relative to the results folder),
#'   `key` (of the results contract), `field` (a JSON pointer into a record,
#'   RFC 6901 with 0-based indices, or a CSV column) and `row` (for a CSV:
#'   the column values that select the row, as JSON).
#' @seealso [write_methods()]
#' @examples
#' \dontrun{
#' methods_sources(methods_section(read_results("results/demo")))
#' }
#' @export
methods_sources <- function(m) {
  check_methods(m)
  rows <- lapply(attr(m, "sources")$numbers, function(e) {
    lapply(e$sources, function(s) {
      tibble::tibble(
        paragraph = e$paragraph, name = e$name, text = e$text, value = format(e$value, digits = 15),
        how = e$how %||% NA_character_, file = s$file, key = s$key, field = s$field,
        row = if (is.null(s$row)) NA_character_ else as.character(jsonlite::toJSON(s$row, auto_unbox = TRUE))
      )
    })
  })
  bind_rows_fill(unlist(rows, recursive = FALSE)) %||% tibble::tibble(
    paragraph = character(), name = character(), text = character(), value = character(),
    how = character(), file = character(), key = character(), field = character(), row = character()
  )
}

#' Save a methods section and the sources of its numbers
#'
#' Writes the text to `path` and, unless `sources` is `NULL`, the sources of
#' its numbers as JSON (by default beside it: `methods.md` gets
#' `methods.json`): the study and, for each number, its paragraph, the text
#' printed, the value and its results file, contract key and field (JSON
#' pointer or CSV column and row). Both are written through a temporary file.
#'
#' @param m An `llmcoder_methods` object from [methods_section()].
#' @param path File to write, e.g. `"report/methods.md"`.
#' @param sources File for the sources, or `NULL` for none.
#' @return The paths written, invisibly.
#' @seealso [methods_section()], [methods_sources()]
#' @examples
#' \dontrun{
#' write_methods(methods_section(read_results("results/demo")), "report/methods.md")
#' }
#' @export
write_methods <- function(m, path, sources = sub("\\.[A-Za-z]+$", ".json", path)) {
  check_methods(m)
  if (!is.character(path) || length(path) != 1 || is.na(path)) {
    cli::cli_abort("{.arg path} must be a single file path.")
  }
  if (!is.null(sources) && identical(normalizePath(sources, mustWork = FALSE), normalizePath(path, mustWork = FALSE))) {
    cli::cli_abort(c(
      "The sources would overwrite the text.",
      "x" = "{.arg path} and {.arg sources} are both {.file {path}}.",
      "i" = "Give the text a file extension ({.file methods.md}) or name {.arg sources}."
    ))
  }
  write_atomic(format(m), path)
  if (is.null(sources)) {
    return(invisible(path))
  }
  doc <- list(
    study = attr(m, "sources")$study,
    text = basename(path),
    format = attr(m, "format"),
    note = paste(
      "Each number of the text, with the results file (relative to the results folder), its key in",
      "the results contract and the field it was read from: a JSON pointer (RFC 6901, 0-based) into",
      "a record, or a CSV column with the values that select its row."
    ),
    numbers = attr(m, "sources")$numbers
  )
  write_atomic(jsonlite::toJSON(doc, auto_unbox = TRUE, pretty = TRUE, digits = NA, null = "null", na = "null"), sources)
  invisible(c(path, sources))
}

#' Abort unless `m` is an `llmcoder_methods` object
#' @noRd
check_methods <- function(m, call = rlang::caller_env()) {
  check_class(m, "llmcoder_methods", "methods_section", arg = "m", call = call)
}

#' A run-in heading: "**Codebook.** " or "\paragraph{Codebook.} "
#' @noRd
run_in <- function(title, format) {
  if (format == "latex") paste0("\\paragraph{", title, ".} ") else paste0("**", title, ".** ")
}

# --- who is who --------------------------------------------------------------------------------

#' The LLM coders: the coders with a provenance record
#' @noRd
llm_coders <- function(x) {
  names(x$records$coders)
}

#' The fine-tuned models: with a fine-tuning record, a learning curve or a corpus prediction
#' @noRd
finetuned_models <- function(x) {
  from_records <- vapply(x$records$finetune, function(f) as.character(f$record$model %||% f$wildcards$model %||% NA), "")
  out <- unique(c(names(x$records$predictions), from_records, unique(x$learning_curve$model)))
  out[!is.na(out)]
}

#' The final model(s): fine-tuned models that were evaluated, the one that coded the corpus first
#' @noRd
final_models <- function(x) {
  evaluated <- unique(x$metrics$system)
  intersect(unique(c(names(x$records$predictions), finetuned_models(x))), evaluated)
}

#' The full-size fine-tuning records of a model (largest size), by seed
#' @noRd
finetune_records_of <- function(x, model) {
  Filter(function(f) identical(as.character(f$record$model %||% f$wildcards$model), model), x$records$finetune)
}

#' A source in a fine-tuning record (its wildcards pick the file)
#' @noRd
ft_src <- function(f, field) {
  src("finetune_record", field, f$wildcards[c("model", "size", "seed")])
}

# --- the paragraphs ------------------------------------------------------------------------------
# Each takes the results and the style (whose formatters record every number in the ledger) and
# returns NULL (no facts recorded) or the paragraph's text.

#' Corpus and samples: corpus size, documents coded by the LLMs, training, development and test sets
#' @noRd
methods_corpus <- function(x, st) {
  s <- character()
  full <- Filter(function(p) isFALSE(p$subset) && !is.null(p$n_docs), x$records$predictions)
  n_corpus <- NULL
  if (length(full) > 0) {
    n_corpus <- full[[1]]$n_docs
    s <- c(s, paste0(
      "The corpus comprises ",
      st$int(n_corpus, src("corpus_predictions_provenance", "/n_docs", list(model = names(full)[[1]])), "n_corpus"),
      " documents."
    ))
  }
  coders <- x$records$coders
  if (length(coders) > 0) {
    # "The corpus comprises 880 documents, all coded by both LLM coders."
    n <- vapply(coders, function(r) as.numeric(r$n_docs %||% NA), 1)
    parts <- vapply(seq_along(coders), function(i) {
      if (is.na(n[[i]])) {
        return(NA_character_)
      }
      paste0(
        st$code(names(coders)[[i]]), " coded ",
        if (!is.null(n_corpus) && n[[i]] == n_corpus) "all " else "",
        st$int(n[[i]], src("coder_provenance", "/n_docs", list(coder = names(coders)[[i]])), paste0("n_coded_", names(coders)[[i]]))
      )
    }, "")
    parts <- parts[!is.na(parts)]
    if (!is.null(n_corpus) && length(coders) > 1 && all(n == n_corpus, na.rm = TRUE) && !anyNA(n)) {
      for (i in seq_along(coders)) {
        st$note("all", n[[i]], src("coder_provenance", "/n_docs", list(coder = names(coders)[[i]])), paste0("n_coded_", names(coders)[[i]]))
      }
      s[[length(s)]] <- sub("\\.$", paste0(", all coded by ", if (length(coders) == 2) "both" else "all", " LLM coders."), s[[length(s)]])
      parts <- character()
    }
    if (length(parts) > 0) {
      s <- c(s, paste0(
        "The LLM coder", if (length(coders) > 1) "s", " ", and_list(parts),
        if (!is.null(n_corpus)) " of them" else " documents", "."
      ))
    }
  }
  sizes <- finetune_split_sizes(x)
  if (!is.null(sizes)) {
    f <- sizes$record
    r <- f$record
    split <- split_design_phrase(x$records$split, st)
    n_train <- st$int(r$n_train, ft_src(f, "/n_train"), "n_train")
    n_dev <- st$int(r$n_dev, ft_src(f, "/n_dev"), "n_dev")
    n_test <- st$int(r$n_test, ft_src(f, "/n_test"), "n_test")
    labels <- if (isTRUE(r$verified)) "verified" else "gold"
    s <- c(s, if (nzchar(split)) {
      paste0(
        split, " gave ", n_train, " training and ", n_dev, " development documents with ", labels,
        " labels for fine-tuning and a held-out test set of ", n_test,
        " documents with gold labels, on which every system was validated."
      )
    } else {
      paste0(
        "For fine-tuning, ", n_train, " training and ", n_dev, " development documents had ", labels,
        " labels; every system was validated on a held-out test set of ", n_test, " documents with gold labels."
      )
    })
  } else if (length(x$records$evaluation) > 0) {
    n <- vapply(x$records$evaluation, function(r) as.numeric(r$n %||% NA), 1)
    sys <- names(n)[which.max(n)]
    s <- c(s, paste0(
      "Every system was validated against gold labels on a test set of up to ",
      st$int(max(n, na.rm = TRUE), src("evaluation_record", "/n", list(system = sys)), "n_test"), " documents."
    ))
  }
  if (length(s) == 0) NULL else paste(s, collapse = " ")
}

#' The record of the job that fixes the split sizes: the largest size of the model that coded the corpus
#' @noRd
finetune_split_sizes <- function(x) {
  ft <- x$records$finetune
  if (length(ft) == 0) {
    return(NULL)
  }
  ok <- Filter(function(f) !is.null(f$record$n_train) && !is.null(f$record$n_dev) && !is.null(f$record$n_test), ft)
  if (length(ok) == 0) {
    return(NULL)
  }
  size <- vapply(ok, function(f) as.numeric(f$record$size %||% NA), 1)
  list(record = ok[[which.max(size)]])
}

#' Codebook: name, labels, single- or multi-label, SHA-256
#' @noRd
methods_codebook <- function(x, st) {
  coder <- names(x$records$coders)[1]
  cb <- x$records$coders[[1]]$codebook
  cb_src <- function(field) src("coder_provenance", paste0("/codebook/", field), list(coder = coder))
  labels <- cb$labels
  labels_src <- cb_src("labels")
  if (length(labels) == 0 && length(x$records$evaluation) > 0) {
    labels <- x$records$evaluation[[1]]$labels
    labels_src <- src("evaluation_record", "/labels", list(system = names(x$records$evaluation)[[1]]))
  }
  name <- cb$name
  if (is.null(name) && length(labels) == 0) {
    return(NULL)
  }
  task <- if (!is.na(x$task)) x$task else cb$task
  s <- if (!is.null(name)) {
    paste0("Documents were coded with the codebook \u201c", st$text(name, cb_src("name"), "name"), "\u201d")
  } else {
    "Documents were coded with a codebook"
  }
  sha <- cb$sha256
  if (!is.null(sha)) {
    s <- paste0(s, " (SHA-256 ", st$hash(sha, cb_src("sha256"), "sha256"), ")")
  } else if (!is.null(x$records$sheets$codebook_sha256)) {
    s <- paste0(s, " (SHA-256 ", st$hash(x$records$sheets$codebook_sha256, src("sheets_manifest", "/codebook_sha256"), "sha256"), ")")
  }
  if (length(labels) > 0) {
    n_labels <- st$int(length(labels), labels_src, "n_labels", how = "length")
    s <- paste0(s, " of ", n_labels, " labels")
    if (length(labels) <= 12) {
      s <- paste0(s, " (", and_list(vapply(labels, st$code, "")), ")")
    }
  }
  paste0(s, if (identical(task, "single")) ", one per document" else if (identical(task, "multi")) ", any number per document", ".")
}

#' LLM coders: model, weights, prompt, scoring, decoding, label orders, stability under rotation
#' @noRd
methods_coders <- function(x, st) {
  is_ensemble <- vapply(x$records$coders, function(r) identical(r$coder$kind, "ensemble"), TRUE)
  coders <- x$records$coders[!is_ensemble]
  ensembles <- x$records$coders[is_ensemble]
  if (length(coders) == 0 && length(ensembles) == 0) {
    return(NULL)
  }
  if (length(coders) == 0) {
    return(paste(vapply(names(ensembles), function(n) ensemble_sentence(n, ensembles[[n]], st), ""), collapse = " "))
  }
  prompts <- unique(vapply(coders, function(r) as.character(r$prompt_template_sha256 %||% NA), ""))
  together <- if (length(coders) == 1) "It" else paste(if (length(coders) == 2) "Both" else "All", "coders")
  if (length(coders) > 1 && length(prompts) == 1 && !is.na(prompts)) {
    # several coders, one prompt: the models and the prompt in one sentence
    items <- vapply(names(coders), function(name) coder_model_sentence(name, coders[[name]], st, prompt = FALSE), "")
    first <- names(coders)[[1]]
    s <- paste0(
      "The LLM coders were ", and_list(items[nzchar(items)]), ", ",
      if (length(coders) == 2) "both" else "all", " prompted with the codebook through one template (SHA-256 ",
      st$hash(prompts, src("coder_provenance", "/prompt_template_sha256", list(coder = first)), paste0(first, "_prompt_sha256")),
      if (!is.null(coders[[1]]$prompt_template)) "; Appendix", ")."
    )
    together <- if (length(coders) == 2) "Both" else "All"
  } else {
    s <- vapply(names(coders), function(name) coder_model_sentence(name, coders[[name]], st), "")
  }
  s <- s[nzchar(s)]
  # each settings sentence once when every coder shares it, else once per coder
  by_coder <- lapply(names(coders), function(name) coder_settings_sentences(name, coders[[name]], st, "\001"))
  said_of <- function(key) vapply(by_coder, function(b) if (key %in% names(b)) b[[key]] else NA_character_, "")
  shared <- function(key) {
    said <- said_of(key)
    !anyNA(said) && length(unique(said)) == 1
  }
  # shared decoding settings go into the shared scoring sentence: "coded zero-shot (temperature 0, seed 0)"
  merge_run <- shared("scoring") && shared("run") && grepl("\002", by_coder[[1]][["scoring"]], fixed = TRUE)
  for (i in seq_along(by_coder)) {
    b <- by_coder[[i]]
    if (!"scoring" %in% names(b)) next
    slot <- if (merge_run) paste0(" (", b[["decoding"]], ")") else ""
    by_coder[[i]][["scoring"]] <- sub("\002", slot, b[["scoring"]], fixed = TRUE)
    if (merge_run) by_coder[[i]] <- by_coder[[i]][names(by_coder[[i]]) != "run"]
  }
  for (key in c("scoring", "run", "truncation", "orders")) {
    said <- said_of(key)
    if (all(is.na(said))) next
    if (!anyNA(said) && length(unique(said)) == 1) {
      s <- c(s, sub("\001", together, said[[1]], fixed = TRUE))
    } else if (key == "truncation" && truncation_shared(by_coder)) {
      # "`a` read documents up to 256 tokens and `b` up to 128 (none was longer)."
      limits <- vapply(by_coder, function(b) b[["limit"]], "")
      coder_names <- vapply(names(coders), st$code, "")
      s <- c(s, paste0(
        coder_names[[1]], " read documents up to ", limits[[1]], " tokens and ",
        and_list(paste(coder_names[-1], "up to", limits[-1])), " (none was longer)."
      ))
    } else {
      for (i in which(!is.na(said))) s <- c(s, sub("\001", st$code(names(coders)[[i]]), said[[i]], fixed = TRUE))
    }
  }
  s <- c(s, rotation_stability(x, st))
  s <- c(s, vapply(names(ensembles), function(n) ensemble_sentence(n, ensembles[[n]], st), ""))
  s <- s[nzchar(s)]
  if (length(s) == 0) NULL else paste(s, collapse = " ")
}

#' Whether every coder read documents up to a limit and none was longer (one sentence for all)
#' @noRd
truncation_shared <- function(by_coder) {
  all(vapply(by_coder, function(b) all(c("limit", "none_longer") %in% names(b)) && identical(unname(b[["none_longer"]]), "TRUE"), TRUE))
}

#' "The coder `ens` combined `a` and `b` by their mean probability; the members chose the same label for
#' 42.2% of the 880 documents (Fleiss' kappa 0.34 [0.31, 0.38])." From an ensemble's provenance record
#' @noRd
ensemble_sentence <- function(name, rec, st) {
  s_of <- function(field) src("coder_provenance", field, list(coder = name))
  members <- as.character(unlist(rec$coder$members))
  how <- switch(rec$coder$combine %||% "",
    mean = "their mean probability",
    vote = "majority vote (its probabilities are the members' vote shares)",
    st$text(rec$coder$combine %||% "?", s_of("/coder/combine"), paste0(name, "_combine"))
  )
  s <- paste0(
    "The coder ", st$code(name), " is an ensemble: it combined ", and_list(vapply(members, st$code, "")),
    " by ", how
  )
  ag <- rec$agreement
  if (!is.null(ag$share_all_agree) && !is.null(ag$n_documents)) {
    coefs <- ag$coefficients
    pick <- Filter(function(r) identical(r$coefficient, "fleiss_kappa"), coefs)
    if (length(pick) == 0) pick <- Filter(function(r) identical(r$coefficient, "krippendorff_alpha"), coefs)
    k <- if (length(pick) > 0) {
      i <- which(vapply(coefs, function(r) identical(r$coefficient, pick[[1]]$coefficient), TRUE))[[1]]
      f <- function(col) s_of(paste0("/agreement/coefficients/", i - 1, "/", col))
      paste0(
        " (", metric_prose(pick[[1]]$coefficient), " ",
        st$ci(pick[[1]]$estimate, pick[[1]]$ci_low %||% NA, pick[[1]]$ci_high %||% NA,
          list(f("estimate"), f("ci_low"), f("ci_high")), paste0(name, "_member_agreement")
        ), ")"
      )
    }
    s <- paste0(
      s, "; its members chose the same label", if (identical(rec$codebook$task, "multi")) "s",
      " for ", st$pct(ag$share_all_agree, s_of("/agreement/share_all_agree"), paste0(name, "_share_all_agree")),
      " of the ", st$int(ag$n_documents, s_of("/agreement/n_documents"), paste0(name, "_member_documents")),
      " documents", k
    )
  }
  paste0(s, ".")
}

#' "The LLM coder `smollm2` was smollm2-135m (weights SHA-256 `...`), prompted with template `...`
#' (Appendix)."; without the prompt: "`smollm2` (smollm2-135m, weights SHA-256 `...`)"
#' @noRd
coder_model_sentence <- function(name, rec, st, prompt = TRUE) {
  s_of <- function(field) src("coder_provenance", field, list(coder = name))
  model <- rec$model$model
  if (is.null(model)) {
    return("")
  }
  ids <- c(
    if (!is.null(rec$model$revision)) paste("revision", st$hash(rec$model$revision, s_of("/model/revision"), paste0(name, "_revision"))),
    if (!is.null(rec$model$gguf_sha256)) paste("weights SHA-256", st$hash(rec$model$gguf_sha256, s_of("/model/gguf_sha256"), paste0(name, "_weights_sha256")))
  )
  model_name <- st$text(model, s_of("/model/model"), paste0(name, "_model"))
  if (!prompt) {
    return(paste0(st$code(name), " (", paste(c(model_name, ids), collapse = ", "), ")"))
  }
  s <- paste0(
    "The LLM coder ", st$code(name), " was ", model_name,
    if (length(ids) > 0) paste0(" (", paste(ids, collapse = ", "), ")")
  )
  if (!is.null(rec$prompt_template_sha256)) {
    s <- paste0(
      s, ", prompted with the codebook through a template (SHA-256 ",
      st$hash(rec$prompt_template_sha256, s_of("/prompt_template_sha256"), paste0(name, "_prompt_sha256")),
      if (!is.null(rec$prompt_template)) "; Appendix", ")"
    )
  }
  paste0(s, ".")
}

#' The settings that the settings sentences describe (to say them once when coders share them)
#' @noRd
coder_settings <- function(rec) {
  p0 <- if (length(rec$prompts)) rec$prompts[[1]] else list()
  list(
    few_shot = rec$coder$few_shot, mode = p0$mode, calibrate = isTRUE(p0$calibrate),
    method = p0$calibration$method, temperature = rec$coder$temperature, backend = rec$coder$backend,
    max_tokens = rec$coder$http_max_tokens, max_doc = rec$truncation$max_doc_tokens,
    truncated = rec$truncation$n_docs_truncated, rotations = rec$rotations,
    threshold = rec$coder$multi_threshold
  )
}

#' How the coder's labels were scored and decoded, and the label orders
#'
#' A named character vector: the sentences `scoring` (with "\002" where the decoding settings may
#' follow "coded zero-shot"), `run`, `truncation` and `orders`, each starting with `subject`; and the
#' pieces `decoding` ("temperature 0, seed 0"), `limit` (the document limit as printed) and
#' `none_longer` ("TRUE" when no document was cut), for sentences that combine several coders.
#' @noRd
coder_settings_sentences <- function(name, rec, st, subject) {
  s_of <- function(field) src("coder_provenance", field, list(coder = name))
  p_key <- names(rec$prompts)[1]
  p0 <- if (length(rec$prompts)) rec$prompts[[1]] else list()
  out <- character()
  shots <- rec$coder$few_shot
  scoring <- switch(p0$mode %||% "",
    choice = "scored each label as the answer: a softmax over the length-normalised log-probabilities of the label names",
    yesno = paste0(
      "scored each label separately as the probability of \u201cyes\u201d after it",
      if (!is.null(rec$coder$multi_threshold)) paste0(", assigning labels above ", st$num(rec$coder$multi_threshold, s_of("/coder/multi_threshold"), "multi_threshold"))
    ),
    NULL
  )
  head <- c(
    if (!is.null(shots)) {
      paste0(
        if (shots == 0) "coded zero-shot" else paste0("coded with ", st$int(shots, s_of("/coder/few_shot"), "few_shot"), " examples in the prompt"),
        "\002"
      )
    },
    scoring
  )
  if (length(head) > 0) {
    s <- paste0(subject, " ", paste(head, collapse = " and "))
    if (isTRUE(p0$calibrate) && !is.null(p0$calibration$method)) {
      s <- paste0(
        s, ", corrected by ",
        st$text(p0$calibration$method, s_of(paste0("/prompts/", p_key, "/calibration/method")), "calibration")
      )
    }
    out <- c(out, scoring = paste0(s, "."))
  }
  decoding <- c(
    if (!is.null(rec$coder$temperature)) paste("temperature", st$note(format(rec$coder$temperature), rec$coder$temperature, s_of("/coder/temperature"), "temperature")),
    if (identical(rec$coder$backend, "http") && !is.null(rec$coder$http_max_tokens)) {
      paste("at most", st$int(rec$coder$http_max_tokens, s_of("/coder/http_max_tokens"), "max_output_tokens"), "output tokens")
    },
    if (!is.null(rec$coder$seed)) paste("seed", st$int(rec$coder$seed, s_of("/coder/seed"), "seed"))
  )
  if (length(decoding) > 0) {
    out <- c(out, run = paste0(subject, " ran with ", and_list(decoding), "."), decoding = paste(decoding, collapse = ", "))
  }
  tr <- rec$truncation
  chunked <- FALSE
  if (!is.null(tr$max_doc_tokens)) {
    limit <- st$int(tr$max_doc_tokens, s_of("/truncation/max_doc_tokens"), "max_doc_tokens")
    chunked <- identical(tr$long_docs, "chunk") && isTRUE(tr$n_docs_chunked > 0)
    none_longer <- isTRUE(tr$n_docs_truncated == 0) && !chunked
    if (chunked) {
      # longer documents were read in overlapping windows: say so, never "none was longer"
      how <- switch(tr$chunk_aggregate %||% "",
        mean = "averaged",
        max = "combined by their maximum",
        first = "taken from the first window",
        st$text(tr$chunk_aggregate %||% "?", s_of("/truncation/chunk_aggregate"), "chunk_aggregate")
      )
      out <- c(out, limit = limit, none_longer = "FALSE", truncation = paste0(
        subject, " read documents in windows of up to ", limit, " tokens overlapping by ",
        st$int(tr$chunk_overlap, s_of("/truncation/chunk_overlap"), "chunk_overlap"), " tokens: the ",
        st$int(tr$n_docs_chunked, s_of("/truncation/n_docs_chunked"), "n_docs_chunked"),
        " longer documents were coded window by window (",
        st$int(tr$n_windows, s_of("/truncation/n_windows"), "n_windows"), " windows for ",
        st$int(tr$n_docs, s_of("/truncation/n_docs"), "n_docs_read"), " documents), their label probabilities ",
        how, "."
      ))
    }
  }
  if (!is.null(tr$max_doc_tokens) && !chunked) {
    out <- c(out, limit = limit, none_longer = as.character(none_longer), truncation = paste0(
      subject, " read documents up to ", limit, " tokens",
      if (!is.null(tr$n_docs_truncated)) {
        if (none_longer) {
          paste0(" (", st$note("none", tr$n_docs_truncated, s_of("/truncation/n_docs_truncated"), "n_docs_truncated"), " was longer)")
        } else {
          paste0(" (", st$int(tr$n_docs_truncated, s_of("/truncation/n_docs_truncated"), "n_docs_truncated"), " were cut)")
        }
      },
      "."
    ))
  }
  if (!is.null(rec$rotations) && rec$rotations > 1) {
    out <- c(out, orders = paste0(
      "Each document was coded under ", st$int(rec$rotations, s_of("/rotations"), "rotations", words = TRUE),
      " label orders: the codebook's and ",
      if (rec$rotations == 2) "a rotation" else paste(count_words(rec$rotations - 1), "rotations"),
      " of it."
    ))
  }
  out
}

#' How often the label changed under a rotated label order (bias/positional.csv)
#' @noRd
rotation_stability <- function(x, st) {
  pos <- x$bias$positional
  if (is.null(pos) || nrow(pos) == 0) {
    return(character())
  }
  parts <- vapply(seq_len(nrow(pos)), function(i) {
    r <- pos[i, ]
    row <- list(system = r$system)
    paste0(
      st$pct(r$flip_rate, src("bias_positional", "flip_rate", row = row), paste0(r$system, "_flip_rate")),
      " of documents",
      if (!is.na(r$n_flipped)) {
        paste0(
          " (", st$int(r$n_flipped, src("bias_positional", "n_flipped", row = row), paste0(r$system, "_n_flipped")), " of ",
          st$int(r$n_docs, src("bias_positional", "n_docs", row = row), paste0(r$system, "_n_docs")), ")"
        )
      },
      " with ", st$code(r$system)
    )
  }, "")
  paste0("Under rotated label orders, the label changed for ", and_list(parts), ".")
}

#' Human verification: design, proposals, overlap and agreement, adjudication, acceptance, counts, ceiling
#' @noRd
methods_verification <- function(x, st) {
  v <- x$records$verification
  if (is.null(v) || is.null(v$n_documents)) {
    return(NULL)
  }
  vs <- function(field) src("verification_summary", field)
  people <- as.character(unlist(v$coders))
  simulated <- isTRUE(v$simulated)
  n_people <- length(people)
  who <- if (n_people > 0) {
    paste0(
      st$int(n_people, vs("/coders"), "n_verifiers", how = "length", words = TRUE),
      if (simulated) " simulated verifier" else if (n_people == 1) " person" else " people",
      if (simulated && n_people != 1) "s",
      " (", and_list(vapply(people, st$code, "")), ")"
    )
  } else if (simulated) {
    "simulated verifiers"
  } else {
    "people"
  }
  s <- paste0(
    capitalise(who), " verified the labels the LLM coder", if (length(x$records$coders) != 1) "s",
    " proposed for ", st$int(v$n_documents, vs("/n_documents"), "n_documents"),
    " documents by rejection, rejecting each proposed label that did not apply and",
    " supplying the right one when none did."
  )
  s <- c(s, proposals_sentence(x, st))
  s <- c(s, overlap_sentence(x, st))
  # the share of each LLM coder's proposals kept, then the documents that received a verified label
  kept <- acceptance_sentence(x, st)
  verified <- if (!is.null(v$n_verified)) {
    paste(st$int(v$n_verified, vs("/n_verified"), "n_verified"), "documents received a verified label")
  }
  if (length(kept) > 0 && !is.null(verified)) {
    s <- c(s, paste0(sub("\\.$", "", kept), "; ", verified, "."))
  } else {
    s <- c(s, kept, if (!is.null(verified)) paste0(capitalise(verified), "."))
  }
  s <- c(s, timing_sentence(x, st))
  s <- c(s, ceiling_sentence(x, st))
  s <- c(s, sheets_sentences(x, st))
  paste(s, collapse = " ")
}

#' "In the browser, a decision took a median of 4.2 seconds (interquartile range 2.1 to 7.9; 120 of 130
#' decisions timed)." From the ingest summary's `timing` (the export's timing.csv); NULL without it.
#' @noRd
timing_sentence <- function(x, st) {
  t <- x$records$verification$timing
  if (is.null(t) || is.null(t$median_seconds) || !isTRUE(t$n_timed > 0)) {
    return(NULL)
  }
  ts <- function(field) src("verification_summary", paste0("/timing/", field))
  paste0(
    "In the browser, a decision took a median of ",
    st$num(t$median_seconds, ts("median_seconds"), "decision_seconds_median", d = 1), " seconds",
    " (interquartile range ", st$num(t$q1_seconds, ts("q1_seconds"), "decision_seconds_q1", d = 1),
    " to ", st$num(t$q3_seconds, ts("q3_seconds"), "decision_seconds_q3", d = 1), "; ",
    st$int(t$n_timed, ts("n_timed"), "n_decisions_timed"), " of ",
    st$int(t$n_decisions, ts("n_decisions"), "n_decisions_browser"), " decisions made in the browser timed).",
    modes_sentence(x, st)
  )
}

#' " For the timing comparison, 25% of each person's documents (40) were shown for selection ...": the two
#' verification modes from the ingest summary's `timing$by_mode` (verify.selection_share); "" without it
#' @noRd
modes_sentence <- function(x, st) {
  by <- x$records$verification$timing$by_mode
  if (is.null(by$selection) || is.null(by$rejection)) {
    return("")
  }
  ms <- function(mode, field) src("verification_summary", paste0("/timing/by_mode/", mode, "/", field))
  share <- x$records$sheets$settings$selection_share
  secs <- function(mode) {
    v <- by[[mode]]$median_seconds_per_document
    if (is.null(v)) "no timed document" else paste(st$num(v, ms(mode, "median_seconds_per_document"), paste0(mode, "_seconds_per_document"), d = 1), "seconds")
  }
  gold <- function(mode) {
    b <- by[[mode]]
    if (is.null(b$agreement_with_gold)) {
      return(NULL)
    }
    st$ci(
      b$agreement_with_gold, b$agreement_ci_low %||% NA, b$agreement_ci_high %||% NA,
      lapply(c("agreement_with_gold", "agreement_ci_low", "agreement_ci_high"), function(f) ms(mode, f)),
      paste0(mode, "_agreement_with_gold")
    )
  }
  g_sel <- gold("selection")
  g_rej <- gold("rejection")
  paste0(
    " For the timing comparison, ",
    if (!is.null(share)) paste0(st$pct(share, src("sheets_manifest", "/settings/selection_share"), "selection_share", d = 0), " of "),
    "each person's documents (", st$int(by$selection$n_documents, ms("selection", "n_documents"), "n_selection_documents"),
    " in all) were drawn at random and shown for selection, the label chosen from the codebook with no proposal shown: ",
    "a document took a median of ", secs("selection"), " by selection and ", secs("rejection"), " by rejection",
    if (!is.null(g_sel) && !is.null(g_rej)) {
      paste0(", and the person's own label was the gold label for a share of ", g_sel, " and ", g_rej, " of documents (Wilson intervals)")
    },
    "."
  )
}

#' "Sheets showed the label each coder chose (1.0 per document on average; the gold label in 47.1%)"
#' @noRd
proposals_sentence <- function(x, st) {
  p <- x$records$sheets$settings$proposals
  if (is.null(p) || is.null(p$policy)) {
    return(character())
  }
  ps <- function(field) src("sheets_manifest", paste0("/settings/proposals/", field))
  what <- switch(p$policy,
    chosen = "the labels each LLM coder chose",
    top_k = if (!is.null(p$k)) paste("the", st$int(p$k, ps("k"), "k"), "most probable labels of each LLM coder") else "the most probable labels of each LLM coder",
    mass = if (!is.null(p$mass)) paste0("each LLM coder's most probable labels up to a probability of ", st$num(p$mass, ps("mass"), "mass")) else "each LLM coder's most probable labels",
    conformal = "split-conformal label sets (APS score) of each LLM coder, calibrated on gold labels",
    NULL
  )
  if (is.null(what)) {
    return(character())
  }
  details <- c(
    if (!is.null(p$mean_set_size)) {
      paste0(st$num(p$mean_set_size, ps("mean_set_size"), "mean_set_size", d = 1), " per document on average")
    },
    if (!is.null(p$coverage) && isTRUE(p$n_with_gold > 0)) {
      # "of documents" when every verified document had a gold label, else "of the 40 documents with one"
      every <- isTRUE(p$n_with_gold == x$records$verification$n_documents)
      paste0(
        "holding the gold label for ", st$pct(p$coverage, ps("coverage"), "coverage"),
        if (every) {
          " of documents"
        } else {
          paste0(" of the ", st$int(p$n_with_gold, ps("n_with_gold"), "n_with_gold"), " documents with one")
        }
      )
    }
  )
  paste0("Sheets showed ", what, if (length(details) > 0) paste0(" (", paste(details, collapse = "; "), ")"), ".")
}

#' Overlap, the verifiers' agreement on it, and how disagreements were settled
#' @noRd
overlap_sentence <- function(x, st) {
  v <- x$records$verification
  out <- character()
  if (!is.null(v$n_overlap_documents) && v$n_overlap_documents > 0) {
    overlap <- paste0(
      "Of these documents, ", st$int(v$n_overlap_documents, src("verification_summary", "/n_overlap_documents"), "n_overlap_documents"),
      " were verified by ",
      if (length(unlist(v$coders)) == 2) "both verifiers" else "two or more verifiers"
    )
    agree <- agreement_phrase(x, "verifier_reliability_csv", "human verifiers", st, scope = "all labels", name = "verifiers", same = TRUE)
    out <- c(out, paste0(
      overlap,
      if (!is.null(agree)) paste0("; their keep-or-reject decisions agreed with ", agree$text, " (", agree$n, " shared decisions)"),
      "."
    ))
  }
  if (isTRUE(v$n_adjudicated > 0)) {
    adj <- v$adjudication
    sim <- isTRUE(adj$simulated)
    settled <- paste0(
      "isagreements on ", st$int(v$n_adjudicated, src("verification_summary", "/n_adjudicated"), "n_adjudicated"),
      if (length(out) == 0) " documents", " were settled by ", if (sim) "a simulated adjudicator" else "adjudication",
      if (sim && !is.null(adj$error_rate)) {
        paste0(" (error rate ", st$pct(adj$error_rate, src("verification_summary", "/adjudication/error_rate"), "adjudicator_error_rate", d = 0), ")")
      },
      "."
    )
    # after the overlap sentence: "...; disagreements on 46 were settled by ..."
    if (length(out) > 0) {
      out[[length(out)]] <- paste0(sub("\\.$", "", out[[length(out)]]), "; d", settled)
    } else {
      out <- c(out, paste0("D", settled))
    }
  } else if (identical(v$overlap_policy, "union") || identical(v$overlap_policy, "intersection")) {
    out <- c(out, paste0(
      "Where they disagreed, the ", st$text(v$overlap_policy, src("verification_summary", "/overlap_policy"), "overlap_policy"),
      " of their kept labels was taken."
    ))
  }
  out
}

#' Cohen's (two coders) or Fleiss' kappa, Krippendorff's alpha and Gwet's AC1 of one comparison
#'
#' Returns list(text, n) or NULL.
#' @noRd
agreement_phrase <- function(x, source, comparison, st, scope = NULL, name = "agreement",
                             coefficients = c("krippendorff_alpha", "gwet_ac1"), kappa = NULL, same = FALSE) {
  rel <- x$reliability
  if (is.null(rel)) {
    return(NULL)
  }
  d <- rel[rel$source %in% source & rel$comparison %in% comparison, , drop = FALSE]
  if (!is.null(scope) && "scope" %in% names(d)) d <- d[d$scope %in% scope, , drop = FALSE]
  if (nrow(d) == 0) {
    return(NULL)
  }
  kappa <- kappa %||% main_kappa(d)
  wanted <- c(kappa, coefficients)
  d <- d[d$coefficient %in% wanted, , drop = FALSE]
  d <- d[order(match(d$coefficient, wanted)), , drop = FALSE]
  if (nrow(d) == 0) {
    return(NULL)
  }
  items <- vapply(seq_len(nrow(d)), function(i) {
    r <- d[i, ]
    row <- c(if (!is.null(scope)) list(scope = scope), if (source == "coders_vs_gold") list(comparison = comparison), list(coefficient = r$coefficient))
    s3 <- lapply(c("estimate", "ci_low", "ci_high"), function(col) src(source, col, row = row))
    label <- if (r$coefficient == "cohen_kappa" && source == "human_ceiling_csv") ceiling_kappa_name(r) else metric_label(r$coefficient)
    c(label = st$esc(label), value = st$ci(r$estimate, r$ci_low, r$ci_high, s3, paste0(name, "_", r$coefficient)))
  }, c(label = "", value = ""))
  # with `same`, coefficients that print the same estimate and interval are said once:
  # "Fleiss' kappa, Krippendorff's alpha and Gwet's AC1 of 0.74 [0.65, 0.83] each"
  text <- if (isTRUE(same) && ncol(items) > 1 && length(unique(items["value", ])) == 1) {
    paste0(and_list(items["label", ]), " of ", items[["value", 1]], " each")
  } else {
    and_list(paste(items["label", ], items["value", ]))
  }
  n_row <- c(if (!is.null(scope)) list(scope = scope), if (source == "coders_vs_gold") list(comparison = comparison), list(coefficient = d$coefficient[[1]]))
  list(
    text = text,
    n = st$int(d$n_units[[1]], src(source, "n_units", row = n_row), paste0(name, "_n"))
  )
}

#' Cohen's kappa for two coders, Fleiss' for more (the first present)
#' @noRd
main_kappa <- function(d) {
  n_coders <- suppressWarnings(max(d$n_coders, na.rm = TRUE))
  order <- if (is.finite(n_coders) && n_coders > 2) c("fleiss_kappa", "cohen_kappa") else c("cohen_kappa", "fleiss_kappa")
  hit <- order[order %in% d$coefficient]
  if (length(hit) == 0) NA_character_ else hit[[1]]
}

#' "People kept 45.6% [37.1%, 54.3%] of the 125 proposals of `smollm2` they decided on"
#' @noRd
acceptance_sentence <- function(x, st) {
  acc <- x$acceptance
  if (is.null(acc) || nrow(acc) == 0) {
    return(character())
  }
  ids <- vapply(x$records$coders, function(r) as.character(r$coder_id %||% NA), "")
  simulated <- isTRUE(x$records$verification$simulated)
  same_n <- nrow(acc) > 1 && !anyNA(acc$n_decisions) && length(unique(acc$n_decisions)) == 1
  parts <- vapply(seq_len(nrow(acc)), function(i) {
    r <- acc[i, ]
    row <- list(llm_coder = r$llm_coder)
    hit <- match(r$llm_coder, ids)
    name <- if (is.na(hit) || is.null(names(ids))) NA_character_ else names(ids)[[hit]]
    if (is.na(name) || !nzchar(name)) name <- r$llm_coder
    n <- st$int(r$n_decisions, src("acceptance_csv", "n_decisions", row = row), paste0(name, "_acceptance_n"))
    paste0(
      if (i == 1) "the proposals of " else "those of ", st$code(name), " in ",
      st$pct(r$acceptance, src("acceptance_csv", "acceptance", row = row), paste0(name, "_acceptance")),
      if (!is.na(r$ci_low)) {
        paste0(
          " [", st$pct(r$ci_low, src("acceptance_csv", "ci_low", row = row), paste0(name, "_acceptance_ci_low")), ", ",
          st$pct(r$ci_high, src("acceptance_csv", "ci_high", row = row), paste0(name, "_acceptance_ci_high")), "]"
        )
      },
      # the same number of decisions for every coder is said once, at the end
      if (!same_n) paste0(" of ", n, " decisions")
    )
  }, "")
  paste0(
    if (simulated) "The verifiers" else "People", " kept ", and_list(parts),
    if (same_n) paste0(" of ", big_num(acc$n_decisions[[1]]), " decisions each"),
    if (any(!is.na(acc$ci_low))) paste0(" (Wilson interval", if (nrow(acc) > 1) "s", ")"), "."
  )
}

#' The human ceiling: agreement of the people's own labels on shared documents
#' @noRd
ceiling_sentence <- function(x, st) {
  agree <- agreement_phrase(x, "human_ceiling_csv", "human ceiling", st, name = "ceiling", coefficients = character(), kappa = "cohen_kappa")
  if (is.null(agree)) {
    return(character())
  }
  rel <- x$reliability
  range <- rel[rel$source %in% "human_ceiling_csv" &
    rel$coefficient %in% c("pairwise_kappa_min", "pairwise_kappa_max"), , drop = FALSE]
  spread <- ""
  if (nrow(range) == 2 && !identical(range$estimate[[1]], range$estimate[[2]])) {
    lo <- range[range$coefficient == "pairwise_kappa_min", ]
    hi <- range[range$coefficient == "pairwise_kappa_max", ]
    spread <- paste0(
      " (pairs from ",
      st$num(lo$estimate, src("human_ceiling_csv", "estimate", row = list(coefficient = "pairwise_kappa_min")), "ceiling_pairwise_min"),
      " to ", st$num(hi$estimate, src("human_ceiling_csv", "estimate", row = list(coefficient = "pairwise_kappa_max")), "ceiling_pairwise_max"),
      ")"
    )
  }
  paste0(
    "On the ", agree$n, " documents labelled by two or more verifiers, their resulting labels agreed with ",
    agree$text, spread, ": the human ceiling."
  )
}

#' Sheets finished with no rejection, and sheets not returned
#' @noRd
sheets_sentences <- function(x, st) {
  v <- x$records$verification
  flags <- v$flags %||% list()
  out <- character()
  for (i in seq_along(flags)) {
    f <- flags[[i]]
    if (!is.list(f) || is.null(f$coder)) next
    out <- c(out, paste0(
      "The sheet of ", st$code(f$coder), " had no rejection in ",
      st$int(f$rows, src("verification_summary", paste0("/flags/", i - 1, "/rows")), paste0("no_rejection_rows_", f$coder)),
      " rows; its decisions were kept."
    ))
  }
  missing <- unique(as.character(unlist(v$coders_missing)))
  if (length(missing) > 0) {
    out <- c(out, paste0(
      "The sheet", if (length(missing) > 1) "s", " of ", and_list(vapply(missing, st$code, "")),
      if (length(missing) > 1) " were" else " was", " not returned, so ",
      if (length(missing) > 1) "their" else "its", " documents are not verified."
    ))
  }
  out
}

#' Fine-tuning: model, settings, sizes and seeds, learning curve against the LLM coders, corpus model
#' @noRd
methods_finetune <- function(x, st) {
  models <- finetuned_models(x)
  if (length(models) == 0) {
    return(NULL)
  }
  with_records <- Filter(function(m) length(finetune_records_of(x, m)) > 0, models)
  # models trained at the same sizes with the same seeds share one clause
  design <- vapply(with_records, function(m) {
    recs <- finetune_records_of(x, m)
    paste(
      sort(unique(vapply(recs, function(f) paste(f$record$size, f$record$n_train), ""))),
      sort(unique(vapply(recs, function(f) as.character(f$record$seed), ""))),
      isTRUE(recs[[1]]$record$verified),
      collapse = "|"
    )
  }, "")
  groups <- lapply(unique(design), function(d) with_records[design == d])
  s <- if (length(groups) > 0) training_sentence(x, groups, st)
  s <- c(s, curve_sentence(x, models, st))
  for (m in models) s <- c(s, corpus_model_sentence(x, m, st))
  if (length(s) == 0) NULL else paste(s, collapse = " ")
}

#' "The fine-tuned models `minilm` (...) and `tfidf` (...) were trained on the verified labels of 58
#' (10%), 263 (50%) and 520 (100%) training documents, and `lora` (...) on 58 (10%), all with seed 1 and
#' without class weights.": one clause per group of models with the same sizes and seeds; what every
#' model shares (seeds, class weights) is said once, at the end
#' @noRd
training_sentence <- function(x, groups, st) {
  models <- unlist(groups)
  first_rec <- function(model) finetune_records_of(x, model)[[1]]
  seeds_of <- function(model) sort(unique(vapply(finetune_records_of(x, model), function(f) as.numeric(f$record$seed), 1)))
  seed_sets <- unique(lapply(models, seeds_of))
  weights <- lapply(models, function(m) first_rec(m)$record$settings$class_weights)
  known <- !vapply(weights, is.null, TRUE)
  one_weighting <- all(known) && length(unique(vapply(weights, isTRUE, TRUE))) == 1
  verified <- unique(vapply(models, function(m) isTRUE(first_rec(m)$record$verified), TRUE))
  patience_said <- FALSE
  describe <- function(model) {
    r1 <- first_rec(model)
    # the job's training settings (Python's llmcoder.jobs.training_settings)
    cfg <- r1$record$settings %||% list()
    kind <- r1$record$kind
    # the base model inside the description of an encoder or a LoRA model, else as a setting of its own
    base <- if (!is.null(cfg$base_model)) st$text(cfg$base_model, ft_src(r1, "/settings/base_model"), paste0(model, "_base_model"))
    base_in_what <- identical(kind, "encoder") || identical(kind, "lora")
    lora_r <- if (!is.null(cfg$lora_r)) st$int(cfg$lora_r, ft_src(r1, "/settings/lora_r"), paste0(model, "_lora_r"))
    what <- switch(kind %||% "",
      tfidf = "TF-IDF n-grams with logistic regression",
      encoder = if (!is.null(base)) paste("the pretrained encoder", base, "with a classification head") else "a pretrained encoder with a classification head",
      lora = paste0(
        if (!is.null(base)) base else "a causal language model", " adapted with LoRA",
        if (!is.null(lora_r)) paste(" of rank", lora_r)
      ),
      NULL
    )
    details <- c(
      if (!is.null(what)) st$note(what, kind, ft_src(r1, "/kind"), paste0(model, "_kind")),
      if (is.null(what) && !is.null(kind)) paste("kind", st$text(kind, ft_src(r1, "/kind"), paste0(model, "_kind"))),
      if (!base_in_what && !is.null(base)) paste("base model", base),
      if (!is.null(cfg$epochs)) {
        paste0(
          "up to ", st$int(cfg$epochs, ft_src(r1, "/settings/epochs"), paste0(model, "_epochs")), " epochs",
          if (!is.null(cfg$patience) && cfg$patience > 0) {
            patience <- st$int(cfg$patience, ft_src(r1, "/settings/patience"), paste0(model, "_patience"))
            # the stopping rule once, the patience of each model
            rule <- if (!patience_said) " with early stopping on development macro-F1" else ""
            patience_said <<- TRUE
            paste0(rule, ", patience ", patience)
          }
        )
      },
      if (!is.null(cfg$learning_rate)) paste("learning rate", st$note(format(cfg$learning_rate, scientific = FALSE), cfg$learning_rate, ft_src(r1, "/settings/learning_rate"), paste0(model, "_learning_rate"))),
      if (!is.null(cfg$batch_size)) paste("batch size", st$int(cfg$batch_size, ft_src(r1, "/settings/batch_size"), paste0(model, "_batch_size"))),
      if (!is.null(lora_r) && !identical(kind, "lora")) paste("LoRA rank", lora_r),
      if (identical(cfg$long_docs, "chunk") && !is.null(cfg$max_length)) {
        # a model that reads longer documents in windows says so (llmcoder.jobs.training_settings)
        paste0(
          "longer documents read in windows of ", st$int(cfg$max_length, ft_src(r1, "/settings/max_length"), paste0(model, "_max_length")),
          " tokens overlapping by ", st$int(cfg$chunk_overlap, ft_src(r1, "/settings/chunk_overlap"), paste0(model, "_chunk_overlap")),
          ", probabilities combined by their ",
          switch(cfg$chunk_aggregate %||% "", mean = "mean", max = "maximum", first = "first window", "aggregate")
        )
      },
      if (!one_weighting && !is.null(cfg$class_weights)) if (isTRUE(cfg$class_weights)) "class weights" else "no class weights"
    )
    paste0(st$code(model), if (length(details) > 0) paste0(" (", paste(details, collapse = "; "), ")"))
  }
  seed_text <- function(model) {
    recs <- finetune_records_of(x, model)
    vapply(seeds_of(model), function(sd) {
      f <- Filter(function(f) as.numeric(f$record$seed) == sd, recs)[[1]]
      st$int(sd, ft_src(f, "/seed"), paste0(model, "_seed_", sd))
    }, "")
  }
  clauses <- vapply(seq_along(groups), function(g) {
    group <- groups[[g]]
    recs <- finetune_records_of(x, group[[1]])
    sizes <- sort(unique(vapply(recs, function(f) as.numeric(f$record$size), 1)))
    size_text <- vapply(sizes, function(z) {
      f <- Filter(function(f) as.numeric(f$record$size) == z, recs)[[1]]
      paste0(
        st$int(f$record$n_train, ft_src(f, "/n_train"), paste0(group[[1]], "_n_train_", f$record$size)), " (",
        st$pct(f$record$size, ft_src(f, "/size"), paste0(group[[1]], "_size_", f$record$size), d = 0), ")"
      )
    }, "")
    who <- and_list(vapply(group, describe, ""))
    labels <- paste0(if (isTRUE(recs[[1]]$record$verified)) "verified" else "gold", " labels")
    seeds <- if (length(seed_sets) > 1) {
      s <- seed_text(group[[1]])
      paste0(", with seed", if (length(s) > 1) "s", " ", and_list(s))
    }
    if (g == 1) {
      paste0(
        "The fine-tuned model", if (length(models) > 1) "s", " ", who,
        if (length(group) > 1) " were" else " was", " trained on the ", labels, " of ", and_list(size_text),
        " training documents", seeds
      )
    } else {
      paste0(
        who, " on ", if (length(verified) > 1) paste0("the ", labels, " of "), and_list(size_text),
        if (length(verified) > 1) " training documents", seeds
      )
    }
  }, "")
  shared <- c(
    if (length(seed_sets) == 1) {
      s <- seed_text(models[[1]])
      for (m in models[-1]) seed_text(m) # each model's seeds traced to its own records
      paste0("seed", if (length(s) > 1) "s", " ", and_list(s))
    },
    if (one_weighting) if (isTRUE(weights[[1]])) "class weights" else "without class weights"
  )
  tail <- if (length(shared) > 0) {
    paste0(if (length(models) > 1) ", all" else ",", " with ", sub("^with ", "", paste(shared, collapse = " and ")))
  }
  # the clauses are long: a comma before "and" (two), semicolons between them (more)
  joined <- if (length(clauses) == 2) paste(clauses, collapse = ", and ") else paste(clauses, collapse = "; ")
  paste0(joined, tail, ".")
}

#' The metric a learning curve is read by: Cohen's kappa when recorded, else macro-F1, else the first
#' @noRd
curve_metric <- function(lc) {
  available <- unique(lc$metric)
  hit <- intersect(c("cohen_kappa", "macro_f1", "micro_f1"), available)
  if (length(hit) > 0) hit[[1]] else available[[1]]
}

#' The learning curves of the fine-tuned models against the LLM coders
#'
#' One model: "Its mean Cohen's kappa over seeds on the test set rose from 0.08 with 44 training
#' documents to 0.13 with 87 (learning curve figure); it stayed below the zero-shot Cohen's kappa of
#' `smollm2` (0.39) at every size." Several: "From 58 to 520 training documents, Cohen's kappa on the
#' test set rose from 0.66 to 0.82 for `a` and from 0.13 to 0.56 for `b` (learning curve figure). `a`
#' reached the zero-shot Cohen's kappa of `c` (0.39) and `d` (0.58) with 58 training documents; `b`
#' reached that of `c` with 520 and stayed below that of `d` at every size."
#' @noRd
curve_sentence <- function(x, models, st) {
  lc <- x$learning_curve
  if (is.null(lc)) {
    return(character())
  }
  single <- length(models) == 1
  curves <- list()
  for (model in models[models %in% lc$model]) {
    metric <- curve_metric(lc[lc$model == model, , drop = FALSE])
    d <- lc[lc$model == model & lc$metric == metric & !is.na(lc$value), , drop = FALSE]
    sizes <- sort(unique(d$train_size))
    if (length(sizes) < 2) next
    curves[[model]] <- list(
      metric = metric, d = d, sizes = sizes,
      means = vapply(sizes, function(z) mean(d$value[d$train_size == z]), 1),
      n_seeds = vapply(sizes, function(z) sum(d$train_size == z), 1)
    )
  }
  if (length(curves) == 0) {
    return(character())
  }
  # one metric for all: the first curve's (the others are left to the figure)
  metric <- curves[[1]]$metric
  curves <- Filter(function(cv) identical(cv$metric, metric), curves)
  label <- metric_prose(metric)
  size_row <- function(model, z) {
    d <- curves[[model]]$d
    list(model = model, train_size = z, metric = metric, seed = min(d$seed[d$train_size == z]))
  }
  at <- function(model, i) {
    cv <- curves[[model]]
    row <- list(model = model, train_size = cv$sizes[[i]], metric = metric)
    st$num(cv$means[[i]], src("learning_curve", "value", row = row), paste0(model, "_curve_", cv$sizes[[i]]),
      how = if (cv$n_seeds[[i]] > 1) "mean" else NULL
    )
  }
  size_at <- function(model, i) {
    cv <- curves[[model]]
    z <- cv$sizes[[i]]
    st$int(z, src("learning_curve", "train_size", row = size_row(model, z)), paste0(model, "_curve_size_", if (i == 1) "min" else "max"))
  }
  change_of <- function(cv) {
    last <- length(cv$sizes)
    if (cv$means[[last]] > cv$means[[1]]) "rose" else if (cv$means[[last]] < cv$means[[1]]) "fell" else "stayed"
  }
  seeds <- any(vapply(curves, function(cv) any(cv$n_seeds > 1), TRUE))
  what <- if (seeds) paste("mean", label, "over seeds") else label
  if (length(curves) == 1) {
    model <- names(curves)[[1]]
    last <- length(curves[[1]]$sizes)
    s <- paste0(
      if (single) paste0("Its ", what) else paste0(capitalise(what), " of ", st$code(model)),
      " on the test set ", change_of(curves[[1]]), " from ", at(model, 1), " with ", size_at(model, 1),
      " training documents to ", at(model, last), " with ", size_at(model, last), " (learning curve figure)"
    )
  } else {
    # the same smallest and largest size for every model: said once
    ends <- unique(lapply(curves, function(cv) cv$sizes[c(1, length(cv$sizes))]))
    one_range <- length(ends) == 1
    changes <- vapply(curves, change_of, "")
    items <- vapply(seq_along(curves), function(k) {
      model <- names(curves)[[k]]
      last <- length(curves[[model]]$sizes)
      n1 <- size_at(model, 1)
      n2 <- size_at(model, last)
      paste0(
        if (k == 1 || changes[[k]] != changes[[k - 1]]) paste0(changes[[k]], " "),
        "from ", at(model, 1), if (!one_range) paste0(" (", n1, " training documents)"),
        " to ", at(model, last), if (!one_range) paste0(" (", n2, ")"), " for ", st$code(model)
      )
    }, "")
    model1 <- names(curves)[[1]]
    range <- if (one_range) {
      paste0(
        "From ", big_num(curves[[model1]]$sizes[[1]]), " to ",
        big_num(curves[[model1]]$sizes[[length(curves[[model1]]$sizes)]]), " training documents, "
      )
    }
    s <- paste0(range, if (one_range) what else capitalise(what), " ", and_list(items), " (learning curve figure)")
  }
  refs <- coder_refs(x, metric)
  if (nrow(refs) == 0) {
    return(paste0(s, "."))
  }
  printed <- character()
  said_documents <- FALSE
  # "the zero-shot Cohen's kappa of `a` (0.39) and `b` (0.58)", or "that of `a`" once its value is given
  llm_items <- function(model, idx) {
    groups <- split(idx, factor(refs$shots[idx], levels = unique(refs$shots[idx]), exclude = NULL))
    and_list(vapply(groups, function(g) {
      systems <- refs$system[g]
      if (all(systems %in% printed)) {
        return(paste0(if (length(g) > 1) "those" else "that", " of ", and_list(vapply(systems, st$code, ""))))
      }
      sys <- systems[[1]]
      shots <- shots_text(refs$shots[[g[[1]]]], function(k) {
        st$int(k, src("coder_provenance", "/coder/few_shot", list(coder = sys)), paste0(model, "_vs_", sys, "_few_shot"))
      })
      named <- vapply(g, function(i) {
        sys_i <- refs$system[[i]]
        if (sys_i %in% printed) {
          return(st$code(sys_i))
        }
        printed <<- c(printed, sys_i)
        paste0(
          st$code(sys_i), " (",
          st$num(refs$estimate[[i]], src("evaluation_metrics", "estimate", list(system = sys_i), list(metric = metric)), paste0(model, "_vs_", sys_i)),
          ")"
        )
      }, "")
      paste0("the ", if (!is.na(shots)) paste0(shots, " "), label, " of ", and_list(named))
    }, ""))
  }
  clauses <- vapply(names(curves), function(model) {
    cv <- curves[[model]]
    reach <- vapply(refs$estimate, function(e) if (any(cv$means >= e)) min(cv$sizes[cv$means >= e]) else NA_real_, 1)
    ref_text <- character()
    for (z in sort(unique(reach[!is.na(reach)]))) {
      hit <- which(reach %in% z)
      ref_text <- c(ref_text, paste0(
        "reached ", llm_items(model, hit), " with ",
        st$int(z, src("learning_curve", "train_size", row = size_row(model, z)), paste0(model, "_reaches_", z)),
        if (!said_documents) " training documents"
      ))
      said_documents <<- TRUE
    }
    below <- which(is.na(reach))
    if (length(below) > 0) {
      ref_text <- c(ref_text, paste0("stayed below ", llm_items(model, below), " at every size"))
    }
    and_list(ref_text)
  }, "")
  if (length(curves) == 1) {
    return(paste0(s, "; it ", clauses[[1]], "."))
  }
  c(
    paste0(s, "."),
    paste0(paste(paste(vapply(names(curves), st$code, ""), clauses), collapse = "; "), ".")
  )
}

#' The LLM coders' estimate of `metric` (evaluation metrics) and the number of examples in their
#' prompts (`shots`, [coder_shots()])
#' @noRd
coder_refs <- function(x, metric) {
  m <- x$metrics
  coders <- llm_coders(x)
  if (is.null(m) || length(coders) == 0) {
    return(data.frame(system = character(), estimate = numeric(), shots = numeric()))
  }
  d <- as.data.frame(m[m$system %in% coders & m$metric == metric & !is.na(m$estimate), c("system", "estimate"), drop = FALSE])
  d$shots <- vapply(d$system, function(sys) coder_shots(x, sys), 1, USE.NAMES = FALSE)
  d
}

#' The number of worked examples in the prompt of the LLM coder `sys` (its record's
#' `coder$few_shot`), or NA where no coder record says
#' @noRd
coder_shots <- function(x, sys) {
  shots <- x$records$coders[[sys]]$coder$few_shot
  shots <- if (length(shots) == 1) suppressWarnings(as.numeric(shots)) else NA_real_
  if (is.na(shots)) NA_real_ else shots
}

#' "zero-shot", "3-shot", or NA for an unknown number of examples; `number` writes the count (a
#' ledger's `st$int` in the methods text)
#' @noRd
shots_text <- function(shots, number = function(k) as.character(k)) {
  if (is.na(shots)) {
    return(NA_character_)
  }
  if (shots == 0) "zero-shot" else paste0(number(shots), "-shot")
}

#' "The model trained on all 87 documents with seed 1 coded the corpus."
#' @noRd
corpus_model_sentence <- function(x, model, st) {
  p <- x$records$predictions[[model]]
  if (is.null(p) || is.null(p$artifact)) {
    return(character())
  }
  recs <- finetune_records_of(x, model)
  job <- Filter(function(f) grepl(paste0(dirname(f$path), "/"), paste0(p$artifact, "/"), fixed = TRUE), recs)
  if (length(job) == 0) {
    return(character())
  }
  f <- job[[1]]
  paste0(
    "The final model, which coded the corpus, was ", st$code(model), " trained on ",
    st$int(f$record$n_train, ft_src(f, "/n_train"), paste0(model, "_corpus_n_train")),
    " documents with seed ", st$int(f$record$seed, ft_src(f, "/seed"), paste0(model, "_corpus_seed")), "."
  )
}

#' Validation: main metrics with CIs of the final model and the LLM coders; the human ceiling; per class
#' @noRd
methods_validation <- function(x, st, metrics = NULL) {
  tbl <- x$metrics
  if (is.null(tbl) || nrow(tbl) == 0) {
    return(NULL)
  }
  wanted <- metrics %||% main_metrics(x)
  level <- ci_level(x)
  sys_all <- unique(tbl$system)
  first_sys <- names(x$records$evaluation)[1]
  n_boot <- unique(unlist(lapply(x$records$evaluation, function(r) r$n_boot)))
  has_ci <- any(!is.na(tbl$ci_low))
  s <- paste0(
    "Every system was scored against the gold labels of the test set",
    if (has_ci) {
      paste0(
        ", with ",
        if (!is.na(level)) paste0(st$pct(level, src("evaluation_record", "/ci_level", list(system = first_sys)), "ci_level", d = 0), " ") else "",
        "percentile bootstrap confidence intervals over documents",
        if (length(n_boot) == 1) paste0(" (", st$int(n_boot, src("evaluation_record", "/n_boot", list(system = first_sys)), "n_boot"), " resamples)")
      )
    },
    "."
  )
  finals <- final_models(x)
  coders <- intersect(llm_coders(x), sys_all)
  others <- setdiff(sys_all, c(finals, coders))
  ordered <- c(finals, coders, others)
  lead <- ordered[[1]]
  stats <- system_metrics_phrase(x, lead, wanted, st)
  n_lead <- x$records$evaluation[[lead]]$n
  if (!is.null(stats)) {
    role <- if (lead %in% finals) "The final model, " else if (lead %in% coders) "The LLM coder " else "The system "
    s <- c(s, paste0(
      role, st$code(lead), if (lead %in% finals) "," else "", " reached ", stats,
      if (!is.null(n_lead)) paste0(" on ", st$int(n_lead, src("evaluation_record", "/n", list(system = lead)), paste0(lead, "_n")), " test documents"),
      "."
    ))
  }
  s <- c(s, per_class_sentence(x, if (length(finals) > 0) finals[[1]] else ordered[[1]], st))
  s <- c(s, other_systems_sentence(x, setdiff(ordered, lead), finals, coders, wanted, n_lead, st))
  s <- c(s, ceiling_comparison(x, ordered, st))
  paste(s, collapse = " ")
}

#' "The other systems reached Cohen's kappa 0.54 [...] (`tfidf`) after fine-tuning and 0.39 [...] (`smollm2`) zero-shot."
#'
#' One metric for the rest (Cohen's kappa, else the first main metric); the table has them all.
#' @noRd
other_systems_sentence <- function(x, systems, finals, coders, wanted, n_lead, st) {
  if (length(systems) == 0) {
    return(character())
  }
  metric <- if ("cohen_kappa" %in% wanted) "cohen_kappa" else wanted[[1]]
  item <- function(sys) {
    r <- x$metrics[x$metrics$system == sys & x$metrics$metric == metric & !is.na(x$metrics$estimate), , drop = FALSE]
    if (nrow(r) == 0) {
      return(NA_character_)
    }
    s3 <- lapply(c("estimate", "ci_low", "ci_high"), function(col) src("evaluation_metrics", col, list(system = sys), list(metric = metric)))
    n <- x$records$evaluation[[sys]]$n
    paste0(
      st$ci(r$estimate[[1]], r$ci_low[[1]], r$ci_high[[1]], s3, paste0(sys, "_", metric)), " (", st$code(sys),
      if (!is.null(n) && !identical(as.numeric(n), as.numeric(n_lead %||% NA))) {
        paste0(", ", st$int(n, src("evaluation_record", "/n", list(system = sys)), paste0(sys, "_n")), " documents")
      },
      ")"
    )
  }
  zero_shot <- function(sys) isTRUE(as.numeric(x$records$coders[[sys]]$coder$few_shot) == 0)
  groups <- list(
    "after fine-tuning" = intersect(systems, finals),
    "zero-shot" = Filter(zero_shot, intersect(systems, coders)),
    "as LLM coders" = Filter(Negate(zero_shot), intersect(systems, coders)),
    other = setdiff(systems, c(finals, coders))
  )
  parts <- unlist(lapply(names(groups), function(g) {
    items <- vapply(groups[[g]], item, "")
    items <- items[!is.na(items)]
    if (length(items) == 0) NULL else paste0(and_list(items), if (g != "other") paste0(" ", g))
  }))
  if (length(parts) == 0) {
    return(character())
  }
  paste0(
    "The other ", if (length(systems) == 1) "system" else "systems", " reached ", st$esc(metric_prose(metric)), " ",
    paste(parts, collapse = "; "), " (main table)."
  )
}

#' The main metrics of a task: Python's headline metrics (`HEADLINE_SINGLE`, `HEADLINE_MULTI` of
#' llmcoder.metrics) that were recorded, else those with intervals, else all
#' @noRd
main_metrics <- function(x) {
  m <- x$metrics
  headline <- if (identical(x$task, "multi")) {
    c("hamming_loss", "jaccard_samples", "jaccard_gold_docs", "hamming_gold_docs", "micro_f1", "macro_f1")
  } else {
    c("accuracy", "macro_f1", "cohen_kappa")
  }
  hit <- intersect(headline, unique(m$metric))
  if (length(hit) > 0) {
    return(hit)
  }
  with_ci <- unique(m$metric[!is.na(m$ci_low)])
  if (length(with_ci) > 0) with_ci else unique(m$metric)
}

#' "an accuracy of 0.22 [0.17, 0.27], a macro-F1 of ... and Cohen's kappa of ..."
#' @noRd
system_metrics_phrase <- function(x, sys, wanted, st) {
  m <- x$metrics[x$metrics$system == sys & x$metrics$metric %in% wanted & !is.na(x$metrics$estimate), , drop = FALSE]
  if (nrow(m) == 0) {
    return(NULL)
  }
  m <- m[order(match(m$metric, wanted)), , drop = FALSE]
  items <- vapply(seq_len(nrow(m)), function(i) {
    r <- m[i, ]
    s3 <- lapply(c("estimate", "ci_low", "ci_high"), function(col) src("evaluation_metrics", col, list(system = sys), list(metric = r$metric)))
    paste0(st$esc(metric_prose(r$metric)), " ", st$ci(r$estimate, r$ci_low, r$ci_high, s3, paste0(sys, "_", r$metric)))
  }, "")
  and_list(items)
}

#' One sentence against the human ceiling: where the Cohen's kappa interval of each system lies against the
#' ceiling's ("The kappa interval of `a` overlaps that of the human ceiling; those of the other systems lie
#' entirely below it."), with the ceiling's value unless the verification paragraph gave it
#' @noRd
ceiling_comparison <- function(x, systems, st) {
  rel <- x$reliability
  if (is.null(rel) || is.null(x$metrics)) {
    return(character())
  }
  hc <- rel[rel$source %in% "human_ceiling_csv" & rel$coefficient %in% "cohen_kappa", , drop = FALSE]
  if (nrow(hc) != 1 || is.na(hc$ci_low)) {
    return(character())
  }
  k <- x$metrics[x$metrics$metric == "cohen_kappa" & x$metrics$system %in% systems & !is.na(x$metrics$ci_high), , drop = FALSE]
  if (nrow(k) == 0) {
    return(character())
  }
  k <- k[order(match(k$system, systems)), , drop = FALSE]
  where <- ifelse(k$ci_high < hc$ci_low, "below", ifelse(k$ci_low > hc$ci_high, "above", "overlap"))
  # the verification paragraph states the ceiling (ceiling_sentence) whenever it is written
  said <- !is.null(x$records$verification$n_documents)
  ceiling_text <- paste0(
    "that of the human ceiling",
    if (!said) {
      paste0(" (", ceiling_kappa_name(hc), " ", st$ci(
        hc$estimate, hc$ci_low, hc$ci_high,
        lapply(c("estimate", "ci_low", "ci_high"), function(col) src("human_ceiling_csv", col, row = list(coefficient = "cohen_kappa"))),
        "validation_ceiling_kappa"
      ), ")")
    }
  )
  verbs <- list(
    below = c("lies entirely below", "lie entirely below"), overlap = c("overlaps", "overlap"),
    above = c("lies entirely above", "lie entirely above")
  )
  kinds <- Filter(function(g) any(where == g), names(verbs))
  groups <- lapply(kinds, function(g) k$system[where == g])
  verb <- function(g, n) verbs[[g]][[if (n == 1) 1 else 2]]
  names_of <- function(who) and_list(vapply(who, st$code, ""))
  if (length(groups) == 1) {
    who <- groups[[1]]
    subject <- if (length(who) == 1) {
      paste("The kappa interval of", names_of(who))
    } else if (length(who) <= 3) {
      paste("The kappa intervals of", names_of(who))
    } else {
      "The kappa intervals of all systems"
    }
    return(paste0(subject, " ", verb(kinds[[1]], length(who)), " ", ceiling_text, "."))
  }
  # the smaller groups by name, the largest (the last of equals) as "the other systems"
  size <- vapply(groups, length, 1)
  rest <- max(which(size == max(size)))
  named <- setdiff(seq_along(groups), rest)
  parts <- vapply(seq_along(named), function(j) {
    g <- named[[j]]
    who <- groups[[g]]
    paste0(
      if (j == 1) "the kappa interval" else "that", if (length(who) > 1) "s", " of ", names_of(who), " ",
      verb(kinds[[g]], length(who)), " ", if (j == 1) ceiling_text else "it"
    )
  }, "")
  n_rest <- length(groups[[rest]])
  others <- paste0(
    if (n_rest == 1) "that of the other system " else "those of the other systems ", verb(kinds[[rest]], n_rest), " it"
  )
  paste0(capitalise(paste(c(parts, others), collapse = "; ")), ".")
}

#' "Cohen's kappa", or "mean pairwise Cohen's kappa" for three or more people
#' @noRd
ceiling_kappa_name <- function(hc) {
  if (isTRUE(hc$n_coders[[1]] > 2)) "mean pairwise Cohen's kappa" else "Cohen's kappa"
}

#' "Per-class F1 of `tfidf` ranged from 0.07 (`crime`) to 0.41 (`housing`)."
#'
#' Over the labels with test documents: a label absent from the test set (support 0) has F1 0 by
#' `zero_division`, not a measured F1, so it is named as absent, never as the minimum.
#' @noRd
per_class_sentence <- function(x, sys, st) {
  pc <- x$per_class
  if (is.null(pc)) {
    return(character())
  }
  mine <- pc[pc$system == sys, , drop = FALSE]
  present <- mine$support > 0 & !is.na(mine$support)
  d <- mine[present & !is.na(mine$f1), , drop = FALSE]
  if (nrow(d) < 2) {
    return(character())
  }
  absent <- mine$label[!present & !is.na(mine$support)]
  lo <- which.min(d$f1)
  hi <- which.max(d$f1)
  at <- function(i, name) {
    paste0(
      st$num(d$f1[[i]], src("evaluation_per_class", "f1", list(system = sys), list(label = d$label[[i]])), name),
      " (", st$code(d$label[[i]]), ")"
    )
  }
  none <- if (length(absent) > 0) {
    sources <- lapply(absent, function(l) src("evaluation_per_class", "support", list(system = sys), list(label = l)))
    paste0(
      "; the test set had ", st$note("no", 0, sources, paste0(sys, "_absent_labels")),
      " documents of ", and_list(vapply(absent, st$code, ""))
    )
  }
  paste0(
    "Per-class F1 of ", st$code(sys), " ranged from ", at(lo, paste0(sys, "_f1_min")), " to ",
    at(hi, paste0(sys, "_f1_max")), none, "."
  )
}

#' Bias checks: only what a test or an interval supports
#' @noRd
methods_bias <- function(x, st) {
  s <- c(
    bias_positional_sentence(x$bias$positional, st),
    bias_recall_sentence(x$bias$recall_asymmetry, st, ci_level(x)),
    bias_strata_sentences(x$bias$strata, st, ci_level(x))
  )
  if (length(s) == 0) NULL else paste(s, collapse = " ")
}

#' Positional bias: the binomial test of the first-listed label against its base rate
#' @noRd
bias_positional_sentence <- function(pos, st, alpha = 0.05) {
  if (is.null(pos) || nrow(pos) == 0 || !"p_value" %in% names(pos)) {
    return(character())
  }
  pos <- pos[!is.na(pos$p_value) & !is.na(pos$first_share), , drop = FALSE]
  if (nrow(pos) == 0) {
    return(character())
  }
  clause <- function(i) {
    r <- pos[i, ]
    row <- list(system = r$system)
    paste0(
      st$code(r$system), ": ", st$pct(r$first_share, src("bias_positional", "first_share", row = row), paste0(r$system, "_first_share")),
      " of codings against ", st$pct(r$first_base_rate, src("bias_positional", "first_base_rate", row = row), paste0(r$system, "_first_base_rate")),
      " expected, p ", format_p(r$p_value, src("bias_positional", "p_value", row = row), paste0(r$system, "_p_value"), st)
    )
  }
  # the test is two-sided: a significant share is a departure in its direction, above or below
  significant <- pos$p_value < alpha
  departures <- list(
    "more often than" = which(significant & pos$first_share > pos$first_base_rate),
    "less often than" = which(significant & pos$first_share < pos$first_base_rate)
  )
  unbiased <- setdiff(seq_len(nrow(pos)), unlist(departures))
  out <- character()
  for (direction in names(departures)) {
    rows <- departures[[direction]]
    if (length(rows) == 0) next
    out <- c(out, paste0(
      "Under rotated label orders, the first-listed label was chosen ", direction, " its base rate (binomial test; ",
      paste(vapply(rows, clause, ""), collapse = "; "), ")."
    ))
  }
  if (length(unbiased) > 0) {
    out <- c(out, paste0(
      "A binomial test found no preference for the first-listed label under rotated orders (",
      paste(vapply(unbiased, clause, ""), collapse = "; "), ")."
    ))
  }
  out
}

#' "p = 0.70" or "p < 0.001"
#' @noRd
format_p <- function(p, source, name, st) {
  if (p < 0.001) {
    return(st$note("< 0.001", p, source, name))
  }
  paste("=", st$num(p, source, name, d = if (p < 0.01) 3 else 2))
}

#' Recall gaps whose interval excludes zero (needs ci_low and ci_high in recall_asymmetry.csv): per
#' system, how many labels, naming the one furthest below the mean (or above it, when none is below);
#' the gaps themselves are left to bias/recall_asymmetry.csv
#' @noRd
bias_recall_sentence <- function(ra, st, level) {
  if (is.null(ra) || nrow(ra) == 0 || !all(c("ci_low", "ci_high") %in% names(ra))) {
    return(character())
  }
  ra <- ra[!is.na(ra$recall_gap) & ra$support > 0, , drop = FALSE]
  off <- !is.na(ra$ci_low) & !is.na(ra$ci_high) & (ra$ci_low > 0 | ra$ci_high < 0)
  systems <- unique(ra$system[off])
  if (length(systems) == 0) {
    return(character())
  }
  # the number of labels once when every system has the same; the direction only where it changes
  n_labels <- vapply(systems, function(sys) sum(ra$system == sys), 1)
  one_count <- length(unique(n_labels)) == 1
  direction <- vapply(systems, function(sys) if (any(ra$recall_gap[ra$system == sys & off] < 0)) "furthest below" else "furthest above", "")
  parts <- vapply(seq_along(systems), function(i) {
    sys <- systems[[i]]
    d <- ra[ra$system == sys & off, , drop = FALSE]
    below <- d$recall_gap < 0
    r <- if (any(below)) d[below, , drop = FALSE][which.min(d$recall_gap[below]), ] else d[which.max(d$recall_gap), ]
    labs <- ra$label[ra$system == sys]
    n_off <- st$int(nrow(d), src("bias_recall_asymmetry", "label", row = list(system = sys, label = d$label)), paste0(sys, "_n_recall_gaps"), how = "count")
    n_all <- st$int(length(labs), src("bias_recall_asymmetry", "label", row = list(system = sys, label = labs)), paste0(sys, "_n_recall_labels"), how = "count")
    paste0(
      n_off, if (i == 1 || !one_count) paste0(" of ", n_all, " labels"), " with ", st$code(sys), " (",
      if (i == 1 || direction[[i]] != direction[[i - 1]]) paste0(direction[[i]], ": "),
      st$code(r$label), ")"
    )
  }, "")
  paste0(
    "Recall differed from the mean recall over labels, with an interval excluding zero, for ",
    and_list(parts), "."
  )
}

#' Strata whose accuracy or kappa interval lies entirely below the overall estimate
#'
#' "Accuracy or Cohen's kappa had an interval entirely below the overall estimate in 4 of 140 stratum
#' estimates, checked without correction for multiple comparisons: `a` (overall accuracy 0.45 and
#' Cohen's kappa 0.39) in `year` = 2017 (0.25 [0.08, 0.42] and 0.15 [−0.00, 0.31]; n = 24) and ..."
#' @noRd
bias_strata_sentences <- function(strata, st, level) {
  if (is.null(strata) || nrow(strata) == 0) {
    return(character())
  }
  d <- strata[strata$metric %in% c("accuracy", "cohen_kappa"), , drop = FALSE]
  if (nrow(d) == 0) {
    return(character())
  }
  by <- unique(d$stratum)
  below <- d[d$below_overall %in% TRUE, , drop = FALSE]
  lvl <- "" # bias/strata.csv does not record the level of its intervals
  if (nrow(below) == 0) {
    return(paste0(
      "No value of ", and_list(vapply(by, st$code, "")), " had an accuracy or Cohen's kappa whose ", lvl,
      "interval lay entirely below the overall estimate."
    ))
  }
  metrics <- c("accuracy", "cohen_kappa")
  row_of <- function(r) list(system = r$system, stratum = r$stratum, value = r$value, metric = r$metric)
  systems <- unique(below$system)
  parts <- vapply(systems, function(sys) {
    mine <- below[below$system == sys, , drop = FALSE]
    used <- intersect(metrics, mine$metric)
    # the system's overall estimates once, in the order its cells give their metrics
    overall <- vapply(used, function(m) {
      r <- mine[mine$metric == m, , drop = FALSE][1, ]
      key <- paste(r$system, r$stratum, r$value, r$metric, sep = "_")
      paste(st$esc(metric_prose(m)), st$num(r$overall, src("bias_strata", "overall", row = row_of(r)), paste0(key, "_overall")))
    }, "")
    cells <- unique(mine[c("stratum", "value")])
    cell_text <- vapply(seq_len(nrow(cells)), function(i) {
      rows <- mine[mine$stratum == cells$stratum[[i]] & mine$value == cells$value[[i]], , drop = FALSE]
      rows <- rows[order(match(rows$metric, metrics)), , drop = FALSE]
      # a cell with every metric of the system names none (the overall estimates give the order)
      every <- identical(rows$metric, used)
      stats <- vapply(seq_len(nrow(rows)), function(j) {
        r <- rows[j, ]
        s3 <- lapply(c("estimate", "ci_low", "ci_high"), function(col) src("bias_strata", col, row = row_of(r)))
        key <- paste(r$system, r$stratum, r$value, r$metric, sep = "_")
        paste0(if (!every) paste0(st$esc(metric_prose(r$metric)), " "), st$ci(r$estimate, r$ci_low, r$ci_high, s3, key))
      }, "")
      n <- rows$n[[1]]
      paste0(
        st$code(cells$stratum[[i]]), " = ", st$esc(cells$value[[i]]), " (",
        if (every) and_list(stats) else paste(stats, collapse = ", "),
        if (!is.na(n)) paste0("; n = ", st$int(n, src("bias_strata", "n", row = row_of(rows[1, ])), paste(sys, cells$stratum[[i]], cells$value[[i]], "n", sep = "_"))),
        ")"
      )
    }, "")
    paste0(st$code(sys), " (overall ", and_list(overall), ") in ", and_list(cell_text))
  }, "")
  n_tests <- nrow(d)
  paste0(
    "Accuracy or Cohen's kappa had an ", lvl, "interval entirely below the overall estimate in ",
    st$int(nrow(below), src("bias_strata", "below_overall", row = list(metric = metrics, below_overall = "true")), "n_strata_below", how = "count"),
    " of ",
    st$int(n_tests, src("bias_strata", "metric", row = list(metric = metrics)), "n_strata_estimates", how = "count"),
    " stratum estimates, checked without correction for multiple comparisons: ",
    paste(parts, collapse = "; "), "."
  )
}

#' "A random split of the labelled documents stratified by label (train 60%, dev 10%, test 30%; seed 1)":
#' how the split was drawn, from split.json ("" without it)
#' @noRd
split_design_phrase <- function(rec, st) {
  if (is.null(rec) || is.null(rec$method)) {
    return("")
  }
  sp <- function(field) src("split_record", field)
  how <- switch(rec$method,
    per_class = "a random split of the labelled documents stratified by label",
    iterative = "a random split of the labelled documents stratified by label set with iterative stratification",
    random = "a simple random split of the labelled documents",
    NULL
  )
  if (is.null(how)) {
    return("")
  }
  shares <- vapply(c("train", "dev", "test"), function(k) {
    v <- rec$shares[[k]]
    if (is.null(v)) NA_character_ else paste(k, st$pct(v, sp(paste0("/shares/", k)), paste0("split_share_", k), d = 0))
  }, "")
  shares <- shares[!is.na(shares)]
  details <- c(
    if (identical(rec$method, "iterative")) "Sechidis et al. 2011",
    if (length(shares) > 0) paste(shares, collapse = ", "),
    if (!is.null(rec$seed)) paste("seed", st$int(rec$seed, sp("/seed"), "split_seed"))
  )
  paste0(
    st$note(capitalise(how), rec$method, sp("/method"), "split_method"),
    if (length(details) > 0) paste0(" (", paste(details, collapse = "; "), ")")
  )
}

#' Routing: the share of the corpus routed to people, by which measure
#' @noRd
methods_routing <- function(x, st) {
  preds <- Filter(function(p) !is.null(p$routed_docs), x$records$predictions)
  if (length(preds) == 0) {
    return(NULL)
  }
  by_measure <- c(
    max_prob = "the lowest top probability", margin = "the smallest margin between the two most probable labels",
    closest = "a label probability closest to its threshold"
  )
  s <- vapply(names(preds), function(m) {
    p <- preds[[m]]
    ps <- function(field) src("corpus_predictions_provenance", field, list(model = m))
    measure <- if (!is.null(p$route_by) && p$route_by %in% names(by_measure)) by_measure[[p$route_by]] else NULL
    paste0(
      st$code(m), " coded ", if (isFALSE(p$subset)) "the " else "", st$int(p$n_docs, ps("/n_docs"), paste0(m, "_n_docs")),
      if (isFALSE(p$subset)) " documents of the corpus" else " documents", "; the ",
      st$int(p$routed_docs, ps("/routed_docs"), paste0(m, "_routed_docs")),
      if (!is.null(p$route_share)) paste0(" (", st$pct(p$route_share, ps("/route_share"), paste0(m, "_route_share"), d = 0), ")"),
      if (!is.null(measure)) paste0(" with ", measure) else " least confident",
      if (!is.null(p$route_threshold)) paste0(" (below ", st$num(p$route_threshold, ps("/route_threshold"), paste0(m, "_route_threshold")), ")"),
      " were routed to human coding.",
      routing_accuracy_sentence(x$bias$routing, m, st)
    )
  }, "")
  paste(s, collapse = " ")
}

#' Accuracy of the corpus-coding model on the routed test documents and on the rest
#' @noRd
routing_accuracy_sentence <- function(routing, model, st) {
  if (is.null(routing) || nrow(routing) == 0) {
    return("")
  }
  d <- routing[routing$system == model & routing$metric == "accuracy", , drop = FALSE]
  if (!all(c("routed", "not routed") %in% d$routing)) {
    return("")
  }
  part <- function(group, words) {
    r <- d[d$routing == group, , drop = FALSE][1, ]
    row <- list(system = model, routing = group, metric = "accuracy")
    s3 <- lapply(c("estimate", "ci_low", "ci_high"), function(col) src("bias_routing", col, row = row))
    key <- paste(model, gsub(" ", "_", group), "accuracy", sep = "_")
    paste0(
      st$ci(r$estimate, r$ci_low, r$ci_high, s3, key), " on the ", sub("%n", st$int(r$n, src("bias_routing", "n", row = row), paste0(key, "_n")), words, fixed = TRUE)
    )
  }
  paste0(" Its accuracy was ", part("routed", "%n routed test documents"), " against ", part("not routed", "other %n"), ".")
}

#' Who the estimators are credited to, as the text cites them
#' @noRd
inference_citations <- c(
  ppi = "Angelopoulos et al.",
  dsl = "Egami et al."
)

#' Findings: surrogate, population, labelled sample, estimands and estimators, and the headline
#' estimates (naive against the corrected ones), from inference/summary.json and estimates.csv
#' @noRd
methods_findings <- function(x, st) {
  est <- x$inference
  if (is.null(est) || nrow(est) == 0) {
    return(NULL)
  }
  rec <- x$records$inference %||% list()
  rs <- function(field) src("inference_record", field)
  s <- character()
  # the surrogate and the population
  if (!is.null(rec$surrogate)) {
    kind <- switch(rec$surrogate_kind %||% "",
      finetuned = "the fine-tuned model ",
      llm_coder = "the LLM coder ",
      ""
    )
    population <- if (!is.null(rec$n_population)) {
      n_pop <- st$int(rec$n_population, rs("/n_population"), "inference_n_population")
      switch(rec$population %||% "",
        test = paste0(" for the ", n_pop, " documents of the test split (those outside its training data)"),
        corpus = paste0(" for all ", n_pop, " documents of the corpus"),
        paste0(" for ", n_pop, " documents")
      )
    }
    s <- c(s, paste0("The labels of ", kind, st$code(rec$surrogate), " were the surrogate labels", population, "."))
  }
  # the labelled sample
  if (!is.null(rec$n_sample)) {
    n_s <- st$int(rec$n_sample, rs("/n_sample"), "inference_n_sample")
    design <- function(text) st$note(text, rec$design, rs("/design"), "inference_design")
    stratum_col <- as.character(unlist(rec$strata))[1]
    drawn <- switch(rec$design %||% "",
      uniform = paste0("A ", design("simple random sample"), " of ", n_s),
      stratified = paste0(
        "A ", design("stratified random sample"), " of ", n_s,
        if (!is.na(stratum_col)) paste0(" (by ", st$code(stratum_col), ")")
      ),
      uncertainty = paste0(
        "A ", design("Poisson sample weighted towards the documents the surrogate was least sure of"), " (", n_s, " drawn",
        if (!is.null(rec$n_target)) paste0(", ", st$int(rec$n_target, rs("/n_target"), "inference_n_target"), " expected"), ")"
      ),
      paste0(
        "A sample of ", n_s,
        if (!is.null(rec$design)) paste0(" (", st$text(rec$design, rs("/design"), "inference_design"), " design)")
      )
    )
    verified <- identical(rec$labels_from, "verification")
    from <- if (verified) {
      paste0(
        "was drawn before verification and ", st$note("verified", rec$labels_from, rs("/labels_from"), "inference_labels_from"),
        if (isTRUE(rec$simulated)) " by a simulated verifier" else " by people",
        " on the same sheets as the training documents"
      )
    } else if (isTRUE(rec$simulated)) {
      "received simulated labels"
    } else if (identical(rec$labels_from, "gold")) {
      paste0("was labelled with the ", st$note("gold labels", rec$labels_from, rs("/labels_from"), "inference_labels_from"), " (coded by people)")
    } else if (!is.null(rec$labels_from)) {
      paste0("was labelled from ", st$text(rec$labels_from, rs("/labels_from"), "inference_labels_from"))
    } else {
      "was labelled"
    }
    if (identical(rec$design, "crossfit")) {
      k <- st$int(rec$crossfit, rs("/crossfit"), "inference_crossfit")
      which <- if (verified) "verified" else "gold"
      drawn <- paste0(
        "The ", n_s, " documents labelled for fine-tuning (", which, " labels), a random part of the corpus, were reused as the labelled sample by ",
        design("cross-fitting"), ": ", k, " models were trained, each without one of ", k,
        " folds of them, so that each labelled document was predicted by a model that had not seen its label, and every other document by all ", k
      )
      s <- c(s, paste0(drawn, "."))
    } else {
      s <- c(s, paste0(drawn, if (!is.null(rec$n_population)) " of them", ", each with a known inclusion probability, ", from, "."))
    }
  }
  s <- c(s, findings_estimands(x, st), findings_headline(x, st))
  paste(s[nzchar(s)], collapse = " ")
}

#' "The shares of `a` and `b`, overall and by `party`, and a linear regression (`...`) were estimated by four methods: ..."
#' @noRd
findings_estimands <- function(x, st) {
  est <- x$inference
  rec <- x$records$inference %||% list()
  shares <- unique(est$label[est$estimand == "prevalence"])
  strata <- as.character(unlist(rec$strata))
  if (length(strata) == 0) {
    strata <- unique(sub("=.*$", "", est$stratum[est$estimand == "prevalence" & est$stratum != ""]))
  }
  what <- character()
  # every label of a codebook of more than three: "the share of each label"
  codebook <- as.character(unlist(x$records$coders[[1]]$codebook$labels %||% x$records$evaluation[[1]]$labels))
  each <- length(shares) > 3 && setequal(shares, codebook)
  if (length(shares) > 0) {
    what <- c(what, paste0(
      if (each) "the share of each label" else paste0("the share", if (length(shares) > 1) "s", " of ", and_list(vapply(shares, st$code, ""))),
      if (length(strata) > 0 && any(est$stratum != "")) paste0(", overall and by ", and_list(vapply(strata, st$code, "")), ",")
    ))
  }
  if (any(est$estimand == "regression")) {
    formulas <- as.character(unlist(rec$formulas))
    model <- switch(rec$regression %||% "",
      linear = "linear regression",
      logistic = "logistic regression",
      "regression"
    )
    what <- c(what, paste0(
      if (length(formulas) > 1) paste0(model, "s") else paste("a", model),
      if (length(formulas) > 0) {
        paste0(" (", and_list(vapply(formulas, st$code, "")), ")")
      } else {
        paste0(" of the indicator of ", and_list(vapply(unique(est$label[est$estimand == "regression"]), st$code, "")))
      }
    ))
  }
  if (length(what) == 0) {
    return(character())
  }
  described <- c(
    naive = "naive (surrogate labels taken as true)",
    classical = "classical (labelled sample alone)",
    ppi = paste0("PPI++ (prediction-powered inference with power tuning; ", inference_citations[["ppi"]], ")"),
    dsl = paste0("DSL (design-based supervised learning; ", inference_citations[["dsl"]], ")")
  )
  methods <- if (length(rec$methods) > 0) as.character(unlist(rec$methods)) else inference_methods(est)
  known <- intersect(names(described), methods)
  how_many <- if (length(rec$methods) > 0) {
    st$int(length(methods), src("inference_record", "/methods"), "inference_n_methods", how = "length", words = TRUE)
  } else {
    count_words(length(methods))
  }
  corrected <- intersect(known, c("ppi", "dsl"))
  paste0(
    capitalise(paste(what, collapse = if (endsWith(what[[1]], ",")) " and " else ", and ")), " were estimated by ", how_many, " method", if (length(methods) != 1) "s",
    ": ", and_list(unname(described[known])),
    if (length(corrected) > 0) {
      paste0(", ", if (length(corrected) == 2) "the last two" else inference_method_label(corrected), " correcting the surrogate labels with the labelled sample")
    },
    "."
  )
}

#' The headline estimates: each non-intercept coefficient, or each label's overall share, by the naive,
#' PPI++ and DSL estimators; then one sentence on the terms whose naive interval excludes a corrected
#' estimate (none when no interval does)
#' @noRd
findings_headline <- function(x, st) {
  est <- x$inference
  shown <- intersect(c("naive", "ppi", "dsl"), est$method)
  if (!"naive" %in% shown || length(shown) < 2) {
    return(character())
  }
  reg <- est[est$estimand == "regression" & est$term != "Intercept" & est$method %in% shown, , drop = FALSE]
  # a (label, term, method) that two formulas share cannot be traced to one row: left to the table
  reg_key <- paste(reg$label, reg$term, reg$method, sep = "\001")
  reg <- reg[!reg_key %in% reg_key[duplicated(reg_key)], , drop = FALSE]
  regression <- nrow(reg) > 0
  d <- if (regression) {
    reg
  } else {
    est[est$estimand == "prevalence" & est$stratum == "" & est$method %in% shown, , drop = FALSE]
  }
  d <- d[!is.na(d$estimate), , drop = FALSE]
  if (nrow(d) == 0) {
    return(character())
  }
  d$item <- if (regression) paste(d$label, d$term, sep = "\001") else d$label
  # the text names at most two items, those whose interval excludes zero under some estimator (largest
  # PPI++/DSL estimate in size first), or else the largest one; the rest are counted and left to the table
  picked <- findings_items(d)
  left_out <- setdiff(unique(d$item), picked)
  d <- d[d$item %in% picked, , drop = FALSE]
  d <- d[order(match(d$item, picked)), , drop = FALSE]
  # a share as a percentage, with a minus sign where an interval reaches below zero
  pct <- function(v, source, name) {
    st$note(paste0(st$num_text(100 * v, 1), st$pct_sign), as.numeric(v), source, name)
  }
  value <- function(r) {
    row <- if (regression) {
      list(estimand = "regression", label = r$label, term = r$term, method = r$method)
    } else {
      list(estimand = "prevalence", label = r$label, stratum = "", method = r$method)
    }
    s3 <- lapply(c("estimate", "ci_low", "ci_high"), function(col) src("inference_estimates_csv", col, row = row))
    name <- paste(c("inference", r$method, r$label, if (regression) r$term), collapse = "_")
    if (regression) { # a coefficient with one decimal more than the text's statistics: they are small
      return(st$ci(r$estimate, r$ci_low, r$ci_high, s3, name, d = st$digits + 1))
    }
    e <- pct(r$estimate, s3[[1]], name)
    if (is.na(r$ci_low) || is.na(r$ci_high)) {
      return(e)
    }
    paste0(e, " [", pct(r$ci_low, s3[[2]], paste0(name, "_ci_low")), ", ", pct(r$ci_high, s3[[3]], paste0(name, "_ci_high")), "]")
  }
  # "0.02 [...] naive, 0.15 [...] by PPI++ and 0.15 [...] by DSL" for one item
  by_method <- function(di) {
    di <- di[order(match(di$method, shown)), , drop = FALSE]
    and_list(vapply(seq_len(nrow(di)), function(i) {
      r <- di[i, ]
      paste0(value(r), if (r$method == "naive") " naive" else paste0(" by ", inference_method_label(r$method)))
    }, ""))
  }
  # which corrected estimates lie outside the naive interval, by item
  excluded <- lapply(split(d, factor(d$item, levels = unique(d$item))), function(di) {
    naive <- di[di$method == "naive", , drop = FALSE]
    if (nrow(naive) != 1 || is.na(naive$ci_low) || is.na(naive$ci_high)) {
      return(character())
    }
    corr <- di[di$method != "naive", , drop = FALSE]
    corr$method[corr$estimate < naive$ci_low | corr$estimate > naive$ci_high]
  })
  name_of <- function(it) {
    r1 <- d[d$item == it, , drop = FALSE][1, ]
    if (regression) st$code(r1$term) else st$code(r1$label)
  }
  out <- character()
  if (regression) {
    labs <- unique(d$label)
    for (lab in labs) {
      items <- unique(d$item[d$label == lab])
      phrases <- vapply(seq_along(items), function(i) {
        paste0(if (i == 1) "the coefficient of " else "that of ", name_of(items[[i]]), if (i == 1) " was " else ", ", by_method(d[d$item == items[[i]], , drop = FALSE]))
      }, "")
      # one regression in the text: its formula above names the outcome
      regressions <- unique(est$label[est$estimand == "regression"])
      out <- c(out, paste0(
        "In the regression", if (length(regressions) > 1) paste0(" of ", st$code(lab)), ", ",
        paste(phrases, collapse = "; "), "."
      ))
    }
  } else {
    items <- unique(d$item)
    phrases <- vapply(seq_along(items), function(i) {
      paste0(if (i == 1) "the share of " else "that of ", name_of(items[[i]]), if (i == 1) " was " else ", ", by_method(d[d$item == items[[i]], , drop = FALSE]))
    }, "")
    out <- c(out, paste0("Overall, ", paste(phrases, collapse = "; "), "."))
  }
  if (length(left_out) > 0) {
    what <- if (regression) "coefficient" else "share"
    one <- length(left_out) == 1
    others <- if (one) {
      paste("the other", what)
    } else if (length(left_out) <= 9) {
      paste0("the ", count_words(length(left_out)), " other ", what, "s")
    } else {
      paste0("the other ", what, "s")
    }
    if (regression && all(vapply(left_out, function(it) findings_contains_zero(est, it), TRUE))) {
      # "...; every estimator's interval of the three other coefficients (findings table) contained zero."
      out[[length(out)]] <- paste0(
        sub("\\.$", "", out[[length(out)]]), "; every estimator's interval of ", others, " (findings table) contained zero."
      )
    } else {
      out <- c(out, paste0(capitalise(others), if (one) " is" else " are", " in the findings table."))
    }
  }
  hit <- Filter(length, excluded)
  if (length(hit) > 0) {
    # items with the same corrected estimators outside the naive interval share one phrase
    sets <- vapply(hit, function(m) paste(m, collapse = " "), "")
    phrases <- vapply(unique(sets), function(set) {
      m <- hit[[which(sets == set)[[1]]]]
      paste0(
        "the ", and_list(inference_method_label(m)), " estimate", if (length(m) > 1) "s", " of ",
        and_list(vapply(names(hit)[sets == set], name_of, ""))
      )
    }, "")
    out <- c(out, paste0("The naive interval", if (length(hit) > 1) "s", " excluded ", and_list(phrases), "."))
  }
  paste(out, collapse = " ")
}

#' The items (label, or label and term) the findings text names: those with an interval that excludes
#' zero under some estimator before the others, each group by the largest corrected estimate in size
#' @noRd
findings_items <- function(d, max_items = 2) {
  items <- unique(d$item)
  excl <- vapply(items, function(it) {
    di <- d[d$item == it, , drop = FALSE]
    any(!is.na(di$ci_low) & !is.na(di$ci_high) & (di$ci_low > 0 | di$ci_high < 0))
  }, TRUE)
  size <- vapply(items, function(it) {
    di <- d[d$item == it & d$method != "naive", , drop = FALSE]
    if (nrow(di) == 0) 0 else max(abs(di$estimate), na.rm = TRUE)
  }, 1)
  ordered <- items[order(!excl, -size)]
  # the items an interval sets apart from zero; when none is, the largest one as the example
  utils::head(ordered, if (any(excl)) min(max_items, sum(excl)) else 1)
}

#' Whether every estimator's interval of a regression item ("label\001term") contains zero
#' @noRd
findings_contains_zero <- function(est, item) {
  parts <- strsplit(item, "\001", fixed = TRUE)[[1]]
  di <- est[est$estimand == "regression" & est$label == parts[[1]] & est$term == parts[[2]], , drop = FALSE]
  all(!is.na(di$ci_low) & !is.na(di$ci_high) & di$ci_low <= 0 & di$ci_high >= 0)
}

#' Limitations: what was simulated; coders scored on part of the test set
#' @noRd
methods_limitations <- function(x, st) {
  s <- character()
  v <- x$records$verification
  if (isTRUE(v$simulated)) {
    s <- c(s, paste0(
      "The verification was simulated: software, not people, made the keep-or-reject decisions",
      if (isTRUE(v$adjudication$simulated)) " and the adjudications",
      ", so the verifiers' agreement and the human ceiling describe the simulation, not human coders."
    ))
  }
  n <- vapply(x$records$evaluation, function(r) as.numeric(r$n %||% NA), 1)
  if (length(n) > 1 && any(n < max(n, na.rm = TRUE), na.rm = TRUE)) {
    full <- names(n)[which.max(n)]
    few <- names(n)[!is.na(n) & n < max(n, na.rm = TRUE)]
    s <- c(s, paste0(
      and_list(vapply(few, st$code, "")), if (length(few) > 1) " were" else " was", " scored only on the ",
      and_list(vapply(few, function(sys) st$int(n[[sys]], src("evaluation_record", "/n", list(system = sys)), paste0(sys, "_n_limit")), "")),
      " of the ", st$int(max(n, na.rm = TRUE), src("evaluation_record", "/n", list(system = full)), "n_test_limit"),
      " test documents ", if (length(few) > 1) "they" else "it", " coded."
    ))
  }
  if (length(s) == 0) NULL else paste(s, collapse = " ")
}

#' Software: the llmcoder version and git revision that computed the evaluation
#' @noRd
methods_software <- function(x, st) {
  prov <- x$records$evaluation_provenance
  if (length(prov) == 0) {
    return(NULL)
  }
  version <- unique(unlist(lapply(prov, function(p) p$llmcoder_version)))
  git <- unique(unlist(lapply(prov, function(p) p$git_revision)))
  if (length(version) == 0) {
    return(NULL)
  }
  sys <- names(prov)[[1]]
  s <- paste0(
    "Results were computed with llmcoder ",
    if (length(version) == 1) st$text(version, src("evaluation_provenance", "/llmcoder_version", list(system = sys)), "llmcoder_version") else st$esc(and_list(version))
  )
  if (length(git) == 1) {
    s <- paste0(s, " (git ", st$hash(git, src("evaluation_provenance", "/git_revision", list(system = sys)), "git_revision", n = 10), ")")
  }
  paste0(s, ".")
}

#' Appendix: the system message and prompt template of each LLM coder (once per distinct template)
#' @noRd
methods_appendix <- function(x, st) {
  coders <- x$records$coders
  has <- Filter(function(r) !is.null(r$prompt_template), coders)
  if (length(has) == 0) {
    return(NULL)
  }
  key <- vapply(has, function(r) paste(r$prompt_template_sha256 %||% r$prompt_template, r$coder$system %||% ""), "")
  first <- !duplicated(key)
  blocks <- vapply(which(first), function(i) {
    r <- has[[i]]
    who <- names(has)[key == key[[i]]]
    verbatim <- function(text) {
      if (st$format == "latex") {
        paste0("\\begin{verbatim}\n", text, "\n\\end{verbatim}")
      } else {
        paste0("```text\n", text, "\n```")
      }
    }
    paste(c(
      paste0(
        "Prompt of ", and_list(vapply(who, st$code, "")),
        if (!is.null(r$prompt_template_sha256)) paste0(" (template SHA-256 ", st$code(substr(r$prompt_template_sha256, 1, 12)), ")"),
        ". The codebook's instructions, labels and examples fill the placeholders."
      ),
      if (!is.null(r$coder$system) && nzchar(r$coder$system)) c("System message:", verbatim(r$coder$system)),
      "Template:", verbatim(r$prompt_template)
    ), collapse = "\n\n")
  }, "")
  head <- if (st$format == "latex") "\\subsection*{Appendix: prompts}" else "### Appendix: prompts"
  paste(c(head, blocks), collapse = "\n\n")
}

# --- helpers ---------------------------------------------------------------------------------

#' "a", "a and b", "a, b and c"
#' @noRd
and_list <- function(x) {
  x <- as.character(x)
  if (length(x) <= 1) {
    return(paste(x, collapse = ""))
  }
  paste(paste(x[-length(x)], collapse = ", "), "and", x[[length(x)]])
}

#' First letter upper case
#' @noRd
capitalise <- function(s) {
  paste0(toupper(substr(s, 1, 1)), substring(s, 2))
}

#' Escape LaTeX special characters in text
#' @noRd
escape_latex <- function(x) {
  x <- as.character(x)
  x <- gsub("\\", "\001", x, fixed = TRUE)
  x <- gsub("([&%$#_{}])", "\\\\\\1", x)
  x <- gsub("~", "\\textasciitilde{}", x, fixed = TRUE)
  x <- gsub("^", "\\textasciicircum{}", x, fixed = TRUE)
  gsub("\001", "\\textbackslash{}", x, fixed = TRUE)
}
