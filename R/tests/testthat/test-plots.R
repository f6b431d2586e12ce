test_that("learning_curve_plot summarises seeds by mean and range", {
  res <- read_results(make_results_dir())
  p <- learning_curve_plot(res)
  expect_s3_class(p, "ggplot")
  d <- p$data
  row <- d[d$model == "logreg" & d$train_size == 200, ]
  # values: 0.5 + 0.1 + 0.01 * seed - 0.05 for seeds 1, 2
  expect_equal(row$mean, 0.565)
  expect_equal(row$low, 0.56)
  expect_equal(row$high, 0.57)
  expect_equal(attr(p, "provenance")$metric, "macro_f1")
  expect_error(learning_curve_plot(res, metric = "accuracy"), "Unknown metric")
  expect_error(
    learning_curve_plot(read_results(make_results_dir(parts = "metrics"))),
    "no learning_curve data"
  )
})

test_that("confusion_plot normalises rows", {
  res <- read_results(make_results_dir())
  p <- confusion_plot(res, "gemma3-270m")
  d <- p$data
  expect_equal(d$share[d$gold == "health" & d$pred == "health"], 30 / 40)
  expect_equal(d$share[d$gold == "economy" & d$pred == "defense"], 0)
  sums <- tapply(d$share, d$gold, sum)
  expect_equal(as.vector(sums), c(1, 1, 1))
  expect_equal(levels(d$pred), c("health", "economy", "defense"))
  expect_error(confusion_plot(res), "required when the results hold several")
  expect_error(confusion_plot(res, "gpt"), "Unknown system")
})

test_that("confusion_plot refuses multi-label confusion tables", {
  dir <- withr::local_tempdir()
  write_csv_fixture(
    data.frame(system = "s", label = "a", tp = 1, fp = 2, fn = 3, tn = 4),
    file.path(dir, "evaluation", "s", "confusion.csv")
  )
  res <- read_results(dir)
  expect_equal(res$task, "multi")
  expect_error(confusion_plot(res), "single-label")
})

test_that("save_figure writes a PDF and a PNG", {
  res <- read_results(make_results_dir())
  base <- file.path(withr::local_tempdir(), "fig", "confusion")
  paths <- save_figure(confusion_plot(res, "minilm-ft"), base, width = 4, height = 4, dpi = 72)
  expect_equal(paths, paste0(base, c(".pdf", ".png")))
  expect_true(all(file.size(paths) > 1000))
  expect_equal(readBin(paths[[1]], "raw", 4), charToRaw("%PDF"))
  expect_equal(readBin(paths[[2]], "raw", 4)[2:4], charToRaw("PNG"))
  expect_setequal(list.files(dirname(base), all.files = TRUE, no.. = TRUE),
                  c("confusion.pdf", "confusion.png"))
  expect_error(save_figure("not a plot", base), "ggplot")
})
