# R forecast::thetaf reference values for test/pgtap/forecast_theta_reference.sql.
# Run from the repository root (R 4.2.2, forecast 8.20: Debian bookworm's r-cran-forecast):
#   Rscript test/data/forecast/make_theta_reference.R /work/shared/data/m4_weekly/Weekly-train.csv
# Reads test/data/forecast/aus_retail_sample.csv (4 monthly series, frequency 12) and four
# M4 weekly series (W7, W10, W200: their last 260 weeks; W300: all 80), writes the weekly
# ones to test/data/forecast/m4_weekly_sample.csv (dates laid out weekly, ending on Monday
# 2024-12-30; frequency 52), and thetaf's point forecasts and 80% bounds (monthly h = 24,
# weekly h = 13), its alpha and drift, and whether it adjusted for a season, to
# test/data/forecast/r_theta_reference.csv.
suppressMessages(library(forecast))
args <- commandArgs(trailingOnly = TRUE)
m4file <- if (length(args) >= 1) args[1] else "/work/shared/data/m4_weekly/Weekly-train.csv"

seasonal_test <- function(x) {
  # thetaf's own test, repeated to record which branch it took
  n <- length(x); m <- frequency(x)
  if (m > 1 && !is.constant(x) && n > 2 * m) {
    r <- as.numeric(acf(x, lag.max = m, plot = FALSE)$acf)[-1]
    stat <- sqrt((1 + 2 * sum(r[-m]^2)) / n)
    abs(r[m]) / stat > qnorm(0.95)
  } else FALSE
}

ref <- NULL
one <- function(key, x, h) {
  f <- thetaf(x, h = h, level = 80)
  data.frame(series = key, step = 1:h, mean = as.numeric(f$mean),
             lower = as.numeric(f$lower[, 1]), upper = as.numeric(f$upper[, 1]),
             alpha = as.numeric(f$model$alpha), drift = as.numeric(f$model$drift),
             seasonal = seasonal_test(x))
}

aus <- read.csv("test/data/forecast/aus_retail_sample.csv")
for (s in unique(aus$series)) {
  d <- aus[aus$series == s, ]
  d <- d[order(d$month), ]
  ref <- rbind(ref, one(s, ts(d$y, frequency = 12), 24))
}

w <- read.csv(m4file, stringsAsFactors = FALSE)
weekly <- NULL
for (s in c("W7", "W10", "W200", "W300")) {
  v <- as.numeric(w[w$V1 == s, -1])
  v <- v[!is.na(v)]
  v <- tail(v, 260)
  n <- length(v)
  weeks <- as.Date("2024-12-30") - 7 * ((n - 1):0)
  weekly <- rbind(weekly, data.frame(series = s, week = format(weeks), y = v))
  ref <- rbind(ref, one(s, ts(v, frequency = 52), 13))
}
write.csv(weekly, "test/data/forecast/m4_weekly_sample.csv", row.names = FALSE, quote = FALSE)
ref[] <- lapply(ref, function(c) if (is.numeric(c)) format(c, digits = 15, trim = TRUE) else c)
write.csv(ref, "test/data/forecast/r_theta_reference.csv", row.names = FALSE, quote = FALSE)
