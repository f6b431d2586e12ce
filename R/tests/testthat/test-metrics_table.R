# "0.478 [0.326, 0.609]" from a row of the fixture's metrics.csv
cell_of <- function(sys, metric, digits = 3) {
  m <- read_fixture_csv(file.path("evaluation", sys, "metrics.csv"))
  r <- m[m$metric == metric, ]
  f <- function(v) formatC(as.numeric(v), format = "f", digits = digits)
  if (is.na(r$ci_low)) f(r$estimate) else sprintf("%s [%s, %s]", f(r$estimate), f(r$ci_low), f(r$ci_high))
}

test_that("metrics_table has one row per system: type, n, accuracy, macro-F1 and kappa with CIs", {
  res <- fixture_results()
  text <- format(metrics_table(res, format = "markdown"))
  lines <- strsplit(text, "\n")[[1]]
  header <- grep("^\\|System", lines, value = TRUE)
  expect_match(header, "^\\|System +\\|Type +\\| +n\\| +Accuracy\\| +Macro-F1\\| +Cohen's kappa\\|$")
  rows <- grep("^\\|(tfidf|smollm2) ", lines, value = TRUE)
  # the final (fine-tuned) model first, then the LLM coder
  expect_match(rows[[1]], "^\\|tfidf ")
  expect_match(rows[[2]], "^\\|smollm2 ")
  kind <- read_fixture_json("finetune/tfidf/size1.0_seed1/metrics.json")$kind
  for (sys in c("tfidf", "smollm2")) {
    row <- rows[grepl(paste0("^\\|", sys, " "), rows)]
    n <- read_fixture_json(file.path("evaluation", sys, "metrics.json"))$n
    expect_match(row, sprintf("\\| *%d\\|", n))
    for (metric in c("accuracy", "macro_f1", "cohen_kappa")) expect_match(row, cell_of(sys, metric), fixed = TRUE)
  }
  expect_match(rows[[1]], sprintf("Fine-tuned (%s)", kind), fixed = TRUE)
  expect_match(rows[[2]], "LLM, zero-shot", fixed = TRUE)
  expect_false(grepl("Krippendorff", text, fixed = TRUE))
  level <- read_fixture_json("evaluation/tfidf/metrics.json")$ci_level
  expect_match(text, sprintf("%d%% percentile bootstrap confidence intervals in brackets", round(100 * level)), fixed = TRUE)
  hc <- read_fixture_csv("verify/ingest/human_ceiling.csv")
  hc <- hc[hc$coefficient == "cohen_kappa", ]
  expect_match(text, sprintf(
    "Human ceiling (agreement of the verifiers' own labels): Cohen's kappa %.3f [%.3f, %.3f] on %s documents.",
    as.numeric(hc$estimate), as.numeric(hc$ci_low), as.numeric(hc$ci_high), hc$n_units
  ), fixed = TRUE)
})

test_that("metrics_table shows every metric for an appendix, and chosen ones in order", {
  res <- fixture_results()
  all <- format(metrics_table(res, format = "markdown", metrics = "all"))
  for (metric in read_fixture_csv("evaluation/tfidf/metrics.csv")$metric) {
    expect_match(all, metric_label(metric), fixed = TRUE)
  }
  # no interval recorded: the estimate alone
  expect_match(all, paste0(" ", cell_of("smollm2", "krippendorff_alpha"), "|"), fixed = TRUE)
  two <- format(metrics_table(res, format = "markdown", metrics = c("krippendorff_alpha", "accuracy")))
  expect_match(two, "Krippendorff's alpha\\| +Accuracy\\|")
  expect_false(grepl("Macro-F1", two, fixed = TRUE))
})

test_that("metrics_table writes booktabs LaTeX and HTML", {
  res <- fixture_results()
  tex <- format(metrics_table(res, format = "latex", digits = 2))
  expect_match(tex, "\\toprule", fixed = TRUE)
  expect_match(tex, cell_of("smollm2", "accuracy", 2), fixed = TRUE)
  expect_match(tex, "Cohen's kappa", fixed = TRUE)
  expect_match(tex, "95\\%", fixed = TRUE)
  html <- format(metrics_table(res, format = "html"))
  expect_match(html, "<table", fixed = TRUE)
  expect_match(html, "tfidf", fixed = TRUE)
})

test_that("metrics_table shows multi-label metrics", {
  dir <- local_multi_fixture()
  text <- format(metrics_table(read_results(dir), format = "markdown", systems = "tfidf"))
  m <- read_fixture_csv("evaluation/tfidf/metrics.csv", dir)
  expect_equal(sort(m$metric), sort(c("hamming_loss", "jaccard_samples", "micro_f1", "macro_f1")))
  expect_match(text, "Hamming loss", fixed = TRUE)
  r <- m[m$metric == "macro_f1", ]
  expect_match(text, sprintf("%.3f [%.3f, %.3f]", as.numeric(r$estimate), as.numeric(r$ci_low), as.numeric(r$ci_high)), fixed = TRUE)
})

test_that("metrics_table checks its arguments", {
  res <- fixture_results()
  expect_error(metrics_table(res, format = "docx"), "should be one of")
  expect_error(metrics_table(res, metrics = "bleu"), "Unknown metrics")
  expect_error(metrics_table(res, systems = "gpt"), "Unknown systems")
  expect_error(metrics_table(list()), "llmcoder_results")
  expect_error(metrics_table(res, digits = -1), "non-negative")
  dir <- local_fixture()
  keep_listed(dir, "evaluation_per_class")
  expect_error(metrics_table(read_results(dir)), "no metrics data")
})

test_that("tables carry provenance and print invisibly", {
  res <- fixture_results()
  tab <- metrics_table(res, format = "markdown")
  prov <- attr(tab, "provenance")
  expect_equal(prov$verb, "metrics_table")
  expect_equal(prov$parent$verb, "read_results")
  expect_output(out <- print(tab), "smollm2")
  expect_identical(out, tab)
})
