test_that("per_class_table lists each label of the fixture with its scores", {
  res <- fixture_results()
  tab <- format(per_class_table(res, format = "markdown", systems = "tfidf"))
  pc <- read_fixture_csv("evaluation/tfidf/per_class.csv")
  row <- pc[pc$label == "macro", ]
  expect_match(tab, sprintf(
    "|macro       |     %.3f|  %.3f| %.3f|", as.numeric(row$precision), as.numeric(row$recall), as.numeric(row$f1)
  ), fixed = TRUE)
  expect_match(tab, sprintf("| %7s|", row$support))
  expect_false(grepl("System", tab, fixed = TRUE))
  both <- format(per_class_table(res, format = "markdown"))
  expect_match(both, "System", fixed = TRUE)
  expect_equal(attr(per_class_table(res, format = "html"), "kind"), "per_class")
})

test_that("per_class_table fails clearly without per-class data", {
  dir <- local_fixture()
  keep_listed(dir, "evaluation_metrics")
  expect_error(per_class_table(read_results(dir)), "no per_class data")
})
