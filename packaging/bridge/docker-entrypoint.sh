#!/bin/sh
# Entrypoint of the trayapp-bridge image: runs `trayapp-bridge "$@"`. For `serve`, a webhook secret file
# (a Docker/Compose/Kubernetes secret; one secret a line) is passed as --secret-file when it exists:
# $ACQUIRE_WEBHOOK_SECRET_FILE, default /run/secrets/acquire_webhook_secret. ACQUIRE_WEBHOOK_SECRET works too
# (both may be set while rotating).
set -eu
secret_file=${ACQUIRE_WEBHOOK_SECRET_FILE:-/run/secrets/acquire_webhook_secret}
if [ "${1:-}" = serve ] && [ -f "$secret_file" ]; then
  shift
  set -- serve --secret-file "$secret_file" "$@"
elif [ "${1:-}" = serve ] && [ -n "${ACQUIRE_WEBHOOK_SECRET_FILE:-}" ]; then
  echo "trayapp-bridge: ACQUIRE_WEBHOOK_SECRET_FILE=$secret_file does not exist" >&2
  exit 2
fi
exec trayapp-bridge "$@"
