#' Write a methods section from the recorded results
#'
#' Writes the methods text of a study from its results files and provenance
#' records only: every number and name in it is read from `x`, and a
#' sentence whose facts are not recorded is left out rather than guessed.
#'
#' Sentences, each written only when its facts are present:
#' \enumerate{
#'   \item the codebook (name, number of labels, single- or multi-label,
#'     SHA-256);
#'   \item each coder: model, version or revision, weights hash, prompt hash,
#'     temperature and decoding, maximum output tokens, seed;
#'   \item the gold standard: number of documents, how they were sampled;
#'   \item human-human agreement (rows of the reliability files whose
#'     comparison or coders are both human);
#'   \item agreement of each system with the gold standard (the metrics
#'     files, with confidence intervals and the bootstrap settings);
#'   \item other recorded agreement between coders (e.g. human-model);
#'   \item the range of per-class F1 of each system;
#'   \item bias checks (records with a `bias` entry);
#'   \item what was changed after validation (records with
#'     `changes_after_validation`);
#'   \item the software versions that computed the results.
#' }
#'
#' Records are the JSON files under the results directory (see
#' [read_results()]). Keys are searched at any depth; a coder's record is one
#' that lies in a folder named after the system or that has a matching
#' `system` field. Recognised keys: `codebook` (a name or an object with
#' `name`, `labels`, `sha256`), `codebook_name`, `codebook_sha256`,
#' `n_labels`, `labels`, `task`; `model`, `model_name`, `model_version`,
#' `model_revision`, `revision`, `model_sha256`, `weights_sha256`, `gguf_sha256`,
#' `prompt_sha256`, `temperature`, `top_p`, `decoding`, `max_new_tokens`,
#' `seed`; `gold_sampling`, `sampling`; `ci_level`, `n_boot`; `bias`;
#' `changes_after_validation`; `llmcoder_version`, `git_revision`.
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
#'   `format`, `facts` (the values used, for checking) and `provenance`
#'   attributes. Print it, or save it with `writeLines(format(m), path)`.
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
  esc <- if (format == "latex") escape_latex else identity
  code <- function(s) if (format == "latex") paste0("\\texttt{", escape_latex(s), "}") else paste0("`", s, "`")
  num <- function(v) fmt_num(v, digits)
  facts <- list()
  paras <- list()

  # 1. Codebook -----------------------------------------------------------------------------
  cb <- first_value(x$records, "codebook")
  cb_name <- if (is.list(cb)) cb$name else if (is.character(cb)) cb[[1]]
  cb_name <- cb_name %||% first_value(x$records, "codebook_name")
  cb_sha <- (if (is.list(cb)) cb$sha256) %||% first_value(x$records, "codebook_sha256")
  labels <- (if (is.list(cb)) cb$labels) %||% first_value(x$records, "labels")
  if (is.data.frame(labels)) {
    labels <- labels$id %||% labels[[1]]
  }
  n_labels <- first_value(x$records, "n_labels") %||%
    (if (length(labels) > 0) length(labels)) %||%
    (if (!is.null(x$per_class)) length(unique(x$per_class$label)))
  task <- if (!is.na(x$task)) x$task else first_value(x$records, "task")
  if (!is.null(cb_name) || !is.null(n_labels)) {
    s <- if (!is.null(cb_name)) {
      paste0("Documents were coded with the codebook \u201c", esc(cb_name), "\u201d")
    } else {
      paste("Documents were coded with a codebook of", n_labels, "labels")
    }
    details <- c(
      if (!is.null(n_labels) && !is.null(cb_name)) paste(n_labels, "labels"),
      if (identical(task, "single")) "one label per document",
      if (identical(task, "multi")) "any number of labels per document",
      if (!is.null(cb_sha)) paste("SHA-256", code(short_hash(cb_sha)))
    )
    if (length(details) > 0) s <- paste0(s, " (", paste(details, collapse = "; "), ")")
    paras$codebook <- paste0(s, ".")
    facts$codebook <- list(name = cb_name, n_labels = n_labels, task = task, sha256 = cb_sha)
  }

  # 2. Coders -------------------------------------------------------------------------------
  systems <- unique(c(x$metrics$system, x$per_class$system))
  coder_sentences <- character()
  for (sys in systems) {
    rec <- system_records(x$records, sys)
    model <- first_value(rec, c("model", "model_name"))
    if (is.list(model)) model <- model$name %||% model$id %||% model$model %||% model$alias
    version <- first_value(rec, c("model_version", "model_revision", "revision"))
    weights <- first_value(rec, c("model_sha256", "weights_sha256", "gguf_sha256"))
    prompt <- first_value(rec, c("prompt_sha256", "prompt_template_sha256"))
    temp <- first_value(rec, "temperature")
    top_p <- first_value(rec, "top_p")
    decoding <- first_value(rec, "decoding")
    max_tok <- first_value(rec, "max_new_tokens")
    seed <- first_value(rec, "seed")
    parts <- c(
      if (!is.null(version)) paste("version", esc(as.character(version))),
      if (!is.null(weights)) paste("weights SHA-256", code(short_hash(weights)))
    )
    settings <- c(
      if (!is.null(prompt)) paste("prompt SHA-256", code(short_hash(prompt))),
      if (!is.null(temp)) paste("temperature", format(temp)),
      if (!is.null(top_p)) paste("top-p", format(top_p)),
      if (!is.null(decoding)) paste(esc(as.character(decoding)), "decoding"),
      if (!is.null(max_tok)) paste("at most", max_tok, "output tokens"),
      if (!is.null(seed)) paste("seed", seed)
    )
    if (is.null(model) && length(settings) == 0) next
    s <- paste0("The coder ", code(sys))
    if (!is.null(model)) {
      s <- paste0(s, " is ", esc(as.character(model)))
      if (length(parts) > 0) s <- paste0(s, " (", paste(parts, collapse = ", "), ")")
      if (length(settings) > 0) s <- paste0(s, ", run with ", paste(settings, collapse = ", "))
    } else {
      s <- paste0(s, " was run with ", paste(settings, collapse = ", "))
    }
    coder_sentences <- c(coder_sentences, paste0(s, "."))
    facts$coders[[sys]] <- list(
      model = model, version = version, weights_sha256 = weights, prompt_sha256 = prompt,
      temperature = temp, top_p = top_p, decoding = decoding, max_new_tokens = max_tok,
      seed = seed
    )
  }
  if (length(coder_sentences) > 0) paras$coders <- paste(coder_sentences, collapse = " ")

  # 3. Gold standard ------------------------------------------------------------------------
  gold_n <- NULL
  if (!is.null(x$metrics) && "n" %in% names(x$metrics)) {
    ns <- unique(stats::na.omit(x$metrics$n))
    if (length(ns) == 1) gold_n <- ns
  }
  gold_n <- gold_n %||% first_value(x$records, "n")
  sampling <- first_value(x$records, c("gold_sampling", "sampling"))
  if (!is.null(gold_n)) {
    s <- paste0(
      "Every coder was validated against a gold standard of ",
      format(gold_n, big.mark = ","), " documents"
    )
    if (!is.null(sampling)) s <- paste0(s, " (", esc(as.character(sampling)), ")")
    paras$gold <- paste0(s, ".")
    facts$gold <- list(n = gold_n, sampling = sampling)
  }

  # 4-6. Agreement --------------------------------------------------------------------------
  rel <- x$reliability
  if (!is.null(rel) && nrow(rel) > 0) {
    kind <- reliability_kind(rel)
    hh <- rel[kind == "human-human", , drop = FALSE]
    if ("scope" %in% names(hh) && any(hh$scope %in% "all labels")) {
      hh <- hh[hh$scope %in% "all labels", , drop = FALSE] # the per-label rows stay in the table
    }
    other <- rel[kind != "human-human", , drop = FALSE]
    # The text names the coefficients reviewers look for; the reliability table has them all.
    in_text <- c("percent_agreement", "cohen_kappa", "krippendorff_alpha", "gwet_ac1")
    if ("coefficient" %in% names(rel) && any(rel$coefficient %in% in_text)) {
      hh <- hh[hh$coefficient %in% in_text, , drop = FALSE]
      other <- other[other$coefficient %in% in_text, , drop = FALSE]
    }
    if (nrow(hh) > 0) {
      paras$human_human <- paste0(
        "Human coders agreed with each other with ",
        agreement_clauses(hh, digits, esc), "."
      )
      facts$human_human <- hh
    }
    if (nrow(other) > 0) {
      paras$other_agreement <- paste0(
        "Agreement between coders: ",
        agreement_clauses(other, digits, esc, with_pair = TRUE), "."
      )
      facts$other_agreement <- other
    }
  }
  if (!is.null(x$metrics) && nrow(x$metrics) > 0) {
    level <- ci_level(x)
    n_boot <- unique(unlist(lapply(x$records, function(r) if (is.list(r)) r[["n_boot"]])))
    sys_sent <- vapply(systems[systems %in% x$metrics$system], function(sys) {
      m <- x$metrics[x$metrics$system == sys & !is.na(x$metrics$estimate), , drop = FALSE]
      if (!is.null(metrics)) {
        m <- m[m$metric %in% metrics, , drop = FALSE]
        m <- m[order(match(m$metric, metrics)), , drop = FALSE]
      } else if (any(!is.na(m$ci_low %||% NA))) {
        m <- m[!is.na(m$ci_low), , drop = FALSE] # the headline metrics: those with intervals
      }
      if (nrow(m) == 0) {
        return(NA_character_)
      }
      items <- paste0(
        esc(metric_label(m$metric)), " ",
        fmt_ci(m$estimate, m$ci_low %||% NA, m$ci_high %||% NA, digits)
      )
      paste0(code(sys), ": ", paste(items, collapse = ", "))
    }, character(1))
    sys_sent <- sys_sent[!is.na(sys_sent)]
    if (length(sys_sent) > 0) {
      ci_text <- if (any(!is.na(x$metrics$ci_low %||% NA))) {
        paste0(
          " (brackets: ",
          if (!is.na(level)) paste0(round(100 * level), esc("%"), " ") else "",
          "percentile bootstrap confidence intervals over documents",
          if (length(n_boot) == 1) paste0(", ", format(n_boot, big.mark = ","), " resamples"),
          ")"
        )
      } else {
        ""
      }
      paras$validation <- paste0(
        "Agreement with the gold standard", ci_text, " was ",
        paste(sys_sent, collapse = "; "), "."
      )
      facts$validation <- x$metrics
    }
  }

  # 7. Per-class F1 range -------------------------------------------------------------------
  pc <- x$per_class
  if (!is.null(pc) && "f1" %in% names(pc)) {
    pc_sent <- vapply(unique(pc$system), function(sys) {
      d <- pc[pc$system == sys & !is.na(pc$f1), , drop = FALSE]
      if (nrow(d) < 2) {
        return(NA_character_)
      }
      lo <- which.min(d$f1)
      hi <- which.max(d$f1)
      paste0(
        "from ", num(d$f1[lo]), " (", esc(d$label[lo]), ") to ", num(d$f1[hi]),
        " (", esc(d$label[hi]), ") for ", code(sys)
      )
    }, character(1))
    pc_sent <- pc_sent[!is.na(pc_sent)]
    if (length(pc_sent) > 0) {
      paras$per_class <- paste0("Per-class F1 ranged ", paste(pc_sent, collapse = "; "), ".")
      facts$per_class <- pc
    }
  }

  # 8. Bias checks --------------------------------------------------------------------------
  bias <- all_values(x$records, "bias")
  bias_text <- c(
    bias_table_clauses(x$bias, num, esc, code),
    unlist(lapply(bias, describe_bias, num = num, esc = esc))
  )
  if (length(bias_text) > 0) {
    paras$bias <- paste0("Bias checks: ", paste(bias_text, collapse = "; "), ".")
    facts$bias <- c(x$bias, bias)
  }

  # 8b. Verification sheets accepted with a flag, and coders not ingested ---------------------
  flags <- all_values(x$records, "flags")
  flags <- Filter(function(f) is.data.frame(f) && nrow(f) > 0 && "coder" %in% names(f), flags)
  missing <- unique(unlist(all_values(x$records, "coders_missing")))
  ver_text <- character()
  for (f in flags) {
    ver_text <- c(ver_text, sprintf(
      "the sheet of verifier %s was finished with no rejection in %d rows; its decisions were kept and flagged",
      code(f$coder), as.integer(f$rows)
    ))
  }
  if (length(missing) > 0) {
    ver_text <- c(ver_text, paste0(
      "the sheets of ", paste(vapply(missing, code, ""), collapse = ", "),
      " were not returned, so their documents are not verified"
    ))
  }
  if (length(ver_text) > 0) {
    paras$verification_flags <- paste0(
      "Human verification: ", paste(ver_text, collapse = "; "), "."
    )
    facts$verification_flags <- list(flags = flags, coders_missing = missing)
  }

  # 9. Changes after validation -------------------------------------------------------------
  changes <- unlist(all_values(x$records, "changes_after_validation"))
  changes <- unique(changes[!is.na(changes) & nzchar(changes)])
  if (length(changes) > 0) {
    paras$changes <- paste0(
      "Changed after validation: ", paste(esc(changes), collapse = "; "), "."
    )
    facts$changes <- changes
  } else if (length(all_values(x$records, "changes_after_validation")) > 0) {
    paras$changes <- "Nothing was changed after validation."
    facts$changes <- character()
  }

  # 10. Software ----------------------------------------------------------------------------
  version <- first_value(x$records, "llmcoder_version")
  git <- first_value(x$records, "git_revision")
  if (!is.null(version)) {
    s <- paste0("Results were computed with llmcoder ", esc(version))
    if (!is.null(git)) s <- paste0(s, " (git ", code(short_hash(git, 10)), ")")
    paras$software <- paste0(s, ".")
    facts$software <- list(llmcoder_version = version, git_revision = git)
  }

  body <- unlist(paras, use.names = FALSE)
  head <- if (isTRUE(heading)) {
    if (format == "latex") "\\section*{Methods}" else "## Methods"
  }
  text <- paste(c(head, body), collapse = "\n\n")
  structure(
    text,
    class = "llmcoder_methods",
    format = format,
    facts = facts,
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

# --- helpers ---------------------------------------------------------------------------------

#' All values of `keys` found at any depth in a list of records, in record order
#' @noRd
all_values <- function(records, keys) {
  out <- list()
  walk <- function(node) {
    if (!is.list(node) || is.data.frame(node)) {
      return(invisible())
    }
    nm <- names(node)
    for (k in keys) {
      if (!is.null(nm) && k %in% nm && !is.null(node[[k]])) {
        out[[length(out) + 1]] <<- node[[k]]
      }
    }
    for (child in node) walk(child)
  }
  for (r in records) walk(r)
  out
}

#' The first value of `keys` in `records` (keys tried in order), or NULL
#' @noRd
first_value <- function(records, keys) {
  for (k in keys) {
    v <- all_values(records, k)
    v <- Filter(function(e) length(e) > 0 && !all(is.na(unlist(e))), v)
    if (length(v) > 0) {
      return(v[[1]])
    }
  }
  NULL
}

#' The records that belong to one system: in a folder named after it, or with system == it
#' @noRd
system_records <- function(records, system) {
  in_dir <- vapply(strsplit(names(records), "/", fixed = TRUE), function(p) {
    # evaluation/<system>/..., code/<system>/provenance.json, coders/<system>.json
    system %in% p[-length(p)] ||
      (length(p) > 1 && tools::file_path_sans_ext(p[[length(p)]]) == system)
  }, logical(1))
  tagged <- vapply(records, function(r) {
    is.list(r) && identical(as.character(r[["system"]] %||% ""), system)
  }, logical(1))
  records[in_dir | tagged]
}

#' First characters of a hash
#' @noRd
short_hash <- function(h, n = 12) {
  substr(as.character(h)[[1]], 1, n)
}

#' Which reliability rows compare two humans
#' @noRd
reliability_kind <- function(rel) {
  kind <- rep("other", nrow(rel))
  if ("comparison" %in% names(rel)) {
    cmp <- tolower(rel$comparison)
    kind[grepl("human.*human|human verifiers|human coders", cmp)] <- "human-human"
  }
  if (all(c("coder_a", "coder_b") %in% names(rel))) {
    both <- grepl("human|annotator|coder_h|^h[0-9]", tolower(rel$coder_a)) &
      grepl("human|annotator|coder_h|^h[0-9]", tolower(rel$coder_b))
    kind[both & kind == "other" & !("comparison" %in% names(rel))] <- "human-human"
  }
  kind
}

#' "Cohen's kappa 0.81 [0.75, 0.87] (n = 200)" clauses
#' @noRd
agreement_clauses <- function(rel, digits, esc, with_pair = FALSE) {
  pairs <- reliability_pairs(rel)
  est <- fmt_ci(rel$estimate, rel$ci_low %||% NA, rel$ci_high %||% NA, digits)
  out <- paste0(
    if ("metric" %in% names(rel)) paste0(esc(metric_label(rel$metric)), " ") else "",
    est,
    if ("n" %in% names(rel)) ifelse(is.na(rel$n), "", paste0(" (n = ", rel$n, ")")) else ""
  )
  if (with_pair) {
    out <- paste0(esc(pairs), ", ", out)
  } else if (length(unique(pairs)) > 1) {
    out <- paste0(out, " for ", esc(pairs))
  }
  paste(out, collapse = "; ")
}

#' Clauses from the bias/*.csv tables (positional, recall_asymmetry, strata)
#' @noRd
bias_table_clauses <- function(bias, num, esc, code) {
  out <- character()
  pos <- bias$positional
  if (!is.null(pos) && nrow(pos) > 0 && all(c("system", "n_docs", "flip_rate") %in% names(pos))) {
    for (i in seq_len(nrow(pos))) {
      r <- as.list(pos[i, ])
      s <- paste0(
        "under rotated label orders, ", code(r$system), " changed its answer for ",
        num(r$flip_rate),
        if (!is.null(r$n_flipped) && !is.na(r$n_flipped)) paste0(" (", r$n_flipped, " of ", r$n_docs, ")"),
        " of documents"
      )
      if (all(c("first_share", "first_base_rate") %in% names(r)) && !is.na(r$first_share)) {
        s <- paste0(
          s, " and chose the first-listed label in ", num(r$first_share),
          " of codings against a base rate of ", num(r$first_base_rate),
          if (!is.null(r$p_value) && !is.na(r$p_value)) paste0(" (binomial test p = ", format_p(r$p_value, num), ")")
        )
      }
      out <- c(out, s)
    }
  }
  ra <- bias$recall_asymmetry
  if (!is.null(ra) && nrow(ra) > 0 && all(c("system", "label", "recall_gap") %in% names(ra))) {
    flag <- ra[["flag"]]
    flagged <- if (is.null(flag)) rep(FALSE, nrow(ra)) else !is.na(flag) & !flag %in% c("", "false", "FALSE", "ok")
    for (sys in unique(ra$system)) {
      d <- ra[ra$system == sys & flagged, , drop = FALSE]
      if (nrow(d) == 0) {
        if (!is.null(flag)) out <- c(out, paste0("no class of ", code(sys), " was flagged for recall asymmetry"))
        next
      }
      items <- paste0(
        esc(d$label), " (recall ", ifelse(d$recall_gap >= 0, "+", "\u2212"),
        num(abs(d$recall_gap)), " from the mean",
        if ("most_confused_as" %in% names(d)) {
          ifelse(is.na(d$most_confused_as), "", paste0(", most often coded as ", esc(d$most_confused_as)))
        } else {
          ""
        },
        ")"
      )
      out <- c(out, paste0("classes of ", code(sys), " flagged for recall asymmetry: ", paste(items, collapse = ", ")))
    }
  }
  st <- bias$strata
  if (!is.null(st) && nrow(st) > 0 && "system" %in% names(st)) {
    known <- c(
      "system", "metric", "estimate", "ci_low", "ci_high", "n", "overall", "below_overall", "source",
      "stratum", "value"
    )
    # The workflow writes one `stratum` column naming the stratum (party, year); older tables have one
    # column per stratum.
    by <- if ("stratum" %in% names(st)) unique(as.character(st$stratum)) else setdiff(names(st), known)
    if (length(by) > 0) {
      below <- st[["below_overall"]]
      n_below <- if (is.null(below)) NA else sum(toupper(below) %in% c("TRUE", "T", "1"))
      out <- c(out, paste0(
        "metrics were computed per stratum of ", paste(esc(by), collapse = " and "),
        if (!is.na(n_below)) {
          paste0(
            ", and ", n_below, " stratum-metric estimate", if (n_below != 1) "s", " had a confidence ",
            "interval entirely below the overall estimate"
          )
        }
      ))
    }
  }
  out
}

#' p-values: "< 0.001" style below the printed precision
#' @noRd
format_p <- function(p, num) {
  txt <- num(p)
  if (p > 0 && as.numeric(txt) == 0) paste0("< ", sub("0$", "1", num(0))) else txt
}

#' One bias record as a clause, using only the recorded fields
#' @noRd
describe_bias <- function(b, num, esc) {
  if (is.character(b)) {
    return(esc(b))
  }
  if (is.data.frame(b)) {
    b <- split(b, seq_len(nrow(b)))
    return(unlist(lapply(b, function(r) describe_bias(as.list(r), num, esc))))
  }
  if (!is.list(b)) {
    return(NULL)
  }
  if (!is.null(names(b)) && all(vapply(b, is.list, logical(1))) && is.null(b$attribute)) {
    return(unlist(lapply(b, describe_bias, num = num, esc = esc)))
  }
  what <- b$attribute %||% b$variable %||% b$group
  metric <- b$metric
  parts <- c(
    if (!is.null(what)) paste0("by ", esc(as.character(what))),
    if (!is.null(metric) && !is.null(b$min) && !is.null(b$max)) {
      paste0(esc(metric_label(metric)), " ranged from ", num(b$min), " to ", num(b$max))
    },
    if (!is.null(b$test) && !is.null(b$p_value)) {
      paste0(esc(as.character(b$test)), " p = ", num(b$p_value))
    },
    if (!is.null(b$conclusion)) esc(as.character(b$conclusion))
  )
  if (length(parts) == 0) NULL else paste(parts, collapse = ", ")
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
