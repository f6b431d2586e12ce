test_that("metrics_table formats estimates with CIs", {
  res <- read_results(make_results_dir())
  tab <- metrics_table(res, format = "markdown", metrics = c("accuracy", "krippendorff_alpha"))
  expect_s3_class(tab, "llmcoder_table")
  expect_equal(attr(tab, "format"), "markdown")
  text <- format(tab)
  expect_match(text, "0.810 [0.760, 0.850]", fixed = TRUE)
  expect_match(text, "| Krippendorff's alpha", fixed = TRUE)
  # no interval recorded: estimate alone
  expect_match(text, " 0.700|", fixed = TRUE)
  expect_match(text, "95% bootstrap confidence intervals", fixed = TRUE)
  expect_false(grepl("Macro F1", text, fixed = TRUE))
})

test_that("metrics_table writes booktabs LaTeX and HTML", {
  res <- read_results(make_results_dir())
  tex <- format(metrics_table(res, format = "latex", digits = 2))
  expect_match(tex, "\\toprule", fixed = TRUE)
  expect_match(tex, "0.81 [0.76, 0.85]", fixed = TRUE)
  expect_match(tex, "Cohen's kappa", fixed = TRUE)
  html <- format(metrics_table(res, format = "html"))
  expect_match(html, "<table", fixed = TRUE)
  expect_match(html, "minilm-ft", fixed = TRUE)
})

test_that("metrics_table checks its arguments", {
  res <- read_results(make_results_dir())
  expect_error(metrics_table(res, format = "docx"), "should be one of")
  expect_error(metrics_table(res, metrics = "bleu"), "Unknown metrics")
  expect_error(metrics_table(list()), "llmcoder_results")
  expect_error(metrics_table(res, digits = -1), "non-negative")
  expect_error(
    metrics_table(read_results(make_results_dir(parts = "per_class"))),
    "no metrics data"
  )
})

test_that("tables carry provenance and print invisibly", {
  res <- read_results(make_results_dir())
  tab <- metrics_table(res, format = "markdown")
  prov <- attr(tab, "provenance")
  expect_equal(prov$verb, "metrics_table")
  expect_equal(prov$parent$verb, "read_results")
  expect_output(out <- print(tab), "gemma3-270m")
  expect_identical(out, tab)
})
