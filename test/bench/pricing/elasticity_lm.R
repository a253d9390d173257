# R's lm on the specification retailiq.elasticity_fit estimates, per brand of Dominick's
# orange juice: log(units) ~ log(price) + deal + feat + 2 Fourier pairs of the day of the
# year + factor(store), on weeks <= 148. Prints brand,coefficient of log(price) (full
# precision) for the benchmark to compare with retailiq.elasticities (store NULL rows).
# Usage: Rscript elasticity_lm.R orange_juice_weekly.csv out.csv
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d <- d[d$week <= 148 & d$units > 0, ]
pos <- as.numeric(as.Date(d$week_start) - as.Date("2000-01-01")) / 365.25
d$c1 <- cos(2 * pi * pos); d$s1 <- sin(2 * pi * pos)
d$c2 <- cos(4 * pi * pos); d$s2 <- sin(4 * pi * pos)
out <- do.call(rbind, lapply(sort(unique(d$brand)), function(b) {
  f <- lm(log(units) ~ log(price) + deal + feat + c1 + s1 + c2 + s2 + factor(store),
          data = d[d$brand == b, ])
  s <- summary(f)$coefficients
  data.frame(brand = b, elasticity = sprintf("%.17g", coef(f)[["log(price)"]]),
             se = sprintf("%.17g", s["log(price)", "Std. Error"]))
}))
write.csv(out, args[2], row.names = FALSE, quote = FALSE)
