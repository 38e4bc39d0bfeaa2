#!/usr/bin/env bash
# Turn the Docker secrets mounted under /run/secrets into the settings Airflow and MASIP read,
# then run the container's command. Secrets never appear in docker-compose.yml, in
# `docker inspect`, or on a command line (the partnership secret goes through stdin).
set -euo pipefail
secrets_dir="${MASIP_SECRETS_DIR:-/run/secrets}"  # overridable only so that the tests can run this script

secret() {  # print $secrets_dir/$1 without whitespace; fail if it is not there
  local file="$secrets_dir/$1"
  [[ -r "$file" ]] || return 1
  tr -d '[:space:]' < "$file"
}

if db_password="$(secret postgres_password)"; then
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://${POSTGRES_USER:-airflow}:${db_password}@${POSTGRES_HOST:-postgres}:${POSTGRES_PORT:-5432}/${POSTGRES_DB:-airflow}"
fi
if value="$(secret airflow_fernet_key)"; then export AIRFLOW__CORE__FERNET_KEY="$value"; fi
if value="$(secret airflow_jwt_secret)"; then export AIRFLOW__API_AUTH__JWT_SECRET="$value"; fi
if value="$(secret airflow_api_secret_key)"; then export AIRFLOW__API__SECRET_KEY="$value"; fi

# The partnership secret becomes the password of the Airflow connection `masip_partnership`,
# where masip.orchestration.load_partnership_keyring looks first.
if [[ -r "$secrets_dir/masip_partnership" ]]; then
  AIRFLOW_CONN_MASIP_PARTNERSHIP="$(python -c '
import json, sys
print(json.dumps({"conn_type": "generic", "description": "MASIP partnership secret (password field)",
                  "password": sys.stdin.read().strip()}))' < "$secrets_dir/masip_partnership")"
  export AIRFLOW_CONN_MASIP_PARTNERSHIP
fi
unset db_password value secrets_dir

exec "$@"
