# Builds a small results directory with the columns the Python side writes.
# Parts can be left out to test that every verb tolerates their absence.
write_csv_fixture <- function(df, path) {
  dir.create(dirname(path), recursive = TRUE, showWarnings = FALSE)
  utils::write.csv(df, path, row.names = FALSE, na = "", fileEncoding = "UTF-8")
}

write_json_fixture <- function(x, path) {
  dir.create(dirname(path), recursive = TRUE, showWarnings = FALSE)
  jsonlite::write_json(x, path, auto_unbox = TRUE, pretty = TRUE, null = "null", digits = NA)
}

make_results_dir <- function(dir = withr::local_tempdir(.local_envir = parent.frame()),
                             parts = c("metrics", "per_class", "confusion", "reliability",
                                       "learning_curve", "records", "bias")) {
  root <- file.path(dir, "demo")
  dir.create(root, recursive = TRUE, showWarnings = FALSE)
  labels <- c("health", "economy", "defense")
  systems <- c("gemma3-270m", "minilm-ft")
  # Confusion counts (gold rows x predicted columns) of each system on 100 documents.
  cm <- list(
    `gemma3-270m` = matrix(c(30, 5, 5, 4, 26, 0, 2, 3, 25), 3, byrow = TRUE),
    `minilm-ft` = matrix(c(36, 2, 2, 1, 28, 1, 0, 1, 29), 3, byrow = TRUE)
  )
  for (sys in systems) {
    d <- file.path(root, "evaluation", sys)
    m <- cm[[sys]]
    if ("metrics" %in% parts) {
      acc <- sum(diag(m)) / sum(m)
      write_csv_fixture(data.frame(
        system = sys,
        metric = c("accuracy", "macro_f1", "cohen_kappa", "krippendorff_alpha"),
        estimate = c(acc, acc - 0.02, acc - 0.1, acc - 0.11),
        ci_low = c(acc - 0.05, acc - 0.07, acc - 0.17, NA),
        ci_high = c(acc + 0.04, acc + 0.03, acc - 0.03, NA)
      ), file.path(d, "metrics.csv"))
    }
    if ("per_class" %in% parts) {
      prec <- diag(m) / colSums(m)
      rec <- diag(m) / rowSums(m)
      write_csv_fixture(data.frame(
        system = sys, label = labels, precision = prec, recall = rec,
        f1 = 2 * prec * rec / (prec + rec), sensitivity = rec,
        specificity = 0.9, support = rowSums(m)
      ), file.path(d, "per_class.csv"))
    }
    if ("confusion" %in% parts) {
      write_csv_fixture(data.frame(
        system = sys,
        gold = rep(labels, each = 3),
        pred = rep(labels, times = 3),
        n = as.vector(t(m))
      ), file.path(d, "confusion.csv"))
    }
    if ("records" %in% parts) {
      write_json_fixture(list(
        system = sys, task = "single", n = sum(m), labels = labels,
        ci_level = 0.95, n_boot = 1000, random_state = 0,
        provenance = list(
          llmcoder_version = "0.1.0", git_revision = "0123456789abcdef0123",
          python = "3.11.7", created_utc = "2025-01-01T00:00:00Z"
        )
      ), file.path(d, "metrics.json"))
    }
  }
  if ("records" %in% parts) {
    write_json_fixture(list(
      system = "gemma3-270m",
      model = "google/gemma-3-270m-it",
      model_revision = "q4_k_m",
      model_sha256 = "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12",
      prompt_sha256 = "9f8e7d6c5b4a9f8e7d6c5b4a9f8e7d6c5b4a9f8e7d6c5b4a9f8e7d6c5b4a9f8e",
      temperature = 0, decoding = "greedy", max_new_tokens = 8, seed = 1
    ), file.path(root, "code", "gemma3-270m", "provenance.json"))
    write_json_fixture(list(
      codebook = list(name = "CAP major topics", labels = labels, sha256 = "c0ffee00c0ffee00c0ffee"),
      gold_sampling = "stratified random sample by year and party",
      changes_after_validation = list("merged two labels whose definitions overlapped")
    ), file.path(root, "provenance.json"))
  }
  if ("reliability" %in% parts) {
    write_csv_fixture(data.frame(
      comparison = c("gemma3-270m vs gold", "LLM coders"),
      coefficient = "cohen_kappa",
      estimate = c(0.72, 0.64),
      se = c(0.035, 0.04),
      ci_low = c(0.65, 0.56),
      ci_high = c(0.79, 0.72),
      n_units = 100,
      n_coders = 2
    ), file.path(root, "reliability", "coders_vs_gold.csv"))
    write_csv_fixture(data.frame(
      scope = c("all labels", "health"),
      coefficient = "krippendorff_alpha",
      estimate = c(0.81, 0.7),
      se = c(0.03, 0.06),
      ci_low = c(0.75, 0.58),
      ci_high = c(0.87, 0.82),
      n_units = c(200, 40),
      n_coders = 2,
      method = "bootstrap"
    ), file.path(root, "verify", "ingest", "reliability.csv"))
  }
  if ("learning_curve" %in% parts) {
    grid <- expand.grid(
      seed = 1:2, train_size = c(100, 200, 400), model = c("minilm-ft", "logreg"),
      stringsAsFactors = FALSE
    )
    grid$metric <- "macro_f1"
    grid$train_fraction <- grid$train_size / 400
    grid$value <- 0.5 + 0.0005 * grid$train_size + 0.01 * grid$seed -
      0.05 * (grid$model == "logreg")
    write_csv_fixture(grid[c("model", "train_size", "train_fraction", "seed", "metric", "value")],
                      file.path(root, "learning_curve.csv"))
  }
  if ("bias" %in% parts) {
    write_csv_fixture(data.frame(
      system = "gemma3-270m", n_docs = 100, n_flipped = 12, flip_rate = 0.12,
      n_codings = 300, first_chosen = 120, first_share = 0.4, first_base_rate = 0.33,
      first_ratio = 1.21, p_value = 0.0004
    ), file.path(root, "bias", "positional.csv"))
    write_csv_fixture(data.frame(
      system = "gemma3-270m", label = labels, support = c(40, 30, 30),
      predicted = c(36, 34, 30), recall = c(0.75, 0.87, 0.83), precision = 0.8,
      recall_gap = c(-0.2, 0.05, 0.01), pred_ratio = 1, most_confused_as = c("economy", "health", NA),
      n_confused_as = c(5, 4, NA), flag = c(TRUE, FALSE, FALSE)
    ), file.path(root, "bias", "recall_asymmetry.csv"))
    write_csv_fixture(data.frame(
      system = "gemma3-270m", stratum = "party", value = c("A", "B"), metric = "macro_f1",
      estimate = c(0.8, 0.6), ci_low = c(0.7, 0.5), ci_high = c(0.9, 0.7), n = 50,
      overall = 0.79, below_overall = c(FALSE, TRUE)
    ), file.path(root, "bias", "strata.csv"))
    write_json_fixture(
      list(artifact = "bias_checks", systems = systems),
      file.path(root, "bias", "provenance.json")
    )
  }
  root
}
