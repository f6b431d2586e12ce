test_that("methods_section writes every recorded fact and only those", {
  res <- read_results(make_results_dir())
  m <- methods_section(res)
  expect_s3_class(m, "llmcoder_methods")
  text <- format(m)
  expect_match(text, "^## Methods")
  expect_match(text, "codebook \u201cCAP major topics\u201d (3 labels; one label per document; SHA-256 `c0ffee00c0ff`)", fixed = TRUE)
  expect_match(text, "is google/gemma-3-270m-it (version q4_k_m, weights SHA-256 `ab12cd34ef56`)", fixed = TRUE)
  expect_match(text, "prompt SHA-256 `9f8e7d6c5b4a`, temperature 0, greedy decoding, at most 8 output tokens, seed 1", fixed = TRUE)
  expect_match(text, "gold standard of 100 documents (stratified random sample by year and party)", fixed = TRUE)
  expect_match(text, "Human coders agreed with each other with Krippendorff's alpha 0.81 [0.75, 0.87] (n = 200).", fixed = TRUE)
  expect_match(text, "gemma3-270m vs gold, Cohen's kappa 0.72 [0.65, 0.79] (n = 100); LLM coders, Cohen's kappa 0.64 [0.56, 0.72]", fixed = TRUE)
  expect_match(text, "95% percentile bootstrap confidence intervals over documents, 1,000 resamples", fixed = TRUE)
  expect_match(text, "`minilm-ft`: Accuracy 0.93 [0.88, 0.97], Macro F1 0.91 [0.86, 0.96], Cohen's kappa 0.83 [0.76, 0.90].", fixed = TRUE)
  # Krippendorff's alpha has no interval in the fixture: not a headline metric
  expect_false(grepl("Krippendorff's alpha 0.70", text, fixed = TRUE))
  chosen <- format(methods_section(res, metrics = c("krippendorff_alpha", "accuracy")))
  expect_match(chosen, "`gemma3-270m`: Krippendorff's alpha 0.70, Accuracy 0.81 [0.76, 0.85];", fixed = TRUE)
  expect_match(text, "Changed after validation: merged two labels whose definitions overlapped.", fixed = TRUE)
  expect_match(text, "llmcoder 0.1.0 (git `0123456789`)", fixed = TRUE)
  # per-class F1 range of gemma3-270m, from the confusion counts of the fixture
  cm <- matrix(c(30, 5, 5, 4, 26, 0, 2, 3, 25), 3, byrow = TRUE)
  f1 <- 2 * diag(cm) / (rowSums(cm) + colSums(cm))
  expect_match(
    text,
    sprintf("from %.2f (health) to %.2f (defense) for `gemma3-270m`", min(f1), max(f1)),
    fixed = TRUE
  )
  # the minilm coder has no run record: no model sentence is invented for it
  expect_false(grepl("The coder `minilm-ft`", text, fixed = TRUE))
  expect_match(text, "under rotated label orders, `gemma3-270m` changed its answer for 0.12 (12 of 100) of documents and chose the first-listed label in 0.40 of codings against a base rate of 0.33 (binomial test p = < 0.01)", fixed = TRUE)
  expect_match(text, "classes of `gemma3-270m` flagged for recall asymmetry: health (recall \u2212 0.20 from the mean, most often coded as economy)" |> gsub(pattern = "\u2212 ", replacement = "\u2212", fixed = TRUE), fixed = TRUE)
  expect_match(text, "metrics were computed per stratum of party, and 1 stratum-metric estimate had a confidence interval entirely below the overall estimate", fixed = TRUE)
})

test_that("methods_section omits sentences whose facts are absent", {
  res <- read_results(make_results_dir(parts = c("metrics")))
  text <- format(methods_section(res, heading = FALSE))
  # metrics.csv has no n and there is no metrics.json: the gold size is not stated
  expect_match(text, "^Agreement with the gold standard \\(brackets: percentile bootstrap")
  expect_false(grepl("documents.", text, fixed = TRUE))
  expect_false(grepl("codebook", text, fixed = TRUE))
  expect_false(grepl("SHA", text, fixed = TRUE))
  expect_false(grepl("Human coders", text, fixed = TRUE))
  expect_false(grepl("Per-class", text, fixed = TRUE))
  expect_false(grepl("Bias", text, fixed = TRUE))
  expect_false(grepl("llmcoder", text, fixed = TRUE))
  empty <- read_results(withr::local_tempdir())
  expect_equal(format(methods_section(empty, heading = FALSE)), "")
})

test_that("methods_section reports bias checks when recorded", {
  dir <- make_results_dir()
  write_json_fixture(
    list(bias = list(attribute = "party", metric = "macro_f1", min = 0.71, max = 0.83,
                     test = "chi-squared test of error rates", p_value = 0.41)),
    file.path(dir, "bias", "provenance.json")
  )
  text <- format(methods_section(read_results(make_results_dir(parts = "metrics") |> (\(d) {
    file.copy(file.path(dir, "bias"), d, recursive = TRUE)
    unlink(file.path(d, "bias", "positional.csv"))
    unlink(file.path(d, "bias", "recall_asymmetry.csv"))
    unlink(file.path(d, "bias", "strata.csv"))
    d
  })())))
  expect_match(
    text,
    "Bias checks: by party, Macro F1 ranged from 0.71 to 0.83, chi-squared test of error rates p = 0.41.",
    fixed = TRUE
  )
})

test_that("methods_section escapes LaTeX", {
  res <- read_results(make_results_dir())
  tex <- format(methods_section(res, format = "latex"))
  expect_match(tex, "^\\\\section\\*\\{Methods\\}")
  expect_match(tex, "\\texttt{gemma3-270m}", fixed = TRUE)
  expect_match(tex, "95\\% percentile", fixed = TRUE)
  expect_match(tex, "gemma3-270m vs gold", fixed = TRUE)
  expect_false(grepl("(?<!\\\\)_", gsub("\\\\texttt\\{[^}]*\\}", "", tex), perl = TRUE))
})

test_that("escape_latex handles every special character", {
  expect_equal(
    escape_latex("a_b & 5% $x$ #1 {y} ~ ^ \\"),
    "a\\_b \\& 5\\% \\$x\\$ \\#1 \\{y\\} \\textasciitilde{} \\textasciicircum{} \\textbackslash{}"
  )
})

test_that("methods_section carries provenance and prints invisibly", {
  res <- read_results(make_results_dir())
  m <- methods_section(res)
  expect_equal(attr(m, "provenance")$verb, "methods_section")
  expect_true("codebook" %in% attr(m, "provenance")$paragraphs)
  expect_output(vis <- withVisible(print(m)), "Methods")
  expect_false(vis$visible)
  expect_error(methods_section(res, format = "docx"), "should be one of")
})

test_that("an unnamed codebook is described by its label count", {
  dir <- make_results_dir(parts = c("metrics", "records"))
  unlink(file.path(dir, "provenance.json"))
  text <- format(methods_section(read_results(dir)))
  expect_match(text, "Documents were coded with a codebook of 3 labels (one label per document).", fixed = TRUE)
})

test_that("files inside model folders (tokenizer vocabularies) are not read as run records", {
  d <- make_results_dir()
  # A tokenizer vocabulary maps words to ids; words such as "temperature" must not become facts.
  write_json_fixture(
    list(model = list(vocab = list(temperature = 4860, sampling = 16227, revision = 13921))),
    file.path(d, "finetune", "minilm-ft", "size1.0_seed1", "model", "tokenizer.json")
  )
  res <- read_results(d)
  expect_false(any(grepl("(^|/)model/", names(res$records))))
  text <- format(methods_section(res))
  expect_false(grepl("4860|16227|13921", text))
})

test_that("a coder's provenance as llmcoder code writes it names the model, weights and prompt", {
  d <- make_results_dir()
  write_json_fixture(list(
    coder_id = "smollm2-fb7190d0", temperature = 0, seed = 0,
    prompt_template_sha256 = "e526bfcddae8aaaa",
    model = list(model = "smollm2-135m", kind = "gguf", gguf_sha256 = "b179c9523d0eaaaa")
  ), file.path(d, "coders", "minilm-ft.json"))
  text <- format(methods_section(read_results(d)))
  expect_match(
    text,
    "The coder `minilm-ft` is smollm2-135m (weights SHA-256 `b179c9523d0e`), run with prompt SHA-256 `e526bfcddae8`",
    fixed = TRUE
  )
})

test_that("methods_section states flagged verification sheets and missing verifiers", {
  dir <- make_results_dir(parts = "metrics")
  # verify/ingest/summary.json as llmcoder's ingest writes it (keys flags and coders_missing)
  dir.create(file.path(dir, "verify", "ingest"), recursive = TRUE)
  writeLines(
    '{"coders_missing": ["chiara"], "flags": [{"coder": "ben", "rows": 46, "sheet": "ben.xlsx",
      "why": "no rejection in 46 rows: check that the coder read every text (an empty cell means keep)"}],
      "n_verified": 32}',
    file.path(dir, "verify", "ingest", "summary.json")
  )
  text <- format(methods_section(read_results(dir), heading = FALSE))
  expect_match(
    text,
    "Human verification: the sheet of verifier `ben` was finished with no rejection in 46 rows; its decisions were kept and flagged; the sheets of `chiara` were not returned, so their documents are not verified.",
    fixed = TRUE
  )
  clean <- format(methods_section(read_results(make_results_dir(parts = "metrics")), heading = FALSE))
  expect_false(grepl("Human verification:", clean, fixed = TRUE))
})
