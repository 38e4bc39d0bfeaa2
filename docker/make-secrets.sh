#!/usr/bin/env bash
# Create the Docker secrets docker-compose.yml expects, under docker/secrets/ (git-ignored).
# The folder is mode 700 (nobody else on the host can reach the files); the files themselves are 644
# because Compose bind-mounts them with their host mode, and the containers run as uid 50000.
#
#   docker/make-secrets.sh --partnership-key /secure/path/partnership.key   # the real, shared key
#   docker/make-secrets.sh --demo                                            # throwaway key, synthetic data only
#
# Existing files are kept, so re-running never rotates a secret by accident.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p data/landing data/output
umask 077
mkdir -p secrets
chmod 700 secrets

new() {  # new <name> <command>: create secrets/<name> from the command's output unless it exists
  [[ -s "secrets/$1" ]] && { echo "kept    secrets/$1"; return; }
  eval "$2" > "secrets/$1"
  chmod 644 "secrets/$1"
  echo "created secrets/$1"
}

new postgres_password      'openssl rand -hex 24'
new airflow_jwt_secret     'openssl rand -hex 32'
new airflow_api_secret_key 'openssl rand -hex 32'
# A Fernet key is 32 random bytes, URL-safe base64.
new airflow_fernet_key     'openssl rand -base64 32 | tr "+/" "-_"'

case "${1:-}" in
  --partnership-key)
    [[ -r "${2:-}" ]] || { echo "usage: $0 --partnership-key FILE" >&2; exit 2; }
    if [[ -s secrets/masip_partnership.key ]]; then echo "kept    secrets/masip_partnership.key"
    else install -m 644 "$2" secrets/masip_partnership.key; echo "copied  secrets/masip_partnership.key"; fi ;;
  --demo)
    new masip_partnership.key 'openssl rand -hex 32'
    echo "DEMO: secrets/masip_partnership.key is a THROWAWAY key; never use it for real data." >&2 ;;
  *)
    [[ -s secrets/masip_partnership.key ]] || {
      echo "No partnership key: re-run with --partnership-key FILE (or --demo for synthetic data)." >&2; exit 2; } ;;
esac
