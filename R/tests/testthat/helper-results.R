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
                                       "learning_curve", "records")) {
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
        ci_high = c(acc + 0.04, acc + 0.03, acc - 0.03, NA),
        n = sum(m)
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
        count = as.vector(t(m))
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
      comparison = c("human-human", "human-model"),
      coder_a = c("coder_1", "coder_1"),
      coder_b = c("coder_2", "gemma3-270m"),
      metric = "cohen_kappa",
      estimate = c(0.81, 0.72),
      ci_low = c(0.75, 0.65),
      ci_high = c(0.87, 0.79),
      n = 200
    ), file.path(root, "reliability", "agreement.csv"))
  }
  if ("learning_curve" %in% parts) {
    grid <- expand.grid(
      seed = 1:2, train_size = c(100, 200, 400), model = c("minilm-ft", "logreg"),
      stringsAsFactors = FALSE
    )
    grid$metric <- "macro_f1"
    grid$value <- 0.5 + 0.0005 * grid$train_size + 0.01 * grid$seed -
      0.05 * (grid$model == "logreg")
    write_csv_fixture(grid[c("model", "train_size", "seed", "metric", "value")],
                      file.path(root, "learning_curve.csv"))
  }
  root
}
