#!/usr/bin/env bash
# Run the MASIP DAGs locally with `airflow standalone` (api-server + scheduler + dag-processor +
# triggerer in one process tree), SQLite metadata DB in ./airflow_home. For a demo on synthetic data:
#
#   scripts/airflow_local.sh            # then open http://localhost:8080 (no login: local demo)
#
# What it sets up, once (kept between runs; `rm -rf airflow_home landing` to start again):
#   - ./airflow_home              AIRFLOW_HOME (SQLite DB, logs, airflow.cfg); DAGs from ./dags
#   - warehouse/demo-throwaway.key  a THROWAWAY partnership key (`masip keygen`) for synthetic data only
#   - ./landing                   synthetic drops (`masip generate --out landing/`) if it has none
#   - the pool masip_warehouse    one slot: every task that writes the DuckDB warehouse runs in it
# Warehouse: warehouse/masip.duckdb; reports and alerts: ./output (the usual CLI defaults).
#
# Environment overrides: AIRFLOW_PORT (8080), MASIP_LANDING_DIR, MASIP_WAREHOUSE, MASIP_OUTPUT_DIR,
# MASIP_SECRET_FILE (use a real key only for real data, and never this script for real data).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bin="${VENV:-$repo/.venv}/bin"
[[ -x "$bin/airflow" && -x "$bin/masip" ]] || { echo "No virtualenv with airflow and masip at $bin: run 'make setup' first." >&2; exit 1; }
export PATH="$bin:$PATH"

# No telemetry from dbt, cosmos or Great Expectations (see STACK-NOTES).
export DBT_SEND_ANONYMOUS_USAGE_STATS=False DO_NOT_TRACK=1 AIRFLOW__COSMOS__ENABLE_TELEMETRY=False GX_ANALYTICS_ENABLED=False

export AIRFLOW_HOME="$repo/airflow_home"
export AIRFLOW__CORE__DAGS_FOLDER="$repo/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$AIRFLOW_HOME/airflow.db"
export AIRFLOW__API__PORT="${AIRFLOW_PORT:-8080}"
# Local demo only: SimpleAuthManager lets everyone in as admin (no password to copy from the log).
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=30

export MASIP_LANDING_DIR="${MASIP_LANDING_DIR:-$repo/landing}"
export MASIP_WAREHOUSE="${MASIP_WAREHOUSE:-$repo/warehouse/masip.duckdb}"
export MASIP_OUTPUT_DIR="${MASIP_OUTPUT_DIR:-$repo/output}"
export MASIP_SECRET_FILE="${MASIP_SECRET_FILE:-$repo/warehouse/demo-throwaway.key}"

mkdir -p "$AIRFLOW_HOME" "$(dirname "$MASIP_WAREHOUSE")" "$MASIP_OUTPUT_DIR"
if [[ ! -f "$MASIP_SECRET_FILE" ]]; then
  echo "DEMO: creating a THROWAWAY partnership key at $MASIP_SECRET_FILE (synthetic data only)"
  masip keygen --out "$MASIP_SECRET_FILE"
fi
if ! compgen -G "$MASIP_LANDING_DIR/*/manifest.json" >/dev/null; then
  echo "DEMO: generating synthetic drops in $MASIP_LANDING_DIR"
  masip generate --out "$MASIP_LANDING_DIR"
fi

airflow db migrate >/dev/null
airflow pools set masip_warehouse 1 "MASIP: one writer of the DuckDB warehouse at a time" >/dev/null

cat <<EOF
Airflow UI: http://localhost:${AIRFLOW__API__PORT}  (DAGs are paused until you switch them on)
  - masip_ingest_<source>: trigger one to ingest that source's drops from $MASIP_LANDING_DIR
    (switched on, each watches the landing folder daily); each one that loads data triggers masip_build
  - masip_pipeline: manual end-to-end run (the same as 'masip run')
Stop with Ctrl-C.
EOF
exec airflow standalone
