test_that("reliability_table shows the fixture's comparisons, coefficients and CIs", {
  res <- fixture_results()
  tab <- format(reliability_table(res, format = "markdown"))
  expect_match(tab, "smollm2 vs gold", fixed = TRUE)
  expect_match(tab, "human verifiers: all labels", fixed = TRUE)
  # verify/ingest/reliability.csv: percent agreement 0.6667 [0.4876, 0.8457], 30 units
  expect_match(tab, "0.667 [0.488, 0.846]", fixed = TRUE)
  expect_match(tab, "Cohen's kappa", fixed = TRUE)
  expect_match(tab, "Krippendorff's alpha", fixed = TRUE)
  expect_match(tab, "Gwet's AC1", fixed = TRUE)
  expect_equal(length(strsplit(tab, "\n")[[1]]), nrow(res$reliability) + 4) # caption, blank, header, rule
  tex <- format(reliability_table(res, format = "latex"))
  expect_match(tex, "human verifiers: all labels", fixed = TRUE)
  expect_match(tex, "\\toprule", fixed = TRUE)
})

test_that("reliability_table fails clearly without reliability files", {
  dir <- local_fixture()
  keep_listed(dir, "evaluation_metrics")
  expect_error(reliability_table(read_results(dir)), "no reliability data")
})
