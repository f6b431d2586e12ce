# Traceable numbers: every number the methods text prints is written through a ledger that records
# where it came from (the results file, its contract key, the JSON key or the CSV row and column), so
# the text ships with a sidecar (methods_sources(), write_methods()) that a reader or a test can
# follow back to the results. Nothing here is exported.

#' Where a value comes from
#'
#' @param key Contract key of the results file (`"evaluation_record"`, ...).
#' @param field A JSON pointer into a record (`"/ci/accuracy/0"`, RFC 6901, 0-based), or a column of
#'   a CSV.
#' @param wildcards The file's wildcards (`list(system = "tfidf")`), to pick one of several files.
#' @param row For a CSV: the column values that select the one row (`list(metric = "accuracy")`).
#' @noRd
src <- function(key, field, wildcards = list(), row = NULL) {
  list(key = key, field = field, wildcards = wildcards, row = row)
}

#' A ledger: the numbers written so far, by paragraph
#' @noRd
new_ledger <- function(x) {
  led <- new.env(parent = emptyenv())
  led$x <- x
  led$entries <- list()
  led$paragraph <- NA_character_
  led
}

#' The path (relative to the results folder) of the listed file of `key` with `wildcards`
#' @noRd
listed_path <- function(x, key, wildcards = list()) {
  for (f in x$manifest$files) {
    if (!identical(f$key, key)) next
    wc <- f$wildcards %||% list()
    if (all(vapply(names(wildcards), function(w) identical(as.character(wc[[w]]), as.character(wildcards[[w]])), TRUE))) {
      return(f$path)
    }
  }
  NA_character_
}

#' Record one number (or fact) of the text and return its text
#'
#' `sources` is one `src()` or a list of them (a value derived from several fields); `how` says how a
#' derived value was computed from them. `name` names the fact in the paragraph's facts.
#' @noRd
ledger_note <- function(led, text, value, sources, how = NULL, name = NULL) {
  if (!is.null(sources$key)) sources <- list(sources)
  resolved <- lapply(sources, function(s) {
    c(list(file = listed_path(led$x, s$key, s$wildcards)), s[c("key", "field")], if (!is.null(s$row)) list(row = s$row))
  })
  led$entries[[length(led$entries) + 1]] <- c(
    list(paragraph = led$paragraph, name = name %||% NA_character_, text = text, value = value),
    if (!is.null(how)) list(how = how),
    list(sources = resolved)
  )
  text
}

#' The facts of a paragraph (name -> value) from the ledger
#' @noRd
ledger_facts <- function(led, paragraph) {
  mine <- Filter(function(e) identical(e$paragraph, paragraph) && !is.na(e$name), led$entries)
  stats::setNames(lapply(mine, function(e) e$value), vapply(mine, function(e) e$name, ""))
}

#' Words for small counts at the start of a phrase ("two verifiers"), digits from 10 on
#' @noRd
count_words <- function(n) {
  words <- c("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
  if (length(n) == 1 && !is.na(n) && n >= 1 && n <= 9 && n == round(n)) words[[n]] else big_num(n)
}

#' An integer with thousands separators
#' @noRd
big_num <- function(n) {
  format(as.numeric(n), big.mark = ",", trim = TRUE, scientific = FALSE)
}

#' Number formatters that write through a ledger, in the markup of the text's format
#'
#' Negative numbers take a minus sign (U+2212 in Markdown, `$-$` in LaTeX).
#' @noRd
ledger_style <- function(led, format, digits) {
  esc <- if (format == "latex") escape_latex else identity
  minus <- function(s) {
    neg <- grepl("^-", s)
    s[neg] <- paste0(if (format == "latex") "$-$" else "\u2212", substring(s[neg], 2))
    s
  }
  num_text <- function(v, d = digits) minus(formatC(as.numeric(v), format = "f", digits = d))
  pct_sign <- if (format == "latex") "\\%" else "%"
  st <- list(format = format, digits = digits, esc = esc, num_text = num_text, pct_sign = pct_sign)
  st$code <- function(s) {
    if (format == "latex") paste0("\\texttt{", escape_latex(s), "}") else paste0("`", s, "`")
  }
  # a statistic with `d` decimals
  st$num <- function(v, source, name = NULL, how = NULL, d = digits) {
    ledger_note(led, num_text(v, d), as.numeric(v), source, how, name)
  }
  # a count ("1,204"), or words below ten when `words`
  st$int <- function(v, source, name = NULL, how = NULL, words = FALSE) {
    text <- if (words) count_words(v) else big_num(v)
    ledger_note(led, text, as.numeric(v), source, how, name)
  }
  # a share as a percentage ("45.6%")
  st$pct <- function(v, source, name = NULL, how = NULL, d = 1) {
    text <- paste0(formatC(100 * as.numeric(v), format = "f", digits = d), pct_sign)
    ledger_note(led, text, as.numeric(v), source, how, name)
  }
  # an estimate and its interval: "0.41 [0.25, 0.54]"
  st$ci <- function(est, low, high, sources, name = NULL, d = digits) {
    e <- st$num(est, sources[[1]], name, d = d)
    if (is.na(low) || is.na(high)) {
      return(e)
    }
    lo <- st$num(low, sources[[2]], if (!is.null(name)) paste0(name, "_ci_low"), d = d)
    hi <- st$num(high, sources[[3]], if (!is.null(name)) paste0(name, "_ci_high"), d = d)
    paste0(e, " [", lo, ", ", hi, "]")
  }
  # a hash, shortened, in code
  st$hash <- function(h, source, name = NULL, n = 12) {
    ledger_note(led, substr(as.character(h), 1, n), as.character(h), source, name = name)
    st$code(substr(as.character(h), 1, n))
  }
  # a value the text states in words ("none", "< 0.001"): `text` is what is printed
  st$note <- function(text, v, source, name = NULL, how = NULL) {
    ledger_note(led, text, v, source, how, name)
  }
  # a recorded text (a name, a method), escaped
  st$text <- function(s, source, name = NULL) {
    ledger_note(led, esc(as.character(s)), as.character(s), source, name = name)
  }
  st
}

#' The sources of a methods text: one row per number (or recorded fact) it prints
#'
#' @param m An `llmcoder_methods` object from [methods_section()].
#' @return A list with the study, the results folder and `numbers`: one element per value, with the
#'   paragraph, its name, the text printed, the value, how it was derived (when it was) and its
#'   sources (file relative to the results folder, contract key, JSON pointer or CSV column, and the
#'   CSV row).
#' @noRd
methods_sources_list <- function(m) {
  attr(m, "sources")
}
