# R forecast peer for test/bench/forecast: automatic ets (and auto.arima when asked) per
# series and origin, 80% intervals. Usage: Rscript peer_r.R data.csv origins h out.csv arima(0/1)
# data.csv: series,month,y (month = YYYY-MM-01); origins: comma-separated YYYY-MM-01.
suppressMessages(library(forecast))
args <- commandArgs(TRUE)
d <- read.csv(args[1], colClasses = c("character", "character", "numeric"))
origins <- strsplit(args[2], ",")[[1]]
h <- as.integer(args[3])
out <- args[4]
do_arima <- args[5] == "1"
rows <- list()
times <- c(r_ets = 0, r_arima = 0)
for (o in origins) {
  for (s in unique(d$series)) {
    x <- d[d$series == s & d$month < o, ]
    if (nrow(x) < 24) next
    x <- x[order(x$month), ]
    st <- as.Date(x$month[1])
    y <- ts(x$y, start = c(as.integer(format(st, "%Y")), as.integer(format(st, "%m"))), frequency = 12)
    meths <- if (do_arima) c("r_ets", "r_arima") else c("r_ets")
    for (m in meths) {
      t0 <- proc.time()[["elapsed"]]
      fit <- if (m == "r_ets") ets(y) else auto.arima(y)
      fc <- forecast(fit, h = h, level = 80)
      times[[m]] <- times[[m]] + proc.time()[["elapsed"]] - t0
      rows[[length(rows) + 1]] <- data.frame(method = m, series = s, origin = o, step = 1:h,
        yhat = as.numeric(fc$mean), lo = as.numeric(fc$lower), hi = as.numeric(fc$upper))
    }
  }
}
write.csv(do.call(rbind, rows), out, row.names = FALSE)
for (m in names(times)) if (m == "r_ets" || do_arima) cat(m, times[[m]], "\n", file = paste0(out, ".time"), append = TRUE)
