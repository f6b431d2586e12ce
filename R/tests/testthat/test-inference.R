# Findings (downstream inference): read_results, inference_table, inference_plot and the methods
# paragraph, checked against the fixture's own inference/estimates.csv and inference/summary.json
# (never literals), and checked to say nothing when the manifest lists no inference files and to claim
# no difference the intervals do not show.

inference_keys <- c("inference_estimates_csv", "inference_estimates", "inference_record", "inference_sample")

# estimates.csv as text, an empty cell kept as "" (an empty stratum is the whole population, an empty
# term a share: the contract's values, not missing ones)
est_text <- function(dir = fixture_path()) {
  utils::read.csv(
    file.path(dir, "inference", "estimates.csv"),
    colClasses = "character", na.strings = character(), check.names = FALSE, encoding = "UTF-8"
  )
}

inference_record_json <- function(dir = fixture_path()) read_fixture_json("inference/summary.json", dir)

method_labels <- c(
  naive = "Naive (surrogate labels)", classical = "Classical (labelled sample only)", ppi = "PPI++", dsl = "DSL"
)

# "0.132 [0.071, 0.193]" as a table prints a row of estimates.csv
cell_text <- function(r, digits = 3) {
  f <- function(v) formatC(as.numeric(v), format = "f", digits = digits)
  sprintf("%s [%s, %s]", f(r$estimate), f(r$ci_low), f(r$ci_high))
}

# as the methods text prints it: a minus sign, two decimals; or a percentage with one
num_text <- function(v, digits = 2) sub("^-", "\u2212", formatC(as.numeric(v), format = "f", digits = digits))
pct_text_signed <- function(v) paste0(num_text(100 * as.numeric(v), 1), "%")
ci_text_of <- function(r, f = num_text) sprintf("%s [%s, %s]", f(r$estimate), f(r$ci_low), f(r$ci_high))
# a coefficient: one decimal more than the text's two
coef_text <- function(r) ci_text_of(r, function(v) num_text(v, 3))
# the sentence on the naive intervals (the paragraph's last), or none
claim_of <- function(text) regmatches(text, regexpr("The naive intervals? excluded .*$", text))

# A Markdown pipe table as a data frame of its cells
parse_pipe_table <- function(text) {
  lines <- strsplit(text, "\n", fixed = TRUE)[[1]]
  lines <- lines[startsWith(lines, "|")]
  cells <- lapply(lines, function(l) trimws(strsplit(l, "|", fixed = TRUE)[[1]])[-1])
  body <- do.call(rbind, cells[-(1:2)])
  out <- as.data.frame(body, stringsAsFactors = FALSE)
  names(out) <- cells[[1]]
  out
}

# The findings paragraph of a methods text ("" when there is none)
findings_of <- function(m) {
  text <- format(m)
  hit <- regmatches(text, regexpr("\\*\\*Findings\\.\\*\\*[^\n]*", text))
  if (length(hit) == 1) hit else ""
}

# The value a source of the methods text points to, read from the (copied) fixture's file itself: a
# JSON pointer into a record, or the column of the one CSV row its `row` selects, empty cells as ""
inference_source_value <- function(s, dir = fixture_path()) {
  if (grepl("\\.json$", s$file)) {
    return(source_values(s, dir))
  }
  tbl <- utils::read.csv(
    file.path(dir, s$file),
    colClasses = "character", na.strings = character(), check.names = FALSE, encoding = "UTF-8"
  )
  keep <- rep(TRUE, nrow(tbl))
  for (col in names(s$row)) keep <- keep & tbl[[col]] == as.character(s$row[[col]])
  expect_equal(sum(keep), 1, label = paste("rows selected by", jsonlite::toJSON(s$row, auto_unbox = TRUE)))
  v <- tbl[[s$field]][keep]
  num <- suppressWarnings(as.numeric(v))
  if (!is.na(num)) num else v
}

# Every number of the findings paragraph: printed, listed in the manifest under its key, and the
# value of the file's field and row
expect_findings_traced <- function(m, dir = fixture_path()) {
  text <- findings_of(m)
  numbers <- Filter(function(e) identical(e$paragraph, "findings"), attr(m, "sources")$numbers)
  expect_gt(length(numbers), 0)
  listed <- vapply(read_manifest_json(dir)$files, function(f) paste(f$key, f$path), "")
  for (e in numbers) {
    label <- paste(e$name, e$text)
    expect_true(grepl(e$text, text, fixed = TRUE), label = label)
    for (s in e$sources) {
      expect_true(paste(s$key, s$file) %in% listed, label = label)
      expect_true(s$file %in% c("inference/estimates.csv", "inference/summary.json"), label = label)
    }
    values <- lapply(e$sources, inference_source_value, dir = dir)
    want <- if (identical(e$how, "length")) length(values[[1]]) else values[[1]]
    if (is.numeric(want)) {
      expect_equal(e$value, want, tolerance = 1e-12, label = label)
      printed <- printed_number(e$text)
      if (!is.na(printed)) {
        scale <- if (grepl("%", e$text)) 0.01 else 1
        expect_lte(abs(printed - want), 0.5 * 10^-printed_digits(e$text) * scale + 1e-12, label = label)
      }
    } else {
      expect_equal(as.character(e$value), as.character(want), label = label)
    }
  }
  invisible(numbers)
}

# The corrected estimators (PPI++, DSL) of each item whose estimate lies outside the naive interval
outside_naive <- function(est, items) {
  lapply(items, function(rows) {
    naive <- rows[rows$method == "naive", ]
    corr <- rows[rows$method %in% c("ppi", "dsl"), ]
    e <- as.numeric(corr$estimate)
    corr$method[e < as.numeric(naive$ci_low) | e > as.numeric(naive$ci_high)]
  })
}

# The non-intercept regression terms of estimates.csv, by term (one formula in the fixture)
# the items the text names, as methods_section() picks them: at most two with an interval (naive, PPI++ or
# DSL) that excludes zero, by the largest PPI++/DSL estimate in size; when none has, the largest one
expected_items <- function(rows, key, naive = TRUE) {
  rows <- rows[rows$method %in% c(if (naive) "naive", "ppi", "dsl"), ]
  items <- unique(rows[[key]])
  excl <- vapply(items, function(it) {
    r <- rows[rows[[key]] == it, ]
    any(as.numeric(r$ci_low) > 0 | as.numeric(r$ci_high) < 0)
  }, TRUE)
  size <- vapply(items, function(it) {
    r <- rows[rows[[key]] == it & rows$method != "naive", ]
    max(abs(as.numeric(r$estimate)))
  }, 1)
  # at most two: those an interval sets apart from zero, or else the largest one as the example
  utils::head(items[order(!excl, -size)], if (any(excl)) min(2, sum(excl)) else 1)
}

term_rows <- function(est) {
  reg <- est[est$estimand == "regression" & est$term != "Intercept", ]
  split(reg, factor(reg$term, levels = unique(reg$term)))
}

test_that("the fixture has the inference files the tests read", {
  expect_true(all(file.exists(fixture_path("inference", c("estimates.csv", "summary.json", "sample.parquet")))))
  keys <- vapply(read_manifest_json()$files, function(f) f$key, "")
  expect_true(all(inference_keys %in% keys))
  est <- est_text()
  expect_true(all(c("prevalence", "regression") %in% est$estimand))
  expect_true(all(c("naive", "classical", "ppi", "dsl") %in% est$method))
})

test_that("read_results reads the estimates as a part and the record among the records", {
  res <- fixture_results()
  est <- est_text()
  expect_s3_class(res$inference, "tbl_df")
  expect_equal(nrow(res$inference), nrow(est))
  expect_type(res$inference$estimate, "double")
  expect_equal(res$inference$estimate, as.numeric(est$estimate))
  expect_equal(res$inference$ci_high, as.numeric(est$ci_high))
  expect_type(res$inference$n_labelled, "integer")
  expect_equal(res$inference$n_unlabelled, as.integer(est$n_unlabelled))
  # the whole population's stratum and a share's term are "", as in the file
  expect_equal(res$inference$stratum, est$stratum)
  expect_equal(res$inference$term, est$term)
  expect_true(any(res$inference$stratum == ""))
  expect_equal(res$records$inference, inference_record_json())
  expect_match(paste(capture_messages(print(res)), collapse = ""), paste0("inference estimates: ", nrow(est), " rows"), fixed = TRUE)
})

test_that("inference_table gives one row per share and coefficient, the methods side by side", {
  res <- fixture_results()
  est <- est_text()
  rec <- inference_record_json()
  tbl <- inference_table(res, format = "markdown")
  expect_s3_class(tbl, "llmcoder_table")
  expect_equal(attr(tbl, "kind"), "inference")
  d <- parse_pipe_table(format(tbl))
  methods <- unique(est$method)
  expect_equal(names(d), c("Estimand", "Label", "Term", unname(method_labels[methods]), "Labelled", "N"))
  overall <- est[est$stratum == "", ]
  items <- unique(overall[c("estimand", "label", "term")])
  expect_equal(nrow(d), nrow(items))
  # shares first, then coefficients, in file order
  expect_equal(d$Estimand, ifelse(items$estimand == "prevalence", "Share", "Coefficient"))
  expect_equal(d$Label, items$label)
  expect_equal(d$Term, items$term)
  for (i in seq_len(nrow(overall))) {
    r <- overall[i, ]
    row <- d[d$Estimand == (if (r$estimand == "prevalence") "Share" else "Coefficient") & d$Label == r$label & d$Term == r$term, ]
    expect_equal(nrow(row), 1)
    expect_equal(row[[method_labels[[r$method]]]], cell_text(r), label = paste(r$label, r$term, r$method))
    expect_equal(row$Labelled, r$n_labelled)
    expect_equal(row$N, r$n_unlabelled)
  }
  caption <- sub("^Table: ", "", strsplit(format(tbl), "\n")[[1]][[1]])
  expect_match(caption, rec$surrogate, fixed = TRUE)
  expect_match(caption, paste("the", format(rec$n_population, big.mark = ","), "documents of the test split"), fixed = TRUE)
  expect_match(caption, paste0("labelled sample of ", rec$n_sample, " documents (", rec$design, " design)"), fixed = TRUE)
  expect_match(caption, "95% confidence intervals in brackets", fixed = TRUE)
})

test_that("inference_table adds the strata on request, chooses methods and writes every format", {
  res <- fixture_results()
  est <- est_text()
  d <- parse_pipe_table(format(inference_table(res, format = "markdown", strata = TRUE)))
  items <- unique(est[c("estimand", "label", "stratum", "term")])
  expect_equal(nrow(d), nrow(items))
  expect_setequal(d$Stratum, c("all", unique(est$stratum[est$stratum != ""])))
  strata <- est[est$stratum != "" & est$method == "ppi", ]
  for (i in seq_len(nrow(strata))) {
    r <- strata[i, ]
    row <- d[d$Label == r$label & d$Stratum == r$stratum, ]
    expect_equal(row[["PPI++"]], cell_text(r), label = paste(r$label, r$stratum))
    expect_equal(row$Labelled, r$n_labelled)
  }
  two <- parse_pipe_table(format(inference_table(res, format = "markdown", methods = c("ppi", "naive"))))
  expect_equal(names(two), c("Estimand", "Label", "Term", "PPI++", "Naive (surrogate labels)", "Labelled", "N"))
  expect_error(inference_table(res, methods = "bayes"), "Unknown methods")
  expect_error(inference_table(res, strata = NA), "TRUE")
  latex <- format(inference_table(res, format = "latex", digits = 2))
  expect_match(latex, "\\toprule", fixed = TRUE)
  expect_match(latex, "95\\% confidence intervals", fixed = TRUE)
  r <- est[est$estimand == "regression" & est$term != "Intercept" & est$method == "dsl", ][1, ]
  expect_match(latex, cell_text(r, 2), fixed = TRUE)
  expect_match(format(inference_table(res, format = "html")), "<table", fixed = TRUE)
  path <- file.path(withr::local_tempdir(), "tables", "inference.md")
  write_table(inference_table(res, format = "markdown"), path)
  expect_equal(readLines(path, encoding = "UTF-8"), strsplit(format(inference_table(res, format = "markdown")), "\n")[[1]])
})

test_that("inference_plot shows each estimate with its interval by method", {
  res <- fixture_results()
  est <- est_text()
  p <- inference_plot(res)
  expect_s3_class(p, "ggplot")
  d <- p$data
  want <- est[est$stratum == "" & est$term != "Intercept", ]
  expect_equal(nrow(d), nrow(want))
  for (i in seq_len(nrow(want))) {
    r <- want[i, ]
    hit <- d[d$estimand == r$estimand & d$label == r$label & d$term == r$term & as.character(d$method) == method_labels[[r$method]], ]
    expect_equal(nrow(hit), 1)
    expect_equal(c(hit$estimate, hit$ci_low, hit$ci_high), as.numeric(c(r$estimate, r$ci_low, r$ci_high)))
  }
  expect_equal(levels(d$method), unname(method_labels[unique(est$method)]))
  expect_setequal(as.character(d$panel), c("Label share", "Regression coefficient"))
  expect_equal(nrow(inference_plot(res, intercept = TRUE)$data), sum(est$stratum == ""))
  expect_equal(nrow(inference_plot(res, strata = TRUE, intercept = TRUE)$data), nrow(est))
  expect_equal(nrow(inference_plot(res, methods = c("naive", "ppi"))$data), sum(want$method %in% c("naive", "ppi")))
  expect_match(p$labels$caption, inference_record_json()$surrogate, fixed = TRUE)
  path <- file.path(withr::local_tempdir(), "inference")
  expect_true(all(file.exists(save_figure(p, path, dpi = 50))))
})

test_that("the findings paragraph states the surrogate, the sample and the estimators from the record", {
  res <- fixture_results()
  rec <- inference_record_json()
  m <- methods_section(res)
  text <- findings_of(m)
  expect_true(nzchar(text))
  expect_true("findings" %in% names(attr(m, "facts")))
  # last before the limitations: after the routing paragraph
  at <- vapply(c("**Routing.**", "**Findings.**", "**Limitations.**"), function(h) regexpr(h, format(m), fixed = TRUE)[[1]], 1)
  expect_true(all(at > 0))
  expect_equal(order(at), 1:3)
  kind <- c(finetuned = "the fine-tuned model", llm_coder = "the LLM coder")[[rec$surrogate_kind]]
  expect_match(text, paste0("The labels of ", kind, " `", rec$surrogate, "` were the surrogate labels"), fixed = TRUE)
  population <- c(test = "documents of the test split", corpus = "documents of the corpus")[[rec$population]]
  expect_match(text, paste(format(rec$n_population, big.mark = ","), population), fixed = TRUE)
  design <- c(uniform = "simple random sample", stratified = "stratified random sample", uncertainty = "Poisson sample")[[rec$design]]
  expect_match(text, paste0("A ", design, " of ", rec$n_sample), fixed = TRUE)
  expect_match(text, "each with a known inclusion probability", fixed = TRUE)
  expect_equal(rec$labels_from, "gold")
  expect_false(rec$simulated)
  expect_match(text, "labelled with the gold labels (coded by people)", fixed = TRUE)
  for (lab in unlist(rec$labels)) expect_match(text, paste0("`", lab, "`"), fixed = TRUE)
  for (col in unlist(rec$strata)) expect_match(text, paste0("overall and by `", col, "`"), fixed = TRUE)
  for (f in unlist(rec$formulas)) expect_match(text, paste0("a ", rec$regression, " regression (`", f, "`)"), fixed = TRUE)
  expect_match(text, "PPI++ (prediction-powered inference with power tuning; Angelopoulos", fixed = TRUE)
  expect_match(text, "DSL (design-based supervised learning; Egami", fixed = TRUE)
  expect_match(text, paste(c("one", "two", "three", "four")[length(unlist(rec$methods))], "methods"), fixed = TRUE)
})

test_that("a sample verified on the sheets is said to be, by people or by a simulated verifier", {
  res <- fixture_results()
  res$records$inference$labels_from <- "verification"
  res$records$inference$simulated <- FALSE
  text <- findings_of(methods_section(res))
  expect_match(text, "was drawn before verification and verified by people on the same sheets as the training documents.", fixed = TRUE)
  expect_false(grepl("gold labels (coded by people)", text, fixed = TRUE))
  res$records$inference$simulated <- TRUE
  text <- findings_of(methods_section(res))
  expect_match(text, "verified by a simulated verifier on the same sheets", fixed = TRUE)
  expect_false(grepl("received simulated labels", text, fixed = TRUE))
})

test_that("a cross-fitted sample is said to be the fine-tuning's labelled documents, with its folds", {
  res <- fixture_results()
  res$records$inference$design <- "crossfit"
  res$records$inference$crossfit <- 5L
  res$records$inference$labels_from <- "gold"
  m <- methods_section(res)
  text <- findings_of(m)
  n <- format(res$records$inference$n_sample, big.mark = ",")
  expect_match(text, paste0("The ", n, " documents labelled for fine-tuning (gold labels), a random part of the corpus, were reused as the labelled sample by cross-fitting: 5 models were trained, each without one of 5 folds of them"), fixed = TRUE)
  expect_match(text, "and every other document by all 5.", fixed = TRUE)
  expect_false(grepl("each with a known inclusion probability", text, fixed = TRUE))
})

test_that("the headline gives each coefficient naive, by PPI++ and by DSL, every number traced to its row", {
  res <- fixture_results()
  est <- est_text()
  m <- methods_section(res)
  text <- findings_of(m)
  terms <- term_rows(est)
  expect_gt(length(terms), 0)
  reg <- est[est$estimand == "regression" & est$term != "Intercept", ]
  picked <- expected_items(reg, "term")
  for (term in picked) {
    rows <- terms[[term]]
    r <- function(method) rows[rows$method == method, ]
    phrase <- sprintf(
      "`%s` was %s naive, %s by PPI++ and %s by DSL",
      term, coef_text(r("naive")), coef_text(r("ppi")), coef_text(r("dsl"))
    )
    if (term != picked[[1]]) phrase <- sub(" was ", ", ", sub("^", "that of ", phrase))
    expect_match(text, phrase, fixed = TRUE)
  }
  for (term in setdiff(names(terms), picked)) expect_false(grepl(paste0("`", term, "`"), text, fixed = TRUE))
  left <- length(terms) - length(picked)
  if (left > 0) {
    # the coefficients left to the table: said to hold zero in every interval where they do, else just listed
    expect_match(text, if (left == 1) "the other coefficient (findings table)|The other coefficient is in the findings table" else "other coefficients \\(findings table\\)|other coefficients are in the findings table")
  }
  expect_false(grepl("`Intercept`", text, fixed = TRUE))
  numbers <- expect_findings_traced(m)
  # a coefficient is traced to its row of estimates.csv: estimand, label, term and method
  term <- picked[[1]]
  label <- terms[[term]]$label[[1]]
  naive <- Filter(function(e) identical(e$name, paste("inference_naive", label, term, sep = "_")), numbers)
  expect_length(naive, 1)
  expect_equal(naive[[1]]$sources[[1]]$key, "inference_estimates_csv")
  expect_equal(naive[[1]]$sources[[1]]$row, list(estimand = "regression", label = label, term = term, method = "naive"))
})

test_that("the text says the naive interval excludes a corrected estimate exactly where the numbers show it", {
  est <- est_text()
  text <- findings_of(methods_section(fixture_results()))
  terms <- term_rows(est)
  terms <- terms[expected_items(est[est$estimand == "regression" & est$term != "Intercept", ], "term")]
  outside <- Filter(length, outside_naive(est, terms))
  claim <- claim_of(text)
  if (length(outside) == 0) {
    expect_length(claim, 0)
  } else {
    expect_length(claim, 1)
    for (term in names(terms)) {
      expect_equal(grepl(paste0("`", term, "`"), claim, fixed = TRUE), term %in% names(outside), label = term)
    }
  }
})

test_that("the methods text never claims a difference the intervals do not show", {
  est <- est_text()
  terms <- term_rows(est)
  # with naive intervals that hold everything, the text names the terms PPI++ and DSL make notable
  first <- expected_items(est[est$estimand == "regression" & est$term != "Intercept", ], "term", naive = FALSE)[[1]]
  # naive intervals that hold every estimate: no claim at all
  dir <- local_fixture()
  edit_csv(dir, "inference/estimates.csv", function(t) {
    naive <- t$method == "naive"
    t$ci_low[naive] <- "-1000"
    t$ci_high[naive] <- "1000"
    t
  })
  m <- methods_section(read_results(dir))
  expect_true(nzchar(findings_of(m)))
  expect_false(grepl("exclud", findings_of(m)))
  expect_findings_traced(m, dir)

  # the first term's naive interval holds its PPI++ estimate but not its DSL one; the others hold both
  rows <- terms[[first]]
  ppi <- as.numeric(rows$estimate[rows$method == "ppi"])
  dsl <- as.numeric(rows$estimate[rows$method == "dsl"])
  expect_false(isTRUE(all.equal(ppi, dsl)))
  half <- abs(dsl - ppi) / 2
  dir <- local_fixture()
  edit_csv(dir, "inference/estimates.csv", function(t) {
    naive <- t$method == "naive"
    t$ci_low[naive] <- "-1000"
    t$ci_high[naive] <- "1000"
    mine <- naive & t$estimand %in% "regression" & t$term %in% first
    t$estimate[mine] <- format(ppi, digits = 17)
    t$ci_low[mine] <- format(ppi - half, digits = 17)
    t$ci_high[mine] <- format(ppi + half, digits = 17)
    t
  })
  m <- methods_section(read_results(dir))
  text <- findings_of(m)
  claim <- claim_of(text)
  expect_equal(claim, paste0("The naive interval excluded the DSL estimate of `", first, "`."))
  expect_findings_traced(m, dir)
})

test_that("without a regression the headline gives each label's overall share, traced to its row", {
  dir <- local_fixture()
  edit_csv(dir, "inference/estimates.csv", function(t) t[t$estimand == "prevalence", ])
  edit_json(dir, "inference/summary.json", function(doc) {
    doc$formulas <- list()
    doc
  })
  m <- methods_section(read_results(dir))
  text <- findings_of(m)
  est <- est_text(dir)
  expect_false(any(est$estimand == "regression"))
  expect_false(grepl("regression", text))
  overall <- est[est$stratum == "", ]
  labels <- expected_items(overall, "label")
  for (i in seq_along(labels)) {
    r <- function(method) overall[overall$label == labels[[i]] & overall$method == method, ]
    phrase <- sprintf(
      "%s `%s`%s %s naive, %s by PPI++ and %s by DSL",
      if (i == 1) "the share of" else "that of", labels[[i]], if (i == 1) " was" else ",",
      ci_text_of(r("naive"), pct_text_signed), ci_text_of(r("ppi"), pct_text_signed), ci_text_of(r("dsl"), pct_text_signed)
    )
    expect_match(text, phrase, fixed = TRUE)
  }
  # each share is traced to the whole population's row: stratum ""
  numbers <- expect_findings_traced(m, dir)
  rows <- unlist(lapply(numbers, function(e) lapply(e$sources, function(s) s$row)), recursive = FALSE)
  strata <- unique(vapply(Filter(function(r) !is.null(r$stratum), rows), function(r) r$stratum, ""))
  expect_equal(strata, "")
  # and the claim follows the shares' numbers
  outside <- Filter(length, outside_naive(est, split(overall[overall$label %in% labels, ], factor(overall$label[overall$label %in% labels], levels = labels))))
  claim <- claim_of(text)
  expect_length(claim, as.integer(length(outside) > 0))
  for (lab in labels) {
    expect_equal(length(claim) > 0 && grepl(paste0("`", lab, "`"), claim, fixed = TRUE), lab %in% names(outside), label = lab)
  }
})

test_that("nothing is said or drawn about inference when the manifest lists no inference files", {
  dir <- local_fixture()
  keys <- vapply(read_manifest_json(dir)$files, function(f) f$key, "")
  keep_listed(dir, setdiff(keys, inference_keys))
  res <- read_results(dir)
  expect_null(res$inference)
  expect_null(res$records$inference)
  m <- methods_section(res)
  expect_false("findings" %in% names(attr(m, "facts")))
  expect_false(grepl("Findings|surrogate|PPI|DSL|inclusion probab", format(m)))
  keys_used <- unlist(lapply(attr(m, "sources")$numbers, function(e) vapply(e$sources, function(s) s$key, "")))
  expect_false(any(startsWith(keys_used, "inference")))
  expect_error(inference_table(res), "no inference data")
  expect_error(inference_plot(res), "no inference data")
  # the full fixture says it
  expect_true(nzchar(findings_of(methods_section(fixture_results()))))
})
