ci3 <- function(r) {
  f <- function(v) formatC(as.numeric(v), format = "f", digits = 3)
  sprintf("%s [%s, %s]", f(r$estimate), f(r$ci_low), f(r$ci_high))
}

test_that("reliability_table has one row per comparison with kappa, alpha and AC1 with CIs", {
  res <- fixture_results()
  tab <- format(reliability_table(res, format = "markdown"))
  lines <- strsplit(tab, "\n")[[1]]
  expect_match(grep("^\\|Comparison", lines, value = TRUE),
               "^\\|Comparison +\\| +n\\| +Cohen's kappa\\| +Krippendorff's alpha\\| +Gwet's AC1\\|$")
  sources <- list(
    "smollm2 vs. gold" = read_fixture_csv("reliability/coders_vs_gold.csv"),
    "Simulated verifiers' keep/reject decisions" = read_fixture_csv("verify/ingest/reliability.csv"),
    "Simulated verifiers' labels (human ceiling)" = read_fixture_csv("verify/ingest/human_ceiling.csv")
  )
  body <- lines[grepl("^\\|", lines) & !grepl("^\\|(Comparison|:)", lines)]
  expect_length(body, length(sources))
  for (label in names(sources)) {
    d <- sources[[label]]
    if ("scope" %in% names(d)) d <- d[d$scope == "all labels", ]
    row <- body[startsWith(body, paste0("|", label, " "))]
    expect_length(row, 1)
    for (coef in c("cohen_kappa", "krippendorff_alpha", "gwet_ac1")) {
      expect_match(row, ci3(d[d$coefficient == coef, ]), fixed = TRUE, label = paste(label, coef))
    }
    expect_match(row, sprintf("\\| *%s\\|", d$n_units[[1]]))
  }
  expect_match(tab, "The verifiers were simulated.", fixed = TRUE)
  # the appendix coefficients are not in the main table
  expect_false(grepl("Conger|Brennan|Percent agreement", tab))
  tex <- format(reliability_table(res, format = "latex"))
  expect_match(tex, "\\toprule", fixed = TRUE)
})

test_that("the appendix table has every coefficient, with proper names", {
  res <- fixture_results()
  tab <- format(reliability_table(res, format = "markdown", full = TRUE))
  n_rows <- nrow(read_fixture_csv("reliability/coders_vs_gold.csv")) +
    nrow(read_fixture_csv("verify/ingest/reliability.csv")) + nrow(read_fixture_csv("verify/ingest/human_ceiling.csv"))
  lines <- strsplit(tab, "\n")[[1]]
  expect_length(lines[grepl("^\\|", lines) & !grepl("^\\|(Comparison|:)", lines)], n_rows)
  for (name in c("Percent agreement", "Cohen's kappa", "Fleiss' kappa", "Conger's kappa", "Krippendorff's alpha",
                 "Gwet's AC1", "Brennan-Prediger", "Lowest pairwise Cohen's kappa")) {
    expect_match(tab, name, fixed = TRUE)
  }
  expect_false(grepl("brennan prediger|conger kappa|_", tab))
  bp <- read_fixture_csv("reliability/coders_vs_gold.csv")
  expect_match(tab, ci3(bp[bp$coefficient == "brennan_prediger", ]), fixed = TRUE)
  expect_match(tab, bp$method[bp$coefficient == "cohen_kappa"], fixed = TRUE)
})

test_that("Fleiss' kappa is the kappa of three or more coders", {
  dir <- local_fixture()
  edit_csv(dir, "verify/ingest/reliability.csv", function(tbl) {
    tbl$n_coders <- "3"
    tbl
  })
  tab <- format(reliability_table(read_results(dir), format = "markdown"))
  expect_match(tab, "\\| +Kappa\\|")
  rel <- read_fixture_csv("verify/ingest/reliability.csv")
  row <- strsplit(tab, "\n")[[1]]
  row <- row[grepl("keep/reject", row)]
  expect_match(row, ci3(rel[rel$coefficient == "fleiss_kappa", ]), fixed = TRUE)
  expect_match(tab, "kappa is Cohen's for two coders and Fleiss' for more", fixed = TRUE)
})

test_that("reliability_table fails clearly without reliability files", {
  dir <- local_fixture()
  keep_listed(dir, "evaluation_metrics")
  expect_error(reliability_table(read_results(dir)), "no reliability data")
})

test_that("verification_table shows each LLM coder's acceptance with its interval", {
  res <- fixture_results()
  tab <- format(verification_table(res, format = "markdown"))
  acc <- read_fixture_csv("verify/ingest/acceptance.csv")
  f <- function(v) formatC(as.numeric(v), format = "f", digits = 3)
  row <- strsplit(tab, "\n")[[1]]
  row <- row[startsWith(row, "|smollm2 ")]
  expect_length(row, 1)
  expect_match(row, sprintf("%s [%s, %s]", f(acc$acceptance), f(acc$ci_low), f(acc$ci_high)), fixed = TRUE)
  expect_match(row, sprintf("%s [%s, %s]", f(acc$verified_precision), f(acc$vp_ci_low), f(acc$vp_ci_high)), fixed = TRUE)
  expect_match(row, sprintf("\\| *%s\\| *%s\\|", acc$n_proposals, acc$n_decisions))
  expect_match(tab, "The verifiers were simulated.", fixed = TRUE)
  dir <- local_fixture()
  keep_listed(dir, "evaluation_metrics")
  expect_error(verification_table(read_results(dir)), "no acceptance data")
})

test_that("verification_table names the coders by their ids when the study has no coder records", {
  # An imported verification (the flourishing study) has acceptance rows but no LLM coder runs.
  res <- fixture_results()
  res$records$coders <- list()
  acc <- read_fixture_csv("verify/ingest/acceptance.csv")
  tab <- strsplit(format(verification_table(res, format = "markdown")), "\n")[[1]]
  for (id in acc$llm_coder) expect_length(tab[startsWith(tab, paste0("|", id, " "))], 1)
})
