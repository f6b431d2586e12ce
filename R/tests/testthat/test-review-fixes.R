# Fixes of a review: the methods text and the figures say only what the results say.

review_text <- function(dir) format(methods_section(read_results(dir)))

pct_of <- function(v) paste0(formatC(100 * as.numeric(v), format = "f", digits = 1), "%")

# --- positional bias: the binomial test is two-sided ---------------------------------------------

test_that("a coder that significantly avoids the first-listed label is not said to have no preference", {
  dir <- local_fixture()
  base <- as.numeric(read_fixture_csv("bias/positional.csv")$first_base_rate)
  below <- base / 4
  edit_csv(dir, "bias/positional.csv", function(tbl) {
    tbl$p_value <- "0.003"
    tbl$first_share <- as.character(below)
    tbl
  })
  text <- review_text(dir)
  expect_match(text, sprintf(
    "Under rotated label orders, the first-listed label was chosen less often than its base rate (binomial test; `smollm2`: %s of codings against %s expected, p = 0.003).",
    pct_of(below), pct_of(base)
  ), fixed = TRUE)
  expect_false(grepl("no preference", text, fixed = TRUE))
  expect_false(grepl("more often than its base rate", text, fixed = TRUE))
})

test_that("a significant preference for the first-listed label keeps its direction; p >= alpha is no preference", {
  dir <- local_fixture()
  base <- as.numeric(read_fixture_csv("bias/positional.csv")$first_base_rate)
  above <- base * 3
  edit_csv(dir, "bias/positional.csv", function(tbl) {
    tbl$p_value <- "0.003"
    tbl$first_share <- as.character(above)
    tbl
  })
  text <- review_text(dir)
  expect_match(text, sprintf(
    "Under rotated label orders, the first-listed label was chosen more often than its base rate (binomial test; `smollm2`: %s of codings against %s expected, p = 0.003).",
    pct_of(above), pct_of(base)
  ), fixed = TRUE)
  expect_false(grepl("no preference|less often", text))

  # below the base rate but not significant: no preference, in either direction
  dir <- local_fixture()
  edit_csv(dir, "bias/positional.csv", function(tbl) {
    tbl$p_value <- "0.2"
    tbl$first_share <- as.character(base / 2)
    tbl
  })
  text <- review_text(dir)
  expect_match(text, "A binomial test found no preference for the first-listed label under rotated orders (`smollm2`:", fixed = TRUE)
  expect_false(grepl("more often than its base rate|less often than its base rate", text))
})

# --- the LLM coders a learning curve is read against: zero-shot only when they were -------------

local_shots <- function(shots, env = parent.frame()) {
  dir <- local_fixture(env)
  edit_json(dir, "coders/smollm2.json", function(doc) {
    doc$coder$few_shot <- shots
    doc
  })
  dir
}

kappa_of_smollm2 <- function() {
  vs <- read_fixture_csv("evaluation/smollm2/metrics.csv")
  formatC(as.numeric(vs$estimate[vs$metric == "cohen_kappa"]), format = "f", digits = 2)
}

test_that("a few-shot LLM coder is named k-shot, not zero-shot, in the fine-tuning paragraph", {
  dir <- local_shots(3L)
  m <- methods_section(read_results(dir))
  text <- format(m)
  expect_match(text, "coded with 3 examples in the prompt", fixed = TRUE)
  expect_match(text, sprintf(
    "it stayed below the 3-shot Cohen's kappa of `smollm2` (%s) at every size.", kappa_of_smollm2()
  ), fixed = TRUE)
  expect_false(grepl("zero-shot", text, fixed = TRUE))
  # the 3 is traced to the coder record
  shots <- Filter(function(e) identical(e$paragraph, "finetune") && identical(e$value, 3), attr(m, "sources")$numbers)
  expect_length(shots, 1)
  expect_equal(shots[[1]]$sources[[1]]$field, "/coder/few_shot")
  expect_equal(shots[[1]]$sources[[1]]$file, "coders/smollm2.json")
})

test_that("a coder record without few_shot is not called zero-shot", {
  dir <- local_shots(NULL)
  text <- review_text(dir)
  expect_match(text, sprintf(
    "it stayed below the Cohen's kappa of `smollm2` (%s) at every size.", kappa_of_smollm2()
  ), fixed = TRUE)
  expect_false(grepl("zero-shot", text, fixed = TRUE))
  refs <- attr(learning_curve_plot(read_results(dir)), "references")
  expect_equal(refs$name[refs$kind == "LLM coder"], "smollm2")
})

test_that("a zero-shot LLM coder is still named zero-shot", {
  text <- format(methods_section(fixture_results()))
  expect_match(text, sprintf(
    "it stayed below the zero-shot Cohen's kappa of `smollm2` (%s) at every size.", kappa_of_smollm2()
  ), fixed = TRUE)
})

test_that("learning_curve_plot labels a few-shot LLM coder k-shot", {
  dir <- local_shots(3L)
  p <- learning_curve_plot(read_results(dir))
  refs <- attr(p, "references")
  expect_equal(refs$name[refs$kind == "LLM coder"], "smollm2 (3-shot)")
  expect_false(grepl("zero-shot", p$labels$caption %||% "", fixed = TRUE))
  # zero-shot where it was
  refs <- attr(learning_curve_plot(fixture_results()), "references")
  expect_equal(refs$name[refs$kind == "LLM coder"], "smollm2 (zero-shot)")
})

# --- per-class F1: a label absent from the test set is not the minimum --------------------------

test_that("the per-class F1 range leaves out labels without test documents", {
  dir <- local_fixture()
  pc <- read_fixture_csv("evaluation/tfidf/per_class.csv")
  absent <- pc$label[[which.max(as.numeric(pc$f1))]] # not the minimum before the edit
  edit_csv(dir, "evaluation/tfidf/per_class.csv", function(tbl) {
    hit <- tbl$label == absent
    tbl$support[hit] <- "0"
    tbl$recall[hit] <- "0"
    tbl$sensitivity[hit] <- "0"
    tbl$f1[hit] <- "0"
    tbl$precision[hit] <- "0"
    tbl
  })
  text <- review_text(dir)
  kept <- pc[pc$label != absent, ]
  f1 <- as.numeric(kept$f1)
  expect_match(text, sprintf(
    "Per-class F1 of `tfidf` ranged from %.2f (`%s`) to %.2f (`%s`); the test set had no documents of `%s`.",
    min(f1), kept$label[which.min(f1)], max(f1), kept$label[which.max(f1)], absent
  ), fixed = TRUE)
  expect_false(grepl(sprintf("ranged from 0.00 (`%s`)", absent), text, fixed = TRUE))
})
