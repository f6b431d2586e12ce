library(testthat)
library(llmcoder)

test_check("llmcoder")
