test_that("learning_curve_plot summarises the fixture's seeds by mean and range", {
  res <- fixture_results()
  p <- learning_curve_plot(res)
  expect_s3_class(p, "ggplot")
  # Cohen's kappa by default: the metric the human ceiling and the LLM coders are read by
  expect_equal(attr(p, "provenance")$metric, "cohen_kappa")
  d <- p$data
  lc <- read_fixture_csv("learning_curve.csv")
  lc <- lc[lc$metric == "cohen_kappa", ]
  expect_setequal(d$train_size, as.integer(unique(lc$train_size)))
  for (size in unique(lc$train_size)) {
    values <- as.numeric(lc$value[lc$train_size == size])
    row <- d[d$model == "tfidf" & d$train_size == as.integer(size), ]
    expect_equal(row$mean, mean(values))
    expect_equal(row$low, min(values))
    expect_equal(row$high, max(values))
    expect_equal(row$n_seeds, length(values))
  }
  expect_match(p$labels$caption, "Line: mean over 2 seeds", fixed = TRUE)
  expect_equal(attr(learning_curve_plot(res, "accuracy"), "provenance")$metric, "accuracy")
  expect_error(learning_curve_plot(res, metric = "bleu"), "Unknown metric")
  dir <- local_fixture()
  keep_listed(dir, "evaluation_metrics")
  expect_error(learning_curve_plot(read_results(dir)), "no learning_curve data")
})

test_that("learning_curve_plot draws the zero-shot LLM coders and the human ceiling", {
  res <- fixture_results()
  refs <- attr(learning_curve_plot(res), "references")
  vs <- read_fixture_csv("evaluation/smollm2/metrics.csv")
  llm <- refs[refs$kind == "LLM coder", ]
  expect_equal(llm$name, "smollm2 (zero-shot)")
  expect_equal(llm$estimate, as.numeric(vs$estimate[vs$metric == "cohen_kappa"]))
  hc <- read_fixture_csv("verify/ingest/human_ceiling.csv")
  hc <- hc[hc$coefficient == "cohen_kappa", ]
  band <- refs[refs$kind == "human ceiling", ]
  expect_equal(c(band$estimate, band$low, band$high), as.numeric(c(hc$estimate, hc$ci_low, hc$ci_high)))
  # accuracy is read against the people's percent agreement; macro-F1 has no human ceiling
  acc <- attr(learning_curve_plot(res, "accuracy"), "references")
  pa <- read_fixture_csv("verify/ingest/human_ceiling.csv")
  expect_equal(acc$estimate[acc$kind == "human ceiling"], as.numeric(pa$estimate[pa$coefficient == "percent_agreement"]))
  expect_false("human ceiling" %in% attr(learning_curve_plot(res, "macro_f1"), "references")$kind)
  expect_equal(nrow(attr(learning_curve_plot(res, references = FALSE), "references")), 0)
  # it draws
  path <- file.path(withr::local_tempdir(), "curve")
  expect_true(all(file.exists(save_figure(learning_curve_plot(res), path, dpi = 50))))
})

test_that("positional_bias_plot shows the first-label share with an exact interval, against the base rate", {
  res <- fixture_results()
  p <- positional_bias_plot(res)
  pos <- read_fixture_csv("bias/positional.csv")
  d <- p$data[p$data$measure == "First-listed label chosen", ]
  k <- as.integer(pos$first_chosen)
  n <- as.integer(pos$n_codings)
  expect_equal(d$share, as.numeric(pos$first_share))
  expect_equal(d$share, k / n)
  expect_equal(c(d$low, d$high), stats::binom.test(k, n)$conf.int[1:2])
  expect_equal(d$base_rate, as.numeric(pos$first_base_rate))
  # the bias check's p-value (scipy's binomtest) is R's two-sided binomial test of the share against the base rate
  expect_equal(as.numeric(pos$p_value), stats::binom.test(k, n, as.numeric(pos$first_base_rate))$p.value,
               tolerance = 1e-6)
  flips <- p$data[p$data$measure == "Label changed with the order", ]
  expect_equal(flips$share, as.numeric(pos$flip_rate))
  path <- file.path(withr::local_tempdir(), "pos")
  expect_true(all(file.exists(save_figure(p, path, dpi = 50))))
  dir <- local_fixture()
  keep_listed(dir, "evaluation_metrics")
  expect_error(positional_bias_plot(read_results(dir)), "no positional bias data")
})

test_that("calibration_bins computes the ECE of equal-width bins", {
  data <- data.frame(
    system = rep(c("a", "b"), each = 6),
    confidence = c(0.05, 0.15, 0.95, 0.95, 1.0, 0.55, 0.3, 0.3, 0.3, 0.3, 0.7, 0.7),
    correct = c(FALSE, FALSE, TRUE, TRUE, TRUE, FALSE, TRUE, FALSE, FALSE, FALSE, TRUE, TRUE)
  )
  b <- calibration_bins(data, bins = 10)
  # by hand: a has bins [0,.1) [.1,.2) [.5,.6) [.9,1] with gaps .05 .15 .55 and |1 - 0.9667|
  ece_a <- (0.05 + 0.15 + 0.55 + 3 * abs(1 - mean(c(0.95, 0.95, 1.0)))) / 6
  # b: 0.3 is the lower edge of [.3,.4) (seq's 0.3 is 0.30000000000000004, so 0.3 falls below it)
  ece_b <- (4 * abs(0.25 - 0.3) + 2 * abs(1 - 0.7)) / 6
  expect_equal(unname(attr(b, "ece")), c(ece_a, ece_b))
  # an independent formula: ECE is the weighted mean of |acc - conf| over the bins found by cut()
  for (s in c("a", "b")) {
    d <- data[data$system == s, ]
    bin <- cut(d$confidence, seq(0, 1, length.out = 11), right = FALSE, include.lowest = TRUE)
    gaps <- tapply(d$correct, bin, mean) - tapply(d$confidence, bin, mean)
    w <- tapply(d$confidence, bin, length) / nrow(d)
    expect_equal(attr(b, "ece")[[s]], sum(w * abs(gaps), na.rm = TRUE))
  }
  expect_equal(sum(b$n), nrow(data))
  expect_equal(b$accuracy[b$system == "a" & b$bin == 10], 1)
  p <- calibration_plot(data, bins = 10)
  expect_equal(attr(p, "ece"), attr(b, "ece"))
  expect_equal(levels(p$data$panel)[[1]], sprintf("a\nECE = %.3f", ece_a))
  expect_match(p$labels$caption, "the label given", fixed = TRUE)
  path <- file.path(withr::local_tempdir(), "cal")
  expect_true(all(file.exists(save_figure(p, path, dpi = 50))))
})

test_that("calibration_bins refuses bad data, naming the file and the fix", {
  dir <- withr::local_tempdir()
  path <- file.path(dir, "calibration.csv")
  expect_error(calibration_bins(path), "Not found")
  utils::write.csv(data.frame(system = "a", confidence = c(0.2, 1.4), correct = c(TRUE, FALSE)), path, row.names = FALSE)
  expect_error(calibration_bins(path), "calibration.csv.*invalid rows")
  expect_error(calibration_bins(data.frame(system = "a", confidence = 0.2)), "lack column")
  expect_error(calibration_bins(data.frame(system = "a", confidence = 0.2, correct = TRUE), bins = 0), "positive whole number")
  expect_error(calibration_bins(list(1)), "data frame")
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
