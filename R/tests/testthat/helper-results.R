# The results fixture: a small real run of the workflow (fixtures/results-mini, made by
# tests/fixtures/make_results_mini.py; never edited by hand). Tests read it in place, and copy it to a
# temporary folder when they change it. The changes below are made as a run would make them: a file is
# rewritten and, unless a test wants a stale manifest, its MD5 in the manifest is updated.

fixture_path <- function(...) {
  testthat::test_path("fixtures", "results-mini", ...)
}

# The fixture read by read_results()
fixture_results <- function() {
  read_results(fixture_path())
}

# A copy of the fixture in a temporary folder, removed when the calling test ends
local_fixture <- function(env = parent.frame()) {
  dir <- withr::local_tempdir(.local_envir = env)
  file.copy(fixture_path(), dir, recursive = TRUE)
  file.path(dir, "results-mini")
}

# A JSON file of the fixture, parsed as read_results() parses records
read_fixture_json <- function(rel, dir = fixture_path()) {
  jsonlite::read_json(
    file.path(dir, rel),
    simplifyVector = TRUE, simplifyDataFrame = FALSE, simplifyMatrix = FALSE
  )
}

# A CSV file of the fixture, as text
read_fixture_csv <- function(rel, dir = fixture_path()) {
  utils::read.csv(
    file.path(dir, rel),
    colClasses = "character", na.strings = "", check.names = FALSE, encoding = "UTF-8"
  )
}

# The parsed manifest of a (copied) fixture
read_manifest_json <- function(dir = fixture_path()) {
  jsonlite::read_json(file.path(dir, "manifest.json"), simplifyVector = FALSE)
}

# Write a manifest back
write_manifest_json <- function(doc, dir) {
  jsonlite::write_json(
    doc, file.path(dir, "manifest.json"),
    auto_unbox = TRUE, pretty = TRUE, null = "null", digits = NA
  )
}

# Change the parsed manifest of a copied fixture with `fn`
edit_manifest <- function(dir, fn) {
  write_manifest_json(fn(read_manifest_json(dir)), dir)
}

# Record the MD5 of a rewritten file in the manifest, as the run that wrote it would
relist <- function(dir, rel) {
  edit_manifest(dir, function(doc) {
    for (i in seq_along(doc$files)) {
      if (identical(doc$files[[i]]$path, rel)) {
        doc$files[[i]]$md5 <- unname(as.character(tools::md5sum(file.path(dir, rel))))
      }
    }
    doc
  })
}

# Keep only the listed files of the keys `keys` in the manifest (the files stay in the folder)
keep_listed <- function(dir, keys) {
  edit_manifest(dir, function(doc) {
    doc$files <- Filter(function(f) f$key %in% keys, doc$files)
    doc
  })
}

# Rewrite a CSV of a copied fixture with `fn` (a data frame of text columns in, one out)
edit_csv <- function(dir, rel, fn, update_manifest = TRUE) {
  tbl <- fn(read_fixture_csv(rel, dir))
  utils::write.csv(tbl, file.path(dir, rel), row.names = FALSE, na = "", fileEncoding = "UTF-8")
  if (update_manifest) relist(dir, rel)
  invisible(file.path(dir, rel))
}

# Rewrite a JSON record of a copied fixture with `fn` (a list in, one out)
edit_json <- function(dir, rel, fn, update_manifest = TRUE) {
  doc <- fn(jsonlite::read_json(file.path(dir, rel), simplifyVector = FALSE))
  jsonlite::write_json(doc, file.path(dir, rel), auto_unbox = TRUE, pretty = TRUE, null = "null", digits = NA)
  if (update_manifest) relist(dir, rel)
  invisible(file.path(dir, rel))
}

# The column names of a contract entry, as the fixture's manifest gives them
entry_columns <- function(key) {
  names(read_manifest_json()$entries[[key]]$columns)
}

# A multi-label variant of the fixture.
#
# No real multi-label fixture exists yet: this copy of the single-label fixture marks its
# evaluation records multi-label (their `task`, a key of the evaluation_record entry) and rewrites
# tfidf's metrics.csv with the multi-label metrics Python writes (llmcoder.metrics.HEADLINE_MULTI),
# building the table only from the column names of the manifest's evaluation_metrics entry. The
# estimates are made up; the confusion counts keep their real gold x pred layout, which is also the
# multi-label one.
local_multi_fixture <- function(env = parent.frame()) {
  dir <- local_fixture(env)
  for (sys in c("smollm2", "tfidf")) {
    edit_json(dir, file.path("evaluation", sys, "metrics.json"), function(doc) {
      doc$task <- "multi"
      doc
    })
  }
  multi <- data.frame(
    system = "tfidf",
    metric = c("hamming_loss", "jaccard_samples", "micro_f1", "macro_f1"),
    estimate = c(0.12, 0.61, 0.66, 0.58),
    ci_low = c(0.10, 0.57, 0.62, 0.53),
    ci_high = c(0.14, 0.65, 0.70, 0.63)
  )
  # exactly the columns of the manifest's entry, nothing invented
  stopifnot(setequal(names(multi), entry_columns("evaluation_metrics")))
  edit_csv(dir, "evaluation/tfidf/metrics.csv", function(tbl) multi[names(tbl)])
  dir
}

# --- the sources of a methods text ---------------------------------------------------------------

# The value(s) a source of methods.json points to, read from the fixture's file itself: a JSON
# pointer (RFC 6901, 0-based) into a record, or a CSV column of the rows its `row` selects (a value
# that is a list selects any of them)
source_values <- function(s, dir = fixture_path()) {
  stopifnot(file.exists(file.path(dir, s$file)))
  if (grepl("\\.json$", s$file)) {
    doc <- read_fixture_json(s$file, dir)
    parts <- strsplit(sub("^/", "", s$field), "/", fixed = TRUE)[[1]]
    for (p in parts) {
      doc <- if (grepl("^[0-9]+$", p) && is.null(names(doc))) doc[[as.integer(p) + 1]] else doc[[p]]
    }
    return(doc)
  }
  tbl <- read_fixture_csv(s$file, dir)
  keep <- rep(TRUE, nrow(tbl))
  for (col in names(s$row)) {
    keep <- keep & tbl[[col]] %in% as.character(unlist(s$row[[col]]))
  }
  values <- tbl[[s$field]][keep]
  num <- suppressWarnings(as.numeric(values))
  if (all(!is.na(num))) num else values
}

# The value an entry of methods.json states, recomputed from its sources as its `how` says
expected_value <- function(e, dir = fixture_path()) {
  values <- lapply(e$sources, source_values, dir = dir)
  how <- e$how %||% "value"
  v <- values[[1]]
  switch(how,
    value = {
      stopifnot(length(v) == 1)
      v
    },
    mean = mean(v),
    length = length(v),
    count = length(v),
    stop("unknown how: ", how)
  )
}

# The number a printed text stands for ("1,204", "45.6%", "−0.04", "$-$0.04"), or NA for words
printed_number <- function(text) {
  t <- gsub("\u2212|\\$-\\$", "-", text)
  t <- gsub(",", "", t, fixed = TRUE)
  pct <- grepl("%$", t)
  t <- sub("\\\\?%$", "", t)
  v <- suppressWarnings(as.numeric(t))
  if (pct) v / 100 else v
}

# Decimals printed in a number's text
printed_digits <- function(text) {
  t <- sub("\\\\?%$", "", text)
  if (grepl(".", t, fixed = TRUE)) nchar(sub("^.*\\.", "", t)) else 0
}
