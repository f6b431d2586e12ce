#' Write a methods section from the recorded results
#'
#' Writes the methods text of a study from its results files and provenance
#' records only: every number and name in it is read from a named field of
#' `x` (see [read_results()]), and a sentence whose facts are not recorded
#' is left out rather than guessed.
#'
#' Paragraphs, each written only when its facts are present, and the fields
#' they read:
#' \enumerate{
#'   \item `codebook`: name, labels, task and SHA-256 of the codebook
#'     (`records$coders[[coder]]$codebook`; else the `labels` of an
#'     evaluation record and the task of the results);
#'   \item `coders`: for each LLM coder (`records$coders[[coder]]`), the
#'     model (`model$model`), its revision (`model$revision`) or weights
#'     hash (`model$gguf_sha256`), the prompt template hash
#'     (`prompt_template_sha256`), temperature and seed (`coder$temperature`,
#'     `coder$seed`) and, for an HTTP coder, the maximum output tokens
#'     (`coder$http_max_tokens`);
#'   \item `gold`: the number of test documents each coder was scored on
#'     (`records$evaluation[[system]]$n`);
#'   \item `verification`: the human verification
#'     (`records$verification`: `coders`, `simulated`, `n_documents`,
#'     `n_overlap_documents`, `n_decisions`, `n_rejected`, `n_supplied`,
#'     `n_adjudicated`, `n_verified`);
#'   \item `human_human`: agreement of the human verifiers (the
#'     `reliability` rows of `verify/ingest/reliability.csv`, all labels;
#'     "simulated verifiers" when `records$verification$simulated`);
#'   \item `human_ceiling`: agreement of the people's own labels on the
#'     documents two or more of them verified, with the range of their
#'     pairwise kappas (`verify/ingest/human_ceiling.csv`, single-label);
#'   \item `other_agreement`: agreement of each LLM coder with gold and of
#'     the LLM coders among themselves (`reliability/coders_vs_gold.csv`);
#'   \item `validation`: the metrics of each system with their confidence
#'     intervals (`metrics`), the interval level and bootstrap resamples
#'     (`records$evaluation[[system]]$ci_level`, `n_boot`);
#'   \item `per_class`: the range of per-class F1 of each system
#'     (`per_class`);
#'   \item `bias`: the bias checks (`bias$positional`,
#'     `bias$recall_asymmetry`, `bias$strata`);
#'   \item `verification_flags`: verification sheets accepted with a flag
#'     and sheets not returned (`records$verification$flags`,
#'     `records$verification$coders_missing`);
#'   \item `software`: the llmcoder version and git revision that computed
#'     the evaluation (`records$evaluation_provenance[[system]]`).
#' }
#' The agreement sentences name percent agreement, Cohen's kappa,
#' Krippendorff's alpha and Gwet's AC1; [reliability_table()] has every
#' coefficient.
#'
#' @param x An `llmcoder_results` object from [read_results()].
#' @param format `"markdown"` or `"latex"`.
#' @param digits Decimals of the reported statistics.
#' @param metrics Metrics to report for each system, in order. `NULL`
#'   reports the headline metrics (those with confidence intervals), or all
#'   when none has one.
#' @param heading Whether to start with a "Methods" heading.
#'
#' @return An `llmcoder_methods` object: the text (one string), with
#'   `format`, `facts` (the values used, by paragraph, for checking) and
#'   `provenance` attributes. Print it, or save it with
#'   `writeLines(format(m), path)`.
#' @seealso [read_results()], [metrics_table()]
#' @examples
#' \dontrun{
#' cat(methods_section(read_results("results/demo")))
#' }
#' @export
methods_section <- function(x,
                            format = c("markdown", "latex"),
                            digits = 2,
                            metrics = NULL,
                            heading = TRUE) {
  check_results(x)
  format <- match.arg(format)
  check_digits(digits)
  style <- methods_style(format, digits)
  writers <- list(
    codebook = methods_codebook,
    coders = methods_coders,
    gold = methods_gold,
    verification = methods_verification,
    human_human = methods_human_agreement,
    human_ceiling = methods_human_ceiling,
    other_agreement = methods_coder_agreement,
    validation = function(x, style) methods_validation(x, style, metrics),
    per_class = methods_per_class,
    bias = methods_bias,
    verification_flags = methods_verification_flags,
    software = methods_software
  )
  paras <- Filter(Negate(is.null), lapply(writers, function(write) write(x, style)))

  head <- if (isTRUE(heading)) {
    if (format == "latex") "\\section*{Methods}" else "## Methods"
  }
  text <- paste(c(head, vapply(paras, function(p) p$text, "")), collapse = "\n\n")
  structure(
    text,
    class = "llmcoder_methods",
    format = format,
    facts = lapply(paras, function(p) p$facts),
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

# --- the paragraphs ------------------------------------------------------------------------------
# Each takes the results and the style, and returns NULL (no facts recorded) or
# list(text = <the paragraph>, facts = <the values it states>).

#' How text is marked up: escaping, code, numbers
#' @noRd
methods_style <- function(format, digits) {
  esc <- if (format == "latex") escape_latex else identity
  list(
    format = format,
    digits = digits,
    esc = esc,
    code = function(s) {
      if (format == "latex") paste0("\\texttt{", escape_latex(s), "}") else paste0("`", s, "`")
    },
    num = function(v) fmt_num(v, digits)
  )
}

#' A paragraph and its facts
#' @noRd
paragraph <- function(text, facts) {
  list(text = text, facts = facts)
}

#' Codebook: name, number of labels, single- or multi-label, SHA-256
#' @noRd
methods_codebook <- function(x, style) {
  cb <- x$records$coders[[1]]$codebook
  labels <- cb$labels %||% x$records$evaluation[[1]]$labels
  n_labels <- if (length(labels) > 0) length(labels)
  name <- cb$name
  sha <- cb$sha256 %||% x$records$sheets$codebook_sha256
  task <- if (!is.na(x$task)) x$task else cb$task
  if (is.null(name) && is.null(n_labels)) {
    return(NULL)
  }
  s <- if (!is.null(name)) {
    paste0("Documents were coded with the codebook \u201c", style$esc(name), "\u201d")
  } else {
    paste("Documents were coded with a codebook of", n_labels, "labels")
  }
  details <- c(
    if (!is.null(n_labels) && !is.null(name)) paste(n_labels, "labels"),
    if (identical(task, "single")) "one label per document",
    if (identical(task, "multi")) "any number of labels per document",
    if (!is.null(sha)) paste("SHA-256", style$code(short_hash(sha)))
  )
  if (length(details) > 0) s <- paste0(s, " (", paste(details, collapse = "; "), ")")
  paragraph(
    paste0(s, "."),
    list(name = name, n_labels = n_labels, labels = labels, task = task, sha256 = sha)
  )
}

#' LLM coders: model, revision or weights hash, prompt hash, temperature, seed
#' @noRd
methods_coders <- function(x, style) {
  coders <- x$records$coders
  if (length(coders) == 0) {
    return(NULL)
  }
  facts <- lapply(coders, function(rec) {
    list(
      model = rec$model$model,
      kind = rec$model$kind,
      revision = rec$model$revision,
      weights_sha256 = rec$model$gguf_sha256,
      prompt_sha256 = rec$prompt_template_sha256,
      temperature = rec$coder$temperature,
      max_output_tokens = if (identical(rec$coder$backend, "http")) rec$coder$http_max_tokens,
      seed = rec$coder$seed
    )
  })
  sentences <- vapply(names(coders), function(name) {
    coder_sentence(name, facts[[name]], style)
  }, character(1))
  keep <- !is.na(sentences)
  if (!any(keep)) {
    return(NULL)
  }
  paragraph(paste(sentences[keep], collapse = " "), facts[keep])
}

#' "The coder `x` is <model> (...), run with ...", or NA when nothing is recorded
#' @noRd
coder_sentence <- function(name, f, style) {
  parts <- c(
    if (!is.null(f$revision)) paste("revision", style$code(short_hash(f$revision))),
    if (!is.null(f$weights_sha256)) paste("weights SHA-256", style$code(short_hash(f$weights_sha256)))
  )
  settings <- c(
    if (!is.null(f$prompt_sha256)) paste("prompt SHA-256", style$code(short_hash(f$prompt_sha256))),
    if (!is.null(f$temperature)) paste("temperature", format(f$temperature)),
    if (!is.null(f$max_output_tokens)) paste("at most", f$max_output_tokens, "output tokens"),
    if (!is.null(f$seed)) paste("seed", f$seed)
  )
  if (is.null(f$model) && length(settings) == 0) {
    return(NA_character_)
  }
  s <- paste0("The coder ", style$code(name))
  if (!is.null(f$model)) {
    s <- paste0(s, " is ", style$esc(as.character(f$model)))
    if (length(parts) > 0) s <- paste0(s, " (", paste(parts, collapse = ", "), ")")
    if (length(settings) > 0) s <- paste0(s, ", run with ", paste(settings, collapse = ", "))
  } else {
    s <- paste0(s, " was run with ", paste(settings, collapse = ", "))
  }
  paste0(s, ".")
}

#' Gold standard: the test documents each coder was scored on
#' @noRd
methods_gold <- function(x, style) {
  n <- unlist(lapply(x$records$evaluation, function(r) r$n))
  if (length(n) == 0) {
    return(NULL)
  }
  big <- function(v) format(v, big.mark = ",", trim = TRUE)
  text <- if (length(unique(n)) == 1) {
    paste0("Every coder was validated against a gold standard of ", big(n[[1]]), " documents.")
  } else {
    each <- paste0(vapply(n, big, ""), " (", vapply(names(n), style$code, ""), ")")
    paste0("Coders were validated against a gold standard of ", and_list(each), " documents.")
  }
  paragraph(text, list(n = n))
}

#' Human verification: who verified how many documents, with what decisions
#' @noRd
methods_verification <- function(x, style) {
  v <- x$records$verification
  if (is.null(v) || is.null(v$n_documents)) {
    return(NULL)
  }
  people <- as.character(unlist(v$coders))
  simulated <- isTRUE(v$simulated)
  n_people <- length(people)
  who <- paste(n_people, if (simulated) "simulated verifier" else "person")
  if (n_people != 1) who <- paste(n_people, if (simulated) "simulated verifiers" else "people")
  if (n_people > 0) who <- paste0(who, " (", and_list(vapply(people, style$code, "")), ")")
  s <- paste0(
    "The labels the LLM coders proposed for ", v$n_documents, " documents were verified",
    if (n_people > 0) paste0(" by ", who),
    if (!is.null(v$n_overlap_documents)) paste0(", ", v$n_overlap_documents, " documents by two or more")
  )
  counts <- c(
    if (!is.null(v$n_decisions)) paste(v$n_decisions, "decisions"),
    if (!is.null(v$n_rejected)) paste(v$n_rejected, "rejections"),
    if (!is.null(v$n_supplied)) paste(v$n_supplied, "labels supplied"),
    if (isTRUE(v$n_adjudicated > 0)) paste(v$n_adjudicated, "documents adjudicated")
  )
  if (length(counts) > 0) s <- paste0(s, ": ", and_list(counts))
  s <- paste0(s, ".")
  if (!is.null(v$n_verified)) {
    s <- paste0(s, " In all, ", v$n_verified, " documents have a verified label.")
  }
  paragraph(s, list(
    coders = people, simulated = simulated, n_documents = v$n_documents,
    n_overlap_documents = v$n_overlap_documents, n_decisions = v$n_decisions,
    n_rejected = v$n_rejected, n_supplied = v$n_supplied, n_adjudicated = v$n_adjudicated,
    n_verified = v$n_verified
  ))
}

#' Coefficients named in the agreement sentences
#' @noRd
agreement_in_text <- c("percent_agreement", "cohen_kappa", "krippendorff_alpha", "gwet_ac1")

#' Human-human agreement: the verifiers' reliability over all labels
#' @noRd
methods_human_agreement <- function(x, style) {
  rel <- x$reliability
  if (is.null(rel)) {
    return(NULL)
  }
  hh <- rel[rel$source %in% "verifier_reliability_csv" & rel$coefficient %in% agreement_in_text, , drop = FALSE]
  if (any(hh$scope %in% "all labels")) {
    hh <- hh[hh$scope %in% "all labels", , drop = FALSE] # the per-label rows stay in the table
  }
  if (nrow(hh) == 0) {
    return(NULL)
  }
  # the verifiers of a demo are simulated: the sentence says so rather than calling them human
  who <- if (isTRUE(x$records$verification$simulated)) "Simulated verifiers" else "Human coders"
  paragraph(
    paste0(who, " agreed with each other with ", agreement_clauses(hh, style$digits, style$esc), "."),
    hh
  )
}

#' The human ceiling: agreement of the people's own labels on shared documents
#' @noRd
methods_human_ceiling <- function(x, style) {
  rel <- x$reliability
  if (is.null(rel)) {
    return(NULL)
  }
  hc <- rel[rel$source %in% "human_ceiling_csv" & rel$coefficient %in% agreement_in_text, , drop = FALSE]
  if (nrow(hc) == 0) {
    return(NULL)
  }
  range <- rel[rel$source %in% "human_ceiling_csv" &
    rel$coefficient %in% c("pairwise_kappa_min", "pairwise_kappa_max"), , drop = FALSE]
  spread <- if (nrow(range) == 2 && !identical(range$estimate[[1]], range$estimate[[2]])) {
    paste0(
      " (pairwise Cohen's kappa from ", style$num(min(range$estimate)), " to ",
      style$num(max(range$estimate)), ")"
    )
  } else {
    ""
  }
  hc$comparison <- rep("labels of two or more people", nrow(hc))
  paragraph(
    paste0(
      "On the documents two or more people verified, their own labels (the proposal kept, or the ",
      "right label supplied) agreed with ", agreement_clauses(hc, style$digits, style$esc), spread,
      ": the human ceiling against which a coder's agreement with gold is read."
    ),
    list(ceiling = hc, pairwise = range)
  )
}

#' Agreement of the LLM coders with gold and among themselves
#' @noRd
methods_coder_agreement <- function(x, style) {
  rel <- x$reliability
  if (is.null(rel)) {
    return(NULL)
  }
  other <- rel[rel$source %in% "coders_vs_gold" & rel$coefficient %in% agreement_in_text, , drop = FALSE]
  if (nrow(other) == 0) {
    return(NULL)
  }
  paragraph(
    paste0(
      "Agreement between coders: ",
      agreement_clauses(other, style$digits, style$esc, with_pair = TRUE), "."
    ),
    other
  )
}

#' Validation metrics of each system with their confidence intervals
#' @noRd
methods_validation <- function(x, style, metrics = NULL) {
  tbl <- x$metrics
  if (is.null(tbl) || nrow(tbl) == 0) {
    return(NULL)
  }
  systems <- unique(tbl$system)
  sentences <- vapply(systems, function(sys) {
    m <- tbl[tbl$system == sys & !is.na(tbl$estimate), , drop = FALSE]
    if (!is.null(metrics)) {
      m <- m[m$metric %in% metrics, , drop = FALSE]
      m <- m[order(match(m$metric, metrics)), , drop = FALSE]
    } else if (any(!is.na(m$ci_low))) {
      m <- m[!is.na(m$ci_low), , drop = FALSE] # the headline metrics: those with intervals
    }
    if (nrow(m) == 0) {
      return(NA_character_)
    }
    items <- paste0(
      style$esc(metric_label(m$metric)), " ", fmt_ci(m$estimate, m$ci_low, m$ci_high, style$digits)
    )
    paste0(style$code(sys), ": ", paste(items, collapse = ", "))
  }, character(1))
  sentences <- sentences[!is.na(sentences)]
  if (length(sentences) == 0) {
    return(NULL)
  }
  level <- ci_level(x)
  n_boot <- unique(unlist(lapply(x$records$evaluation, function(r) r$n_boot)))
  ci_text <- if (any(!is.na(tbl$ci_low))) {
    paste0(
      " (brackets: ",
      if (!is.na(level)) paste0(round(100 * level), style$esc("%"), " ") else "",
      "percentile bootstrap confidence intervals over documents",
      if (length(n_boot) == 1) paste0(", ", format(n_boot, big.mark = ","), " resamples"),
      ")"
    )
  } else {
    ""
  }
  paragraph(
    paste0("Agreement with the gold standard", ci_text, " was ", paste(sentences, collapse = "; "), "."),
    list(metrics = tbl, ci_level = level, n_boot = n_boot)
  )
}

#' Range of per-class F1 of each system
#' @noRd
methods_per_class <- function(x, style) {
  pc <- x$per_class
  if (is.null(pc) || nrow(pc) == 0) {
    return(NULL)
  }
  sentences <- vapply(unique(pc$system), function(sys) {
    d <- pc[pc$system == sys & !is.na(pc$f1), , drop = FALSE]
    if (nrow(d) < 2) {
      return(NA_character_)
    }
    lo <- which.min(d$f1)
    hi <- which.max(d$f1)
    paste0(
      "from ", style$num(d$f1[lo]), " (", style$esc(d$label[lo]), ") to ", style$num(d$f1[hi]),
      " (", style$esc(d$label[hi]), ") for ", style$code(sys)
    )
  }, character(1))
  sentences <- sentences[!is.na(sentences)]
  if (length(sentences) == 0) {
    return(NULL)
  }
  paragraph(paste0("Per-class F1 ranged ", paste(sentences, collapse = "; "), "."), pc)
}

#' Bias checks: positional bias, recall asymmetry, strata
#' @noRd
methods_bias <- function(x, style) {
  clauses <- c(
    bias_positional_clauses(x$bias$positional, style),
    bias_recall_clauses(x$bias$recall_asymmetry, style),
    bias_strata_clause(x$bias$strata, style)
  )
  if (length(clauses) == 0) {
    return(NULL)
  }
  paragraph(paste0("Bias checks: ", paste(clauses, collapse = "; "), "."), x$bias)
}

#' Verification sheets accepted with a flag, and sheets not returned
#' @noRd
methods_verification_flags <- function(x, style) {
  v <- x$records$verification
  flags <- Filter(function(f) is.list(f) && !is.null(f$coder), v$flags %||% list())
  missing <- unique(as.character(unlist(v$coders_missing)))
  text <- vapply(flags, function(f) {
    sprintf(
      "the sheet of verifier %s was finished with no rejection in %d rows; its decisions were kept and flagged",
      style$code(f$coder), as.integer(f$rows)
    )
  }, character(1))
  if (length(missing) > 0) {
    text <- c(text, paste0(
      "the sheets of ", paste(vapply(missing, style$code, ""), collapse = ", "),
      " were not returned, so their documents are not verified"
    ))
  }
  if (length(text) == 0) {
    return(NULL)
  }
  paragraph(
    paste0("Human verification: ", paste(text, collapse = "; "), "."),
    list(flags = flags, coders_missing = missing)
  )
}

#' Software: the llmcoder version and git revision that computed the evaluation
#' @noRd
methods_software <- function(x, style) {
  prov <- x$records$evaluation_provenance
  version <- unique(unlist(lapply(prov, function(p) p$llmcoder_version)))
  git <- unique(unlist(lapply(prov, function(p) p$git_revision)))
  if (length(version) == 0) {
    return(NULL)
  }
  s <- paste0("Results were computed with llmcoder ", style$esc(and_list(version)))
  if (length(git) == 1) s <- paste0(s, " (git ", style$code(short_hash(git, 10)), ")")
  paragraph(paste0(s, "."), list(llmcoder_version = version, git_revision = git))
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

#' First characters of a hash
#' @noRd
short_hash <- function(h, n = 12) {
  substr(as.character(h)[[1]], 1, n)
}

#' "Cohen's kappa 0.81 [0.75, 0.87] (n = 200)" clauses
#' @noRd
agreement_clauses <- function(rel, digits, esc, with_pair = FALSE) {
  pairs <- reliability_pairs(rel)
  est <- fmt_ci(rel$estimate, rel$ci_low, rel$ci_high, digits)
  out <- paste0(
    esc(metric_label(rel$metric)), " ", est,
    ifelse(is.na(rel$n), "", paste0(" (n = ", rel$n, ")"))
  )
  if (with_pair) {
    out <- paste0(esc(pairs), ", ", out)
  } else if (length(unique(pairs)) > 1) {
    out <- paste0(out, " for ", esc(pairs))
  }
  paste(out, collapse = "; ")
}

#' Clauses from bias/positional.csv: answers changed under rotated label orders
#' @noRd
bias_positional_clauses <- function(pos, style) {
  if (is.null(pos) || nrow(pos) == 0) {
    return(character())
  }
  vapply(seq_len(nrow(pos)), function(i) {
    r <- as.list(pos[i, ])
    s <- paste0(
      "under rotated label orders, ", style$code(r$system), " changed its answer for ",
      style$num(r$flip_rate),
      if (!is.na(r$n_flipped)) paste0(" (", r$n_flipped, " of ", r$n_docs, ")"),
      " of documents"
    )
    if (!is.na(r$first_share)) {
      s <- paste0(
        s, " and chose the first-listed label in ", style$num(r$first_share),
        " of codings against a base rate of ", style$num(r$first_base_rate),
        if (!is.na(r$p_value)) paste0(" (binomial test p = ", format_p(r$p_value, style$num), ")")
      )
    }
    s
  }, character(1))
}

#' Clauses from bias/recall_asymmetry.csv: the flagged classes of each system
#' @noRd
bias_recall_clauses <- function(ra, style) {
  if (is.null(ra) || nrow(ra) == 0) {
    return(character())
  }
  vapply(unique(ra$system), function(sys) {
    d <- ra[ra$system == sys & ra$flag %in% TRUE, , drop = FALSE]
    if (nrow(d) == 0) {
      return(paste0("no class of ", style$code(sys), " was flagged for recall asymmetry"))
    }
    items <- paste0(
      style$esc(d$label), " (recall ", ifelse(d$recall_gap >= 0, "+", "\u2212"),
      style$num(abs(d$recall_gap)), " from the mean",
      ifelse(is.na(d$most_confused_as), "", paste0(", most often coded as ", style$esc(d$most_confused_as))),
      ")"
    )
    paste0(
      "classes of ", style$code(sys), " flagged for recall asymmetry: ", paste(items, collapse = ", ")
    )
  }, character(1), USE.NAMES = FALSE)
}

#' Clause from bias/strata.csv: strata and estimates below the overall one
#' @noRd
bias_strata_clause <- function(st, style) {
  if (is.null(st) || nrow(st) == 0) {
    return(character())
  }
  by <- unique(as.character(st$stratum))
  n_below <- sum(st$below_overall %in% TRUE)
  paste0(
    "metrics were computed per stratum of ", paste(style$esc(by), collapse = " and "),
    ", and ", n_below, " stratum-metric estimate", if (n_below != 1) "s", " had a confidence ",
    "interval entirely below the overall estimate"
  )
}

#' p-values: "< 0.001" style below the printed precision
#' @noRd
format_p <- function(p, num) {
  txt <- num(p)
  if (p > 0 && as.numeric(txt) == 0) paste0("< ", sub("0$", "1", num(0))) else txt
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
