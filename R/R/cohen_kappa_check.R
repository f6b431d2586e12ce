#' Cohen's kappa of two coders, computed by psych
#'
#' An independent cross-check of the kappa that the Python side computes
#' (scikit-learn): the two coders' labels are put on a common set of
#' categories and passed to [psych::cohen.kappa()].
#'
#' @param ratings A data frame (or matrix) with one row per coded unit and
#'   two columns, one per coder. Rows with a missing label are dropped.
#' @param categories All categories, in order. `NULL` takes the sorted union
#'   of both coders' labels. Give the codebook's labels when some are unused.
#' @param alpha One minus the confidence level of the interval.
#'
#' @return An `llmcoder_kappa` object: a list with
#'   \describe{
#'     \item{`kappa`}{Unweighted Cohen's kappa.}
#'     \item{`ci_low`, `ci_high`}{Its confidence interval (psych's normal
#'       approximation, clipped to \[-1, 1\]).}
#'     \item{`se`}{Standard error of kappa.}
#'     \item{`table`}{The agreement table (coder 1 in rows).}
#'     \item{`weighted_kappa`}{psych's weighted kappa (quadratic weights).}
#'     \item{`agreement`}{Observed proportion of agreement.}
#'     \item{`n`}{Units compared.}
#'     \item{`categories`}{The categories used.}
#'     \item{`coders`}{The two column names.}
#'   }
#'   with a `provenance` attribute.
#' @references Cohen, J. (1960). A coefficient of agreement for nominal
#'   scales. *Educational and Psychological Measurement*, 20(1), 37-46.
#' @seealso [reliability_table()]
#' @examples
#' ratings <- data.frame(
#'   a = c("x", "x", "y", "y", "z", "x"),
#'   b = c("x", "y", "y", "y", "z", "x")
#' )
#' cohen_kappa_check(ratings)
#' @export
cohen_kappa_check <- function(ratings, categories = NULL, alpha = 0.05) {
  if (!is.data.frame(ratings) && !is.matrix(ratings)) {
    cli::cli_abort(c(
      "{.arg ratings} must be a data frame with two columns (one per coder).",
      "x" = "It is {.obj_type_friendly {ratings}}."
    ))
  }
  ratings <- as.data.frame(ratings, stringsAsFactors = FALSE)
  if (ncol(ratings) != 2) {
    cli::cli_abort(c(
      "{.arg ratings} must have exactly two columns, one per coder.",
      "x" = "It has {ncol(ratings)} column{?s}.",
      "i" = "Select the two coders to compare, e.g. {.code ratings[c(\"coder_a\", \"coder_b\")]}."
    ))
  }
  if (!is.numeric(alpha) || length(alpha) != 1 || is.na(alpha) || alpha <= 0 || alpha >= 1) {
    cli::cli_abort("{.arg alpha} must be one number between 0 and 1.")
  }
  a <- as.character(ratings[[1]])
  b <- as.character(ratings[[2]])
  keep <- !is.na(a) & !is.na(b)
  a <- a[keep]
  b <- b[keep]
  if (length(a) < 2) {
    cli::cli_abort(c(
      "Too few units to compute kappa.",
      "x" = "{length(a)} unit{?s} coded by both coders."
    ))
  }
  if (is.null(categories)) {
    categories <- sort(unique(c(a, b)))
  }
  unknown <- setdiff(unique(c(a, b)), categories)
  if (length(unknown) > 0) {
    cli::cli_abort(c(
      "Some labels are not in {.arg categories}.",
      "x" = "Unknown: {.val {unknown}}."
    ))
  }
  # psych takes a square matrix as the agreement table itself; building it here
  # keeps unused categories and avoids psych reading a 2-unit frame as a table.
  counts <- table(factor(a, levels = categories), factor(b, levels = categories))
  fit <- withCallingHandlers(
    psych::cohen.kappa(unclass(counts), alpha = alpha),
    warning = function(w) {
      # psych clips the interval to [-1, 1] and warns; the clipping is documented here.
      if (grepl("confidence interval exceed", conditionMessage(w), fixed = TRUE)) {
        invokeRestart("muffleWarning")
      }
    }
  )
  structure(
    list(
      kappa = unname(fit$kappa),
      ci_low = unname(fit$confid[1, "lower"]),
      ci_high = unname(fit$confid[1, "upper"]),
      se = sqrt(unname(fit$var.kappa)),
      table = counts,
      weighted_kappa = unname(fit$weighted.kappa),
      agreement = sum(diag(counts)) / sum(counts),
      n = length(a),
      categories = categories,
      coders = names(ratings),
      alpha = alpha
    ),
    class = "llmcoder_kappa",
    provenance = new_provenance(
      "cohen_kappa_check", match.call(),
      psych_version = as.character(utils::packageVersion("psych"))
    )
  )
}

#' @export
print.llmcoder_kappa <- function(x, ...) {
  level <- round(100 * (1 - x$alpha))
  cli::cli_text("{.cls llmcoder_kappa}: Cohen's kappa of {.field {x$coders[1]}} and {.field {x$coders[2]}}")
  cli::cli_bullets(c(
    "*" = "kappa = {format(round(x$kappa, 4), nsmall = 4)} ({level}% CI {format(round(x$ci_low, 4), nsmall = 4)} to {format(round(x$ci_high, 4), nsmall = 4)})",
    "*" = "observed agreement = {format(round(x$agreement, 4), nsmall = 4)}",
    "*" = "{x$n} unit{?s}, {length(x$categories)} categor{?y/ies}"
  ))
  invisible(x)
}
