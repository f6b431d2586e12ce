test_that("metrics_table formats the fixture's estimates with CIs", {
  res <- fixture_results()
  tab <- metrics_table(res, format = "markdown", metrics = c("accuracy", "krippendorff_alpha"))
  expect_s3_class(tab, "llmcoder_table")
  expect_equal(attr(tab, "format"), "markdown")
  text <- format(tab)
  # smollm2 accuracy 0.47826 [0.32609, 0.60870] in evaluation/smollm2/metrics.csv
  expect_match(text, "0.478 [0.326, 0.609]", fixed = TRUE)
  expect_match(text, "| Krippendorff's alpha", fixed = TRUE)
  # no interval recorded: estimate alone
  expect_match(text, " 0.406|", fixed = TRUE)
  # n from the evaluation records
  expect_match(text, "|smollm2 |  46|", fixed = TRUE)
  expect_match(text, "|tfidf   | 264|", fixed = TRUE)
  expect_match(text, "95% bootstrap confidence intervals", fixed = TRUE)
  expect_false(grepl("Macro F1", text, fixed = TRUE))
})

test_that("metrics_table writes booktabs LaTeX and HTML", {
  res <- fixture_results()
  tex <- format(metrics_table(res, format = "latex", digits = 2))
  expect_match(tex, "\\toprule", fixed = TRUE)
  expect_match(tex, "0.48 [0.33, 0.61]", fixed = TRUE)
  expect_match(tex, "Cohen's kappa", fixed = TRUE)
  html <- format(metrics_table(res, format = "html"))
  expect_match(html, "<table", fixed = TRUE)
  expect_match(html, "tfidf", fixed = TRUE)
})

test_that("metrics_table shows multi-label metrics", {
  text <- format(metrics_table(read_results(local_multi_fixture()), format = "markdown", systems = "tfidf"))
  expect_match(text, "Hamming loss", fixed = TRUE)
  expect_match(text, "0.580 [0.530, 0.630]", fixed = TRUE)
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
