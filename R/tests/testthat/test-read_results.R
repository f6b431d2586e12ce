test_that("read_results reads every part of the fixture with the manifest's column types", {
  res <- fixture_results()
  expect_s3_class(res, "llmcoder_results")
  expect_equal(res$study, "mini")
  expect_equal(res$dir, normalizePath(fixture_path(), winslash = "/"))
  expect_equal(unique(res$metrics$system), c("smollm2", "tfidf"))
  expect_type(res$metrics$estimate, "double")
  csv <- read_fixture_csv("evaluation/tfidf/metrics.csv")
  expect_equal(res$metrics$estimate[res$metrics$system == "tfidf"], as.numeric(csv$estimate))
  # an empty cell (no interval) is NA
  expect_true(is.na(res$metrics$ci_low[res$metrics$metric == "krippendorff_alpha"][[1]]))
  # n of the metrics comes from each system's evaluation record
  for (sys in c("smollm2", "tfidf")) {
    n <- read_fixture_json(file.path("evaluation", sys, "metrics.json"))$n
    expect_equal(unique(res$metrics$n[res$metrics$system == sys]), n)
    # single-label: every test document is one cell of the confusion counts
    expect_equal(sum(res$confusion$count[res$confusion$system == sys]), n)
  }
  expect_type(res$confusion$count, "integer")
  expect_false("n" %in% names(res$confusion))
  expect_type(res$per_class$support, "integer")
  expect_equal(nrow(res$per_class), 20)
  expect_equal(res$task, "single")
  expect_type(res$learning_curve$train_size, "integer")
  expect_type(res$learning_curve$value, "double")
  expect_equal(nrow(res$learning_curve), nrow(read_fixture_csv("learning_curve.csv")))
  expect_equal(names(res$bias), c("positional", "recall_asymmetry", "strata", "routing"))
  routing <- read_fixture_csv("bias/routing.csv")
  expect_equal(res$bias$routing$n, as.integer(routing$n))
  expect_type(res$bias$routing$below_overall, "logical")
  expect_type(res$bias$recall_asymmetry$flag, "logical")
  expect_type(res$bias$strata$below_overall, "logical")
  expect_equal(res$bias$positional$n_flipped, as.integer(read_fixture_csv("bias/positional.csv")$n_flipped))
  acc <- read_fixture_csv("verify/ingest/acceptance.csv")
  expect_equal(res$acceptance$acceptance, as.numeric(acc$acceptance))
  expect_type(res$acceptance$n_decisions, "integer")
  expect_equal(res$workload$coder, read_fixture_csv("verify/ingest/workload.csv")$coder)
})

test_that("reliability holds coders vs gold, the human verifiers and the human ceiling, with the verbs' aliases", {
  rel <- fixture_results()$reliability
  gold <- read_fixture_csv("reliability/coders_vs_gold.csv")
  humans <- read_fixture_csv("verify/ingest/reliability.csv")
  ceiling <- read_fixture_csv("verify/ingest/human_ceiling.csv")
  n <- c(nrow(gold), nrow(humans), nrow(ceiling))
  expect_equal(nrow(rel), sum(n))
  expect_equal(rel$source, rep(c("coders_vs_gold", "verifier_reliability_csv", "human_ceiling_csv"), n))
  expect_equal(rel$comparison, c(gold$comparison, rep(c("human verifiers", "human ceiling"), n[2:3])))
  expect_equal(rel$metric, rel$coefficient)
  expect_equal(rel$n, rel$n_units)
  expect_equal(rel$n, as.integer(c(gold$n_units, humans$n_units, ceiling$n_units)))
  expect_equal(rel$scope, c(rep(NA, nrow(gold)), humans$scope, rep(NA, nrow(ceiling))))
})

test_that("records are the JSON files of the manifest, by kind and wildcard", {
  res <- fixture_results()
  expect_equal(
    names(res$records),
    c(
      "evaluation", "evaluation_provenance", "coders", "verification", "sheets", "finetune", "predictions",
      "inference", "split"
    )
  )
  expect_equal(res$records$split, read_fixture_json("split.json"))
  expect_equal(names(res$records$evaluation), c("smollm2", "tfidf"))
  expect_equal(res$records$evaluation$tfidf, read_fixture_json("evaluation/tfidf/metrics.json"))
  expect_equal(res$records$coders$smollm2, read_fixture_json("coders/smollm2.json"))
  expect_equal(res$records$verification, read_fixture_json("verify/ingest/summary.json"))
  expect_equal(res$records$sheets, read_fixture_json("verify/sheets/manifest.json"))
  expect_equal(res$records$predictions$tfidf, read_fixture_json("predictions/tfidf.json"))
  expect_length(res$records$finetune, 4)
  ft <- res$records$finetune[["finetune/tfidf/size0.5_seed2/metrics.json"]]
  expect_equal(ft$wildcards, list(model = "tfidf", seed = "2", size = "0.5"))
  expect_equal(ft$record, read_fixture_json("finetune/tfidf/size0.5_seed2/metrics.json"))
  expect_equal(res$manifest, read_manifest_json())
})

test_that("reading the manifest file equals reading its folder", {
  a <- read_results(fixture_path())
  b <- read_results(fixture_path("manifest.json"))
  expect_equal(attr(a, "provenance")$files, attr(b, "provenance")$files)
  attr(a, "provenance") <- NULL
  attr(b, "provenance") <- NULL
  expect_identical(a, b)
})

test_that("read_results carries a provenance attribute with the MD5 of every file it read", {
  res <- fixture_results()
  prov <- attr(res, "provenance")
  expect_equal(prov$verb, "read_results")
  expect_equal(prov$manifest, "manifest.json")
  expect_equal(
    prov$files[["learning_curve.csv"]],
    unname(as.character(tools::md5sum(fixture_path("learning_curve.csv"))))
  )
  # parquet and xlsx files are listed but not read
  expect_false(any(grepl("\\.(parquet|xlsx)$", names(prov$files))))
  expect_true("coders/smollm2.json" %in% names(prov$files))
})

test_that("a stale folder beside the listed files is not read", {
  dir <- local_fixture()
  clean <- read_results(dir)
  # what an earlier run might have left: a system since removed, another reliability table, a record
  old <- file.path(dir, "evaluation", "old")
  dir.create(old)
  file.copy(list.files(file.path(dir, "evaluation", "tfidf"), full.names = TRUE), old)
  edit_csv(dir, "evaluation/old/metrics.csv", function(t) transform(t, system = "old"), update_manifest = FALSE)
  file.copy(file.path(dir, "reliability", "coders_vs_gold.csv"), file.path(dir, "reliability", "old.csv"))
  file.copy(file.path(dir, "coders", "smollm2.json"), file.path(dir, "coders", "gemma.json"))
  dir.create(file.path(dir, "finetune", "tfidf", "size0.25_seed1"))
  file.copy(
    file.path(dir, "finetune", "tfidf", "size0.5_seed1", "metrics.json"),
    file.path(dir, "finetune", "tfidf", "size0.25_seed1")
  )
  stale <- read_results(dir)
  expect_equal(unique(stale$metrics$system), c("smollm2", "tfidf"))
  expect_equal(names(stale$records$evaluation), c("smollm2", "tfidf"))
  expect_equal(names(stale$records$coders), "smollm2")
  expect_length(stale$records$finetune, 4)
  attr(clean, "provenance") <- NULL
  attr(stale, "provenance") <- NULL
  expect_identical(stale, clean)
})

test_that("a missing manifest stops with the file and the fix", {
  dir <- local_fixture()
  unlink(file.path(dir, "manifest.json"))
  expect_error(read_results(dir), "manifest\\.json")
  expect_error(read_results(dir), "Run the workflow for this study first")
  expect_error(read_results(file.path(dir, "manifest.json")), "Not found")
  expect_error(read_results(file.path(tempdir(), "no-such-study")), "no-such-study/manifest\\.json")
})

test_that("a manifest of another contract or version stops", {
  dir <- local_fixture()
  edit_manifest(dir, function(doc) {
    doc$contract_version <- 2L
    doc
  })
  expect_error(read_results(dir), "manifest\\.json.*version.*2")
  edit_manifest(dir, function(doc) {
    doc$contract_version <- 1L
    doc$contract <- "something-else"
    doc
  })
  expect_error(read_results(dir), "another results contract")
  writeLines("{ not json", file.path(dir, "manifest.json"))
  expect_error(read_results(dir), "Could not read the results manifest")
})

test_that("a listed file that changed since the manifest was written stops", {
  dir <- local_fixture()
  path <- file.path(dir, "evaluation", "tfidf", "metrics.csv")
  cat("tfidf,accuracy,0.99,,\n", file = path, append = TRUE)
  expect_error(read_results(dir), "changed since the manifest was written")
  expect_error(read_results(dir), "evaluation/tfidf/metrics\\.csv")
  expect_error(read_results(dir), "rerun the workflow", ignore.case = TRUE)
})

test_that("a missing listed file stops, naming it", {
  dir <- local_fixture()
  unlink(file.path(dir, "evaluation", "tfidf", "per_class.csv"))
  expect_error(read_results(dir), "evaluation/tfidf/per_class\\.csv")
  expect_error(read_results(dir), "missing")
  # a listed file R does not read is still part of the results
  dir <- local_fixture()
  unlink(file.path(dir, "corpus.parquet"))
  expect_error(read_results(dir), "corpus\\.parquet")
})

test_that("a changed file whose key R does not read does not stop it", {
  dir <- local_fixture()
  cat("changed", file = file.path(dir, "verify", "sheets", "anna.xlsx"), append = TRUE)
  expect_s3_class(read_results(dir), "llmcoder_results")
})

test_that("a table lacking a required column of its entry stops, naming the file and column", {
  dir <- local_fixture()
  edit_csv(dir, "evaluation/smollm2/per_class.csv", function(t) t[setdiff(names(t), "support")])
  expect_error(read_results(dir), "evaluation/smollm2/per_class\\.csv")
  expect_error(read_results(dir), "support")
  dir <- local_fixture()
  edit_json(dir, "verify/ingest/summary.json", function(doc) {
    doc$n_verified <- NULL
    doc
  })
  expect_error(read_results(dir), "summary\\.json.*n_verified")
})

test_that("a cell that is not of its column's type stops", {
  dir <- local_fixture()
  edit_csv(dir, "learning_curve.csv", function(t) {
    t$train_size[[1]] <- "many"
    t
  })
  expect_error(read_results(dir), "learning_curve\\.csv.*train_size.*integer")
})

test_that("column types come from the manifest's entries", {
  dir <- local_fixture()
  edit_manifest(dir, function(doc) {
    doc$entries$evaluation_metrics$columns$estimate$type <- "string"
    doc
  })
  expect_type(read_results(dir)$metrics$estimate, "character")
})

test_that("parts whose keys the manifest does not list are NULL", {
  dir <- local_fixture()
  keep_listed(dir, c("evaluation_metrics", "corpus"))
  res <- read_results(dir)
  expect_equal(unique(res$metrics$system), c("smollm2", "tfidf"))
  expect_true(all(is.na(res$metrics$n)))
  expect_null(res$per_class)
  expect_null(res$confusion)
  expect_null(res$reliability)
  expect_null(res$learning_curve)
  expect_null(res$acceptance)
  expect_null(res$workload)
  expect_null(res$bias)
  expect_length(res$records, 0)
  expect_true(is.na(res$task))
  keep_listed(dir, character())
  empty <- read_results(dir)
  expect_null(empty$metrics)
  msgs <- paste(capture_messages(print(empty)), collapse = "")
  expect_match(msgs, "metrics: absent")
  expect_match(msgs, "records: absent")
  expect_match(msgs, "0 files listed")
})

test_that("labels that look like numbers or NA stay text", {
  dir <- local_fixture()
  edit_csv(dir, "evaluation/tfidf/per_class.csv", function(t) {
    t$label[1:2] <- c("1", "NA")
    t
  })
  expect_identical(read_results(dir)$per_class$label[11:12], c("1", "NA"))
})

test_that("multi-label results read their task from the evaluation records", {
  res <- read_results(local_multi_fixture())
  expect_equal(res$task, "multi")
  expect_equal(res$metrics$metric[res$metrics$system == "tfidf"], c("hamming_loss", "jaccard_samples", "micro_f1", "macro_f1"))
})

test_that("read_results checks its argument", {
  expect_error(read_results(c("a", "b")), "single path")
  expect_error(read_results(NA_character_), "single path")
})

test_that("print returns its input invisibly", {
  res <- fixture_results()
  msgs <- paste(capture_messages(vis <- withVisible(print(res))), collapse = "")
  expect_false(vis$visible)
  expect_identical(vis$value, res)
  expect_match(msgs, "study \"mini\"", fixed = TRUE)
  expect_match(msgs, paste(length(read_manifest_json()$files), "files listed"), fixed = TRUE)
})

test_that("NaN and Inf in a number column are numbers (an undefined ratio, as polars writes it)", {
  dir <- local_fixture()
  path <- file.path(dir, "bias", "positional.csv")
  tbl <- utils::read.csv(path, colClasses = "character", check.names = FALSE)
  tbl$first_ratio <- "NaN"
  tbl$p_value <- "inf"
  utils::write.csv(tbl, path, row.names = FALSE, quote = FALSE)
  relist(dir, "bias/positional.csv")
  pos <- read_results(dir)$bias$positional
  expect_true(all(is.nan(pos$first_ratio)))
  expect_equal(pos$p_value, rep(Inf, nrow(pos)))
  tbl$first_ratio <- "n/a"
  utils::write.csv(tbl, path, row.names = FALSE, quote = FALSE)
  relist(dir, "bias/positional.csv")
  expect_error(read_results(dir), "first_ratio")
})
