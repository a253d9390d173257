# retailiq: retail analytics inside PostgreSQL (PGXS build).
# `make test` and `make demo` are the two commands of README.md; both set up what they need.

EXTENSION  = retailiq
EXTVERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" retailiq.control)

# The install script, part by part in dependency order, each part's files in the order they
# build on each other; src/privileges.sql (which revokes what no role needs) comes last.
# Every C file under src/ is compiled.
SQL_core      = core source
SQL_sample    = sample
SQL_segment   = segment
SQL_basket    = basket basket_distributed
SQL_forecast  = forecast_result baselines lstm regression accuracy operations progress distributed
SQL_churn     = churn
SQL_alerts    = alerts
SQL_scheduler = scheduler
SQL_privacy   = masking masking_copy gaps audit approval roles removal
SQL_behaviour = behaviour behaviour_funnel behaviour_profile
# issue 24: the replenishment plan and backtest; slow movers, forecast health, the two-person rule
SQL_replenishment = replenishment plan backtest planning_thresholds slow_movers forecast_health
SQL_reports   = reports reports_html report_days report_purchaser report_distributed
SQL_marketing = recommend elasticity elasticity_price promotion retention
PARTS = core sample segment basket forecast churn alerts scheduler privacy replenishment behaviour reports marketing

MODULE_big = retailiq
OBJS       = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c src/*/*.c)))
SQL_PARTS  = $(foreach p,$(PARTS),$(foreach f,$(SQL_$(p)),src/$(p)/$(f).sql)) src/privileges.sql
DATA_built = retailiq--$(EXTVERSION).sql
# the upgrade from the previous release, assembled (tools/upgrade_script.pl, doc/operations.md)
UPGRADE_FROM  = 0.2.0
UPGRADE_PARTS = src/upgrade/$(UPGRADE_FROM)--$(EXTVERSION).before.sql $(SQL_PARTS) src/upgrade/$(UPGRADE_FROM)--$(EXTVERSION).after.sql
DATA_built   += retailiq--$(UPGRADE_FROM)--$(EXTVERSION).sql
DATA       = $(wildcard src/upgrade/retailiq--*--*.sql)
DOCS       = README.md

# pg_regress: every sql/*.sql, in name order.
REGRESS      = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=retailiq
ISOLATION      = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation --outputdir=test/isolation/output --load-extension=retailiq

# OpenBLAS, serial build: it starts no threads, so the postmaster stays single-threaded
# and each backend does its matrix work on one core (parallelism is PostgreSQL's).
BLAS_DIR   ?= /usr/lib/x86_64-linux-gnu/openblas-serial
BLAS_INC   ?= /usr/include/x86_64-linux-gnu/openblas-serial
# PostgreSQL's and OpenBLAS's headers as system headers: -Wextra judges only our code.
PG_CPPFLAGS = -Isrc -isystem $(shell $(PG_CONFIG) --includedir-server) -isystem $(BLAS_INC)
SHLIB_LINK  = -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas -lm
# The test build sets WERROR=1: -Wall -Wextra, every warning an error. No fast-math:
# exact answers and same-seed reproducibility depend on IEEE semantics.
PG_CFLAGS   = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers $(if $(WERROR),-Werror)

EXTRA_CLEAN = $(DATA_built) test/isolation/output build

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild every object when any header changes, so a
# struct that grew is never seen at two sizes (stack smashing, wrong offsets).
$(OBJS): $(wildcard src/*.h src/*/*.h)

retailiq--$(EXTVERSION).sql: $(SQL_PARTS) retailiq.control
	cat $(SQL_PARTS) > $@

retailiq--$(UPGRADE_FROM)--$(EXTVERSION).sql: $(UPGRADE_PARTS) tools/upgrade_script.pl retailiq.control
	perl tools/upgrade_script.pl $(UPGRADE_PARTS) > $@

.PHONY: test demo bench fuzz fuzz-sql
test:
	tools/test.sh
demo:
	tools/demo.sh
bench:
	tools/bench.sh
fuzz:
	test/fuzz/run.sh $(FUZZ_SECONDS)
fuzz-sql:
	test/fuzz/run_hostile.sh $(FUZZ_SECONDS)

# issue 26, releases (doc/operations.md): the Debian package, and the upgrade check from the
# previous release; PGXS's installcheck against a running server creates its isolation output
.PHONY: deb upgradecheck
deb:
	tools/deb.sh
upgradecheck:
	tools/upgradecheck.sh
installcheck: | test/isolation/output
test/isolation/output:
	mkdir -p $@
