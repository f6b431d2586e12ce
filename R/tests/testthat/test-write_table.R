test_that("write_table writes the table text and nothing else", {
  tab <- metrics_table(fixture_results(), format = "latex")
  out <- file.path(withr::local_tempdir(), "sub", "metrics.tex")
  expect_equal(write_table(tab, out), out)
  expect_equal(paste(readLines(out, encoding = "UTF-8"), collapse = "\n"), format(tab))
  expect_equal(list.files(dirname(out), all.files = TRUE, no.. = TRUE), "metrics.tex")
})

test_that("write_table refuses other objects", {
  expect_error(write_table("text", tempfile()), "llmcoder_table")
})
