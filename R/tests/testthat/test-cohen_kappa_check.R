test_that("cohen_kappa_check matches a hand-computed kappa", {
  # Agreement table (rater a in rows): [[20, 5], [10, 15]]; n = 50.
  # po = 35/50 = 0.7; pe = (25*30 + 25*20) / 50^2 = 0.5; kappa = 0.2 / 0.5 = 0.4.
  ratings <- data.frame(
    a = c(rep("yes", 25), rep("no", 25)),
    b = c(rep("yes", 20), rep("no", 5), rep("yes", 10), rep("no", 15))
  )
  k <- cohen_kappa_check(ratings)
  expect_s3_class(k, "llmcoder_kappa")
  expect_equal(k$kappa, 0.4)
  expect_equal(k$agreement, 0.7)
  expect_equal(k$n, 50)
  expect_lt(k$ci_low, 0.4)
  expect_gt(k$ci_high, 0.4)
  expect_equal(k$ci_high - 0.4, 0.4 - k$ci_low)
  # Fleiss, Cohen & Everitt (1969) large-sample variance of kappa:
  # var = [sum_i p_ii ((1 - pe) - (p_i. + p_.i)(1 - po))^2
  #        + (1 - po)^2 sum_{i != j} p_ij (p_.i + p_j.)^2 - (po pe - 2 pe + po)^2] / (n (1 - pe)^4)
  p <- matrix(c(20, 5, 10, 15), 2, byrow = TRUE) / 50
  r <- rowSums(p)
  cl <- colSums(p)
  po <- 0.7
  pe <- 0.5
  diag_part <- sum(diag(p) * ((1 - pe) - (r + cl) * (1 - po))^2)
  off <- 0
  for (i in 1:2) for (j in 1:2) if (i != j) off <- off + p[i, j] * (cl[i] + r[j])^2
  v <- (diag_part + (1 - po)^2 * off - (po * pe - 2 * pe + po)^2) / (50 * (1 - pe)^4)
  expect_equal(k$se, sqrt(v))
  expect_equal(k$ci_low, 0.4 - stats::qnorm(0.975) * sqrt(v))
})

test_that("cohen_kappa_check keeps unused categories and drops missing labels", {
  ratings <- data.frame(
    a = c("x", "x", "y", "y", NA),
    b = c("x", "y", "y", "y", "z")
  )
  k <- cohen_kappa_check(ratings, categories = c("x", "y", "z"))
  expect_equal(k$n, 4)
  expect_equal(dim(k$table), c(3L, 3L))
  # po = 3/4; pe = (2*1 + 2*3) / 16 = 0.5; kappa = 0.5
  expect_equal(k$kappa, 0.5)
})

test_that("cohen_kappa_check works with two units (not read as a table)", {
  k <- cohen_kappa_check(data.frame(a = c("x", "y"), b = c("x", "y")))
  expect_equal(k$kappa, 1)
})

test_that("cohen_kappa_check validates input", {
  expect_error(cohen_kappa_check(data.frame(a = 1:3)), "exactly two columns")
  expect_error(cohen_kappa_check(1:3), "data frame")
  expect_error(cohen_kappa_check(data.frame(a = "x", b = "x")), "Too few units")
  expect_error(
    cohen_kappa_check(data.frame(a = c("x", "y"), b = c("x", "q")), categories = c("x", "y")),
    "not in"
  )
  k <- cohen_kappa_check(data.frame(a = c("x", "y", "x"), b = c("x", "y", "y")))
  msgs <- capture_messages(vis <- withVisible(print(k)))
  expect_match(paste(msgs, collapse = ""), "kappa = 0.4000")
  expect_false(vis$visible)
  expect_identical(vis$value, k)
})
