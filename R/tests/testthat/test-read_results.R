test_that("read_results reads every part with typed columns", {
  res <- read_results(make_results_dir())
  expect_s3_class(res, "llmcoder_results")
  expect_equal(res$study, "demo")
  expect_equal(unique(res$metrics$system), c("gemma3-270m", "minilm-ft"))
  expect_type(res$metrics$estimate, "double")
  expect_equal(res$metrics$estimate[[1]], 0.81)
  expect_true(is.na(res$metrics$ci_low[res$metrics$metric == "krippendorff_alpha"][[1]]))
  expect_equal(nrow(res$per_class), 6)
  expect_equal(sum(res$confusion$count[res$confusion$system == "minilm-ft"]), 100)
  expect_equal(res$task, "single")
  expect_equal(res$reliability$source, c("coders_vs_gold", "coders_vs_gold", rep("reliability", 2)))
  expect_equal(res$reliability$metric, c("cohen_kappa", "cohen_kappa", rep("krippendorff_alpha", 2)))
  expect_equal(res$reliability$n, c(100, 100, 200, 40))
  expect_equal(res$reliability$comparison[3], "human verifiers")
  # contract names mapped: confusion n -> count, metrics n from metrics.json
  expect_true("count" %in% names(res$confusion))
  expect_equal(unique(res$metrics$n), 100)
  expect_equal(names(res$bias), c("positional", "recall_asymmetry", "strata"))
  expect_equal(res$bias$positional$p_value, 0.0004)
  expect_equal(nrow(res$learning_curve), 12)
  expect_setequal(
    names(res$records),
    c("bias/provenance.json", "code/gemma3-270m/provenance.json",
      "evaluation/gemma3-270m/metrics.json", "evaluation/minilm-ft/metrics.json",
      "provenance.json")
  )
})

test_that("read_results carries a provenance attribute with file checksums", {
  dir <- make_results_dir()
  res <- read_results(dir)
  prov <- attr(res, "provenance")
  expect_equal(prov$verb, "read_results")
  expect_true("evaluation/minilm-ft/metrics.csv" %in% names(prov$files))
  expect_equal(
    prov$files[["learning_curve.csv"]],
    unname(as.character(tools::md5sum(file.path(dir, "learning_curve.csv"))))
  )
})

test_that("read_results tolerates absent parts", {
  res <- read_results(make_results_dir(parts = "metrics"))
  expect_null(res$per_class)
  expect_null(res$confusion)
  expect_null(res$reliability)
  expect_null(res$learning_curve)
  expect_null(res$bias)
  expect_length(res$records, 0)
  expect_false("n" %in% names(res$metrics))
  expect_true(is.na(res$task))
  empty <- withr::local_tempdir()
  res <- read_results(empty)
  expect_null(res$metrics)
  msgs <- paste(capture_messages(print(res)), collapse = "")
  expect_match(msgs, "metrics: absent")
  expect_match(msgs, "records: 0 JSON files")
})

test_that("the system column is filled from the folder when missing", {
  dir <- withr::local_tempdir()
  write_csv_fixture(
    data.frame(metric = "accuracy", estimate = 0.5, ci_low = NA, ci_high = NA, n = 10),
    file.path(dir, "evaluation", "sys_a", "metrics.csv")
  )
  expect_equal(read_results(dir)$metrics$system, "sys_a")
})

test_that("labels that look like numbers or NA stay text", {
  dir <- withr::local_tempdir()
  write_csv_fixture(
    data.frame(system = "s", label = c("1", "NA"), precision = 1, recall = 1, f1 = 1,
               sensitivity = 1, specificity = 1, support = 3),
    file.path(dir, "evaluation", "s", "per_class.csv")
  )
  expect_identical(read_results(dir)$per_class$label, c("1", "NA"))
})

test_that("read_results errors name the problem", {
  expect_error(read_results(file.path(tempdir(), "no-such-dir")), "does not exist")
  expect_error(read_results(c("a", "b")), "single path")
})

test_that("print returns its input invisibly", {
  res <- read_results(make_results_dir())
  vis <- withVisible(suppressMessages(print(res)))
  expect_false(vis$visible)
  expect_identical(vis$value, res)
})

test_that("a confusion count column named count is read too", {
  dir <- withr::local_tempdir()
  write_csv_fixture(
    data.frame(system = "s", gold = c("a", "a"), pred = c("a", "b"), count = c(3, 1)),
    file.path(dir, "evaluation", "s", "confusion.csv")
  )
  expect_equal(read_results(dir)$confusion$count, c(3, 1))
})

test_that("the task recorded in metrics.json wins over the confusion layout", {
  dir <- withr::local_tempdir()
  write_csv_fixture(
    data.frame(system = "m", gold = c("x", "x"), pred = c("x", "y"), n = c(2, 0)),
    file.path(dir, "evaluation", "m", "confusion.csv")
  )
  expect_equal(read_results(dir)$task, "single")
  write_json_fixture(list(system = "m", task = "multi"), file.path(dir, "evaluation", "m", "metrics.json"))
  expect_equal(read_results(dir)$task, "multi")
})

test_that("read_results skips a staged folder a killed step left in evaluation/", {
  dir <- make_results_dir()
  systems <- read_results(dir)$metrics$system
  staged <- file.path(dir, "evaluation", ".minilm-ft.abcdefgh.llmcoder-tmp")
  dir.create(staged)
  file.copy(list.files(file.path(dir, "evaluation", "minilm-ft"), full.names = TRUE), staged)
  expect_equal(sort(read_results(dir)$metrics$system), sort(systems))
})
