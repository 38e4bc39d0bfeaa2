# Two commands on a fresh machine: `make demo`, then `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
UV_VERSION := 0.13.8

export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export DO_NOT_TRACK := 1
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False
export GX_ANALYTICS_ENABLED := False

.PHONY: setup demo test test-spark spark-demo bench bench-linkage bench-privacy compile-trino airflow lock clean browser java

setup: $(VENV)/.installed

# The venv is rebuilt whenever the lock or the project metadata changes. Its bytecode is compiled here, once: a
# host that sets PYTHONDONTWRITEBYTECODE (the machines this project is built on do) otherwise compiles every
# module each process imports, every time: 2 s of each process that imports dbt, Great Expectations and Airflow,
# and 20 of the 48 s a `masip run` of one small drop took (it starts an ingest and a linkage process of its own).
# The sync runs once more if it fails: uv's compile workers fail now and then (astral-sh/uv#2245; a fresh clone
# here on 2026-12-08: "Bytecode compilation failed, expected <file>, received ''"), and a second sync compiles
# again without installing anything.
$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(UV) pip sync --compile-bytecode --python $(BIN)/python requirements.lock \
		|| $(UV) pip sync --compile-bytecode --python $(BIN)/python requirements.lock
	$(UV) pip install --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m compileall -q -j 0 masip connectors pseudonymisation dags benchmarks
	touch $@

# The demo renders the case pack's PDF with Chromium too (without it the HTML is still written).
demo: setup browser
	$(BIN)/masip demo

# Debian's Chromium renders and checks the case pack in the tests.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
		|| echo "make browser: could not install chromium; the case pack PDF is skipped (its HTML is written) and the browser tests fail"

# Spark (pyspark, dbt-spark: requirements.lock) runs in a JVM: Debian's Java 17 runtime. Where it cannot be
# installed, this says so and the Spark tests skip with that reason (the DuckDB pipeline needs no Java).
java:
	@command -v java >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null; } \
		|| echo "make java: could not install openjdk-17-jre-headless; Spark (make test-spark, --engine spark) cannot run here"

# The suite runs on two workers (pytest-xdist; each test module stays on one worker, so its fixtures are built
# once), the longest modules first (tests/conftest.py, LONGEST_FIRST). The Spark equivalence test is marked
# `spark` and left out of a plain pytest run (pyproject addopts); `make test` includes it (`-m ""`: every
# marker), so Spark runs on one worker while the other goes on with the rest; `make test-spark` runs it alone.
test: setup browser java
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder -m ""

test-spark: setup java
	$(BIN)/python -m pytest -m spark tests/test_spark_equivalence.py

# The demo partnership through the pipeline, then every model again on Spark (local mode), compared with DuckDB.
spark-demo: setup java
	$(BIN)/masip demo --engine spark

bench: setup
	$(BIN)/python -m benchmarks.pipeline $(ARGS)

# Linkage quality at 2k, 20k and 200k dyads against Splink on the plain values, and FEBRL (benchmarks/linkage);
# e.g. `make bench-linkage ARGS="--sizes 2000 --skip-febrl"`.
bench-linkage: setup
	$(BIN)/python -m benchmarks.linkage $(ARGS)

# The known attacks on the stored person encodings, before (v1) and after hardening (benchmarks/privacy).
bench-privacy: setup
	$(BIN)/python -m benchmarks.privacy

# The dbt project compiled for the second adapter (dbt-trino), no server needed (docs/national-deployment.md).
compile-trino: setup
	$(BIN)/python -m masip.dbt_offline --target trino

# A local Airflow (standalone, SQLite) with the DAGs loaded and demo drops in the landing folder.
airflow: setup
	bash scripts/airflow_local.sh

lock:
	$(UV) pip compile pyproject.toml --extra dev --extra spark --python-version 3.11 --no-header -o requirements.lock

clean:
	rm -rf $(VENV) warehouse output dbt_project/target dbt_project/logs
