test_that("reliability_table shows pairs, coefficients and CIs", {
  res <- read_results(make_results_dir())
  tab <- format(reliability_table(res, format = "markdown"))
  expect_match(tab, "gemma3-270m vs gold", fixed = TRUE)
  expect_match(tab, "human verifiers: all labels", fixed = TRUE)
  expect_match(tab, "0.810 [0.750, 0.870]", fixed = TRUE)
  expect_match(tab, "Cohen's kappa", fixed = TRUE)
  expect_match(tab, "Krippendorff's alpha", fixed = TRUE)
  tex <- format(reliability_table(res, format = "latex"))
  expect_match(tex, "human verifiers: all labels", fixed = TRUE)
  expect_match(tex, "\\toprule", fixed = TRUE)
})

test_that("reliability_table fails clearly without reliability files", {
  res <- read_results(make_results_dir(parts = "metrics"))
  expect_error(reliability_table(res), "no reliability data")
})
