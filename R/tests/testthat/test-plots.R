test_that("learning_curve_plot summarises the fixture's seeds by mean and range", {
  res <- fixture_results()
  p <- learning_curve_plot(res)
  expect_s3_class(p, "ggplot")
  d <- p$data
  lc <- read_fixture_csv("learning_curve.csv")
  lc <- lc[lc$metric == "macro_f1", ]
  expect_setequal(d$train_size, as.integer(unique(lc$train_size)))
  for (size in unique(lc$train_size)) {
    values <- as.numeric(lc$value[lc$train_size == size])
    row <- d[d$model == "tfidf" & d$train_size == as.integer(size), ]
    expect_equal(row$mean, mean(values))
    expect_equal(row$low, min(values))
    expect_equal(row$high, max(values))
    expect_equal(row$n_seeds, 2L)
  }
  expect_equal(attr(p, "provenance")$metric, "macro_f1")
  expect_equal(attr(learning_curve_plot(res, "accuracy"), "provenance")$metric, "accuracy")
  expect_error(learning_curve_plot(res, metric = "bleu"), "Unknown metric")
  dir <- local_fixture()
  keep_listed(dir, "evaluation_metrics")
  expect_error(learning_curve_plot(read_results(dir)), "no learning_curve data")
})

test_that("confusion_plot normalises the fixture's rows", {
  res <- fixture_results()
  p <- confusion_plot(res, "tfidf")
  d <- p$data
  cm <- read_fixture_csv("evaluation/tfidf/confusion.csv")
  n <- as.integer(cm$n)
  support <- sum(n[cm$gold == "macro"])
  expect_equal(d$share[d$gold == "macro" & d$pred == "macro"], n[cm$gold == "macro" & cm$pred == "macro"] / support)
  sums <- tapply(d$share, d$gold, sum)
  expect_equal(as.vector(sums), rep(1, 10))
  # labels in the codebook order of per_class.csv
  expect_equal(levels(d$pred), read_fixture_csv("evaluation/tfidf/per_class.csv")$label)
  expect_equal(attr(p, "provenance")$system, "tfidf")
  expect_error(confusion_plot(res), "required when the results hold several")
  expect_error(confusion_plot(res, "gpt"), "Unknown system")
})

test_that("confusion_plot draws the only system without being told", {
  dir <- local_fixture()
  edit_manifest(dir, function(doc) {
    doc$files <- Filter(function(f) !identical(f$wildcards$system, "smollm2"), doc$files)
    doc
  })
  expect_equal(attr(confusion_plot(read_results(dir)), "provenance")$system, "tfidf")
})

test_that("confusion_plot refuses multi-label results", {
  res <- read_results(local_multi_fixture())
  expect_equal(res$task, "multi")
  expect_error(confusion_plot(res, "tfidf"), "single-label")
})

test_that("save_figure writes a PDF and a PNG", {
  res <- fixture_results()
  base <- file.path(withr::local_tempdir(), "fig", "confusion")
  paths <- save_figure(confusion_plot(res, "smollm2"), base, width = 4, height = 4, dpi = 72)
  expect_equal(paths, paste0(base, c(".pdf", ".png")))
  expect_true(all(file.size(paths) > 1000))
  expect_equal(readBin(paths[[1]], "raw", 4), charToRaw("%PDF"))
  expect_equal(readBin(paths[[2]], "raw", 4)[2:4], charToRaw("PNG"))
  expect_setequal(list.files(dirname(base), all.files = TRUE, no.. = TRUE),
                  c("confusion.pdf", "confusion.png"))
  expect_error(save_figure("not a plot", base), "ggplot")
})
