# Regenerates the R reference values in r_ets_reference.csv from aus_retail_sample.csv
# (R 4.2, forecast 8.20 from Debian r-cran-forecast):  Rscript make_reference.R
# For each series: ets() chosen automatically, plus fixed forms; the fitted parameters,
# initial states, log-likelihood, AICc, sigma^2 and the h = 12 forecasts with 80% intervals.
suppressMessages(library(forecast))
d <- read.csv("aus_retail_sample.csv", colClasses = c("character", "character", "numeric"))
arr <- function(v) paste0("{", paste(sprintf("%.17g", v), collapse = ","), "}")
rows <- list()
for (s in unique(d$series)) {
  x <- d[d$series == s, ]
  x <- x[order(x$month), ]
  y <- ts(x$y, start = c(as.integer(substr(x$month[1], 1, 4)), as.integer(substr(x$month[1], 6, 7))), frequency = 12)
  fits <- list(auto = ets(y), AAdA = ets(y, model = "AAA", damped = TRUE), ANA = ets(y, model = "ANA"),
               AAdN = ets(y, model = "AAN", damped = TRUE), MAM = ets(y, model = "MAM", damped = FALSE))
  for (k in names(fits)) {
    f <- fits[[k]]
    p <- f$par
    par <- c(p["alpha"], ifelse(is.na(p["beta"]), 0, p["beta"]), ifelse(is.na(p["gamma"]), 0, p["gamma"]),
             ifelse(is.na(p["phi"]), 1, p["phi"]))
    fc <- forecast(f, h = 12, level = 80)
    comp <- f$components
    form <- paste0(comp[1], comp[2], ifelse(comp[4] == "TRUE", "d", ""), comp[3])
    rows[[length(rows) + 1]] <- data.frame(series = s, fit = k, form = form, loglik = f$loglik,
      aicc = f$aicc, sigma2 = f$sigma2, par = arr(par), init = arr(f$initstate),
      mean = arr(fc$mean), lower = arr(fc$lower), upper = arr(fc$upper))
  }
}
write.csv(do.call(rbind, rows), "r_ets_reference.csv", row.names = FALSE)
