test_that("methods_section's facts are the fixture's recorded values", {
  res <- fixture_results()
  facts <- attr(methods_section(res), "facts")
  coder <- read_fixture_json("coders/smollm2.json")
  expect_equal(names(facts$coders), "smollm2")
  expect_equal(facts$coders$smollm2$model, coder$model$model)
  expect_equal(facts$coders$smollm2$weights_sha256, coder$model$gguf_sha256)
  expect_equal(facts$coders$smollm2$prompt_sha256, coder$prompt_template_sha256)
  expect_equal(facts$coders$smollm2$temperature, coder$coder$temperature)
  expect_equal(facts$coders$smollm2$seed, coder$coder$seed)
  expect_null(facts$coders$smollm2$max_output_tokens) # a local coder generates no tokens
  expect_equal(facts$codebook$name, coder$codebook$name)
  expect_equal(facts$codebook$sha256, coder$codebook$sha256)
  expect_equal(facts$codebook$n_labels, length(coder$codebook$labels))
  for (sys in c("smollm2", "tfidf")) {
    record <- read_fixture_json(file.path("evaluation", sys, "metrics.json"))
    expect_equal(facts$gold$n[[sys]], record$n)
    expect_equal(facts$validation$n_boot, record$n_boot)
    expect_equal(facts$validation$ci_level, record$ci_level)
  }
  summary <- read_fixture_json("verify/ingest/summary.json")
  for (key in c("n_documents", "n_overlap_documents", "n_decisions", "n_rejected", "n_supplied",
                "n_adjudicated", "n_verified", "simulated")) {
    expect_equal(facts$verification[[key]], summary[[key]], label = key)
  }
  expect_equal(facts$verification$coders, summary$coders)
  prov <- read_fixture_json("evaluation/tfidf/provenance.json")
  expect_equal(facts$software, list(llmcoder_version = prov$llmcoder_version, git_revision = prov$git_revision))
  expect_equal(
    names(facts),
    c("codebook", "coders", "gold", "verification", "human_human", "human_ceiling", "other_agreement",
      "validation", "per_class", "bias", "software")
  )
})

test_that("methods_section writes the fixture's facts into its sentences", {
  res <- fixture_results()
  text <- format(methods_section(res))
  coder <- read_fixture_json("coders/smollm2.json")
  expect_match(text, "^## Methods")
  expect_match(text, paste0(
    "codebook \u201c", coder$codebook$name, "\u201d (10 labels; one label per document; SHA-256 `",
    substr(coder$codebook$sha256, 1, 12), "`)."
  ), fixed = TRUE)
  expect_match(text, paste0(
    "The coder `smollm2` is smollm2-135m (weights SHA-256 `", substr(coder$model$gguf_sha256, 1, 12),
    "`), run with prompt SHA-256 `", substr(coder$prompt_template_sha256, 1, 12), "`, temperature 0, seed 0."
  ), fixed = TRUE)
  expect_match(text, "gold standard of 46 (`smollm2`) and 264 (`tfidf`) documents.", fixed = TRUE)
  expect_match(text, paste(
    "The labels the LLM coders proposed for 104 documents were verified by 2 simulated verifiers",
    "(`anna` and `ben`), 21 documents by two or more: 186 decisions, 68 rejections, 61 labels supplied and",
    "9 documents adjudicated. In all, 104 documents have a verified label."
  ), fixed = TRUE)
  # the human verifiers' agreement over all labels, as verify/ingest/reliability.csv has it
  clause <- function(tbl, coefficient, label) {
    r <- tbl[tbl$coefficient == coefficient, ][1, ]
    sprintf("%s %.2f [%.2f, %.2f] (n = %s)", label, as.numeric(r$estimate), as.numeric(r$ci_low),
            as.numeric(r$ci_high), r$n_units)
  }
  verifiers <- read_fixture_csv("verify/ingest/reliability.csv")
  verifiers <- verifiers[verifiers$scope == "all labels", ]
  expect_match(text, paste0(
    "Simulated verifiers agreed with each other with ", clause(verifiers, "percent_agreement", "Percent agreement"),
    "; ", clause(verifiers, "cohen_kappa", "Cohen's kappa")
  ), fixed = TRUE)
  expect_false(grepl("Fleiss", text, fixed = TRUE)) # the text names four coefficients; the table has all
  vs_gold <- read_fixture_csv("reliability/coders_vs_gold.csv")
  vs_gold <- vs_gold[vs_gold$comparison == "smollm2 vs gold", ]
  expect_match(text, paste0(
    "Agreement between coders: smollm2 vs gold, ", clause(vs_gold, "percent_agreement", "Percent agreement")
  ), fixed = TRUE)
  # each coder is compared with the gold documents it coded (coding.limit: 46 of the 264 test documents)
  expect_equal(unique(vs_gold$n_units), as.character(read_fixture_json("evaluation/smollm2/metrics.json")$n))
  expect_match(text, "95% percentile bootstrap confidence intervals over documents, 200 resamples", fixed = TRUE)
  expect_match(text, "`tfidf`: Accuracy 0.22 [0.17, 0.27], Macro F1 0.18 [0.13, 0.23], Cohen's kappa 0.13 [0.08, 0.18].", fixed = TRUE)
  # Krippendorff's alpha has no interval in metrics.csv: not a headline metric
  expect_false(grepl("Krippendorff's alpha 0.41,", text, fixed = TRUE))
  pc <- read_fixture_csv("evaluation/smollm2/per_class.csv")
  f1 <- as.numeric(pc$f1)
  expect_match(text, sprintf(
    "from %.2f (%s) to %.2f (%s) for `smollm2`",
    min(f1), pc$label[which.min(f1)], max(f1), pc$label[which.max(f1)]
  ), fixed = TRUE)
  expect_match(text, "under rotated label orders, `smollm2` changed its answer for 0.16 (24 of 150) of documents and chose the first-listed label in 0.06 of codings against a base rate of 0.06 (binomial test p = 0.70)", fixed = TRUE)
  expect_match(text, "classes of `smollm2` flagged for recall asymmetry: macro (recall \u22120.52 from the mean, most often coded as housing)", fixed = TRUE)
  # transport is the one class of smollm2 the check did not flag
  expect_false(grepl("transport (recall \u22120.02", text, fixed = TRUE))
  n_below <- sum(read_fixture_csv("bias/strata.csv")$below_overall == "true")
  expect_match(text, sprintf(
    "metrics were computed per stratum of party, and %d stratum-metric estimates had a confidence interval entirely below the overall estimate",
    n_below
  ), fixed = TRUE)
  prov <- read_fixture_json("evaluation/tfidf/provenance.json")
  expect_match(text, paste0(
    "Results were computed with llmcoder ", prov$llmcoder_version, " (git `", substr(prov$git_revision, 1, 10), "`)."
  ), fixed = TRUE)
  # no phantom facts: nothing the workflow does not record
  expect_false(grepl("Changed after validation|decoding|top-p|sampling|sampled", text))
})

test_that("methods_section reports chosen metrics in the order given", {
  text <- format(methods_section(fixture_results(), metrics = c("krippendorff_alpha", "accuracy")))
  expect_match(text, "`smollm2`: Krippendorff's alpha 0.41, Accuracy 0.48 [0.33, 0.61];", fixed = TRUE)
})

test_that("methods_section omits paragraphs whose facts the manifest does not list", {
  dir <- local_fixture()
  keep_listed(dir, "evaluation_metrics")
  text <- format(methods_section(read_results(dir), heading = FALSE))
  expect_match(text, "^Agreement with the gold standard \\(brackets: percentile bootstrap")
  # no evaluation record: no gold standard size, no resamples
  expect_false(grepl("gold standard of", text, fixed = TRUE))
  expect_false(grepl("resamples", text, fixed = TRUE))
  for (absent in c("codebook", "SHA", "verified", "agreed", "Per-class", "Bias", "llmcoder", "The coder")) {
    expect_false(grepl(absent, text, fixed = TRUE), label = absent)
  }
  keep_listed(dir, character())
  expect_equal(format(methods_section(read_results(dir), heading = FALSE)), "")
})

test_that("a codebook without a coder record is described by the evaluation's labels", {
  dir <- local_fixture()
  keep_listed(dir, c("evaluation_metrics", "evaluation_record"))
  text <- format(methods_section(read_results(dir)))
  expect_match(text, "Documents were coded with a codebook of 10 labels (one label per document).", fixed = TRUE)
  expect_match(text, "Every coder|Coders were validated")
})

test_that("an HTTP coder's maximum output tokens are stated", {
  dir <- local_fixture()
  edit_json(dir, "coders/smollm2.json", function(doc) {
    doc$coder$backend <- "http"
    doc
  })
  text <- format(methods_section(read_results(dir)))
  max_tokens <- read_fixture_json("coders/smollm2.json")$coder$http_max_tokens
  expect_match(text, sprintf("temperature 0, at most %d output tokens, seed 0.", max_tokens), fixed = TRUE)
})

test_that("people who verified are called human coders", {
  dir <- local_fixture()
  edit_json(dir, "verify/ingest/summary.json", function(doc) {
    doc$simulated <- FALSE
    doc
  })
  text <- format(methods_section(read_results(dir)))
  expect_match(text, "verified by 2 people (`anna` and `ben`)", fixed = TRUE)
  expect_match(text, "Human coders agreed with each other with Percent agreement 0.67", fixed = TRUE)
})

test_that("methods_section states flagged verification sheets and missing verifiers", {
  dir <- local_fixture()
  # a flag as llmcoder.verify.messages.no_rejection_flags writes it (coder, sheet, rows, why); the
  # contract's verification_summary entry says only that `flags` is a list
  edit_json(dir, "verify/ingest/summary.json", function(doc) {
    doc$flags <- list(list(
      coder = "ben", sheet = "ben.xlsx", rows = 46L,
      why = "no rejection in 46 rows: check that the coder read every text (an empty cell means keep)"
    ))
    doc$coders_missing <- list("chiara")
    doc
  })
  text <- format(methods_section(read_results(dir), heading = FALSE))
  expect_match(
    text,
    "Human verification: the sheet of verifier `ben` was finished with no rejection in 46 rows; its decisions were kept and flagged; the sheets of `chiara` were not returned, so their documents are not verified.",
    fixed = TRUE
  )
  clean <- format(methods_section(fixture_results(), heading = FALSE))
  expect_false(grepl("Human verification:", clean, fixed = TRUE))
})

test_that("multi-label results are described as such", {
  res <- read_results(local_multi_fixture())
  text <- format(methods_section(res))
  expect_match(text, "(10 labels; any number of labels per document;", fixed = TRUE)
  expect_match(text, "`tfidf`: Hamming loss 0.12 [0.10, 0.14], Jaccard (samples) 0.61 [0.57, 0.65]", fixed = TRUE)
})

test_that("methods_section escapes LaTeX", {
  tex <- format(methods_section(fixture_results(), format = "latex"))
  expect_match(tex, "^\\\\section\\*\\{Methods\\}")
  expect_match(tex, "\\texttt{smollm2}", fixed = TRUE)
  expect_match(tex, "95\\% percentile", fixed = TRUE)
  expect_match(tex, "smollm2 vs gold", fixed = TRUE)
  expect_false(grepl("(?<!\\\\)_", gsub("\\\\texttt\\{[^}]*\\}", "", tex), perl = TRUE))
})

test_that("escape_latex handles every special character", {
  expect_equal(
    escape_latex("a_b & 5% $x$ #1 {y} ~ ^ \\"),
    "a\\_b \\& 5\\% \\$x\\$ \\#1 \\{y\\} \\textasciitilde{} \\textasciicircum{} \\textbackslash{}"
  )
})

test_that("methods_section carries provenance and prints invisibly", {
  res <- fixture_results()
  m <- methods_section(res)
  expect_equal(attr(m, "provenance")$verb, "methods_section")
  expect_equal(attr(m, "provenance")$paragraphs, names(attr(m, "facts")))
  expect_equal(attr(m, "provenance")$parent$verb, "read_results")
  expect_output(vis <- withVisible(print(m)), "Methods")
  expect_false(vis$visible)
  expect_error(methods_section(res, format = "docx"), "should be one of")
  expect_error(methods_section(list()), "llmcoder_results")
})

test_that("each paragraph function returns NULL without its facts", {
  empty <- new_llmcoder_results(list(task = NA_character_))
  style <- methods_style("markdown", 2)
  writers <- list(
    methods_codebook, methods_coders, methods_gold, methods_verification, methods_human_agreement,
    methods_coder_agreement, methods_validation, methods_per_class, methods_bias,
    methods_verification_flags, methods_software
  )
  for (write in writers) expect_null(write(empty, style))
})

test_that("the human ceiling is the fixture's human_ceiling.csv, in the table and the text", {
  res <- fixture_results()
  ceiling <- read_fixture_csv("verify/ingest/human_ceiling.csv")
  kappa <- ceiling[ceiling$coefficient == "cohen_kappa", ]
  rel <- res$reliability[res$reliability$comparison == "human ceiling", ]
  expect_equal(sort(rel$coefficient), sort(ceiling$coefficient))
  expect_equal(rel$estimate[rel$coefficient == "cohen_kappa"], as.numeric(kappa$estimate))
  m <- methods_section(res)
  facts <- attr(m, "facts")$human_ceiling
  expect_equal(facts$ceiling$estimate[facts$ceiling$coefficient == "cohen_kappa"], as.numeric(kappa$estimate))
  expect_match(format(m), "human ceiling against which", fixed = TRUE)
  expect_match(format(m), formatC(as.numeric(kappa$estimate), format = "f", digits = 2), fixed = TRUE)
})
