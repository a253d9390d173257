# R forecast peer for test/bench/forecast: ets, thetaf and stlf per series with 80% intervals
# (and, given the factor files, a per-series OLS on them).
# Usage: Rscript peer_r.R train.csv h f_ets f_theta f_stl out.csv [ols_train.csv ols_test.csv]
#   train.csv: series,y, each series' values oldest first (regular periods, no gaps)
#   f_*: the ts frequency each method is given (ets ignores frequencies above 24, as R says)
#   out.csv: method,series,step,yhat,lo,hi (step k = k periods after the series' last value);
#            out.csv.time: one line "method seconds" per method
#   ols_train.csv: series,logmove,lprice,deal,feat (observed training weeks)
#   ols_test.csv:  series,step,lprice,deal,feat (the forecast periods)
#   OLS: lm(logmove ~ lprice + deal + feat) per series; forecast exp(fit + s^2 / 2) (the
#   log-normal mean), interval exp() of the 80% prediction interval.
suppressMessages(library(forecast))
args <- commandArgs(TRUE)
d <- read.csv(args[1], colClasses = c("character", "numeric"))
h <- as.integer(args[2])
freq <- c(r_ets = as.numeric(args[3]), r_thetaf = as.numeric(args[4]), r_stlf = as.numeric(args[5]))
out <- args[6]
fits <- list(
  r_ets = function(y) forecast(ets(y), h = h, level = 80),
  r_thetaf = function(y) thetaf(y, h = h, level = 80),
  r_stlf = function(y) stlf(y, h = h, level = 80))
rows <- list()
times <- c(r_ets = 0, r_thetaf = 0, r_stlf = 0)
fails <- c(r_ets = 0, r_thetaf = 0, r_stlf = 0)
for (s in unique(d$series)) {
  v <- d$y[d$series == s]
  for (m in names(fits)) {
    t0 <- proc.time()[["elapsed"]]
    fc <- tryCatch(suppressWarnings(fits[[m]](ts(v, frequency = freq[[m]]))), error = function(e) NULL)
    if (is.null(fc)) {
      # a series the method cannot take: counted, and left without a forecast
      fails[[m]] <- fails[[m]] + 1
      next
    }
    times[[m]] <- times[[m]] + proc.time()[["elapsed"]] - t0
    rows[[length(rows) + 1]] <- data.frame(method = m, series = s, step = 1:h,
      yhat = as.numeric(fc$mean), lo = as.numeric(fc$lower[, 1]), hi = as.numeric(fc$upper[, 1]))
  }
}
if (length(args) >= 8) {
  tr <- read.csv(args[7], colClasses = c("character", rep("numeric", 4)))
  te <- read.csv(args[8], colClasses = c("character", rep("numeric", 4)))
  t0 <- proc.time()[["elapsed"]]
  for (s in unique(te$series)) {
    a <- tr[tr$series == s, ]
    b <- te[te$series == s, ]
    fit <- lm(logmove ~ lprice + deal + feat, data = a)
    p <- suppressWarnings(predict(fit, newdata = b, interval = "prediction", level = 0.8))
    s2 <- summary(fit)$sigma^2
    rows[[length(rows) + 1]] <- data.frame(method = "ols_factors", series = s, step = b$step,
      yhat = exp(p[, "fit"] + s2 / 2), lo = exp(p[, "lwr"]), hi = exp(p[, "upr"]))
  }
  times[["ols_factors"]] <- proc.time()[["elapsed"]] - t0
  fails[["ols_factors"]] <- 0
}
write.csv(do.call(rbind, rows), out, row.names = FALSE)
for (m in names(times))
  cat(m, times[[m]], fails[[m]], "\n", file = paste0(out, ".time"), append = TRUE)
