test_that("per_class_table lists each label with its scores", {
  res <- read_results(make_results_dir())
  tab <- format(per_class_table(res, format = "markdown", systems = "minilm-ft"))
  # minilm-ft health: precision 36/37, recall 36/40
  expect_match(tab, sprintf("\\|health +\\| +%.3f\\|", 36 / 37))
  expect_match(tab, "0.900", fixed = TRUE)
  expect_false(grepl("System", tab, fixed = TRUE))
  both <- format(per_class_table(res, format = "markdown"))
  expect_match(both, "System", fixed = TRUE)
  expect_equal(attr(per_class_table(res, format = "html"), "kind"), "per_class")
})

test_that("per_class_table fails clearly without per-class data", {
  res <- read_results(make_results_dir(parts = "metrics"))
  expect_error(per_class_table(res), "no per_class data")
})
