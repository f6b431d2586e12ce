test_that("reliability_table shows pairs, coefficients and CIs", {
  res <- read_results(make_results_dir())
  tab <- format(reliability_table(res, format = "markdown"))
  expect_match(tab, "coder_1 vs coder_2", fixed = TRUE)
  expect_match(tab, "0.810 [0.750, 0.870]", fixed = TRUE)
  expect_match(tab, "Cohen's kappa", fixed = TRUE)
  tex <- format(reliability_table(res, format = "latex"))
  expect_match(tex, "coder\\_1 vs coder\\_2", fixed = TRUE)
})

test_that("reliability_table fails clearly without reliability files", {
  res <- read_results(make_results_dir(parts = "metrics"))
  expect_error(reliability_table(res), "no reliability data")
})
