#!/bin/bash
# Runs CMD (default: the e2e tests) in a real desktop session, headless:
#   xvfb-run -> dbus-run-session -> desktop-session.sh (dunst, xfce4-panel tray host, unlocked gnome-keyring) -> CMD
# Isolated HOME/XDG dirs are exported BEFORE dbus-run-session so that D-Bus-activated services (xfconfd,
# gnome-keyring) inherit them too. Artifacts (logs, final screenshot) go to $ARTIFACTS (default tests/e2e/artifacts).
# Adapted from the verified recipe in the project's desktop-test-stack notes.
#
#   tests/e2e/run-e2e.sh                      # the e2e tests
#   tests/e2e/run-e2e.sh CMD ARGS...          # anything else in the same session (scripts/screenshots.sh uses it)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
export ARTIFACTS=${ARTIFACTS:-$HERE/artifacts}; mkdir -p "$ARTIFACTS"
for tool in xvfb-run dbus-run-session dunst dunstctl xfce4-panel gnome-keyring-daemon; do
  command -v "$tool" > /dev/null || { echo "run-e2e.sh: $tool is missing (see tests/e2e/README.md)" >&2; exit 2; }
done
T=$(mktemp -d); mkdir -p "$T/run"; chmod 700 "$T/run"
export TMPDIR=$T HOME=$T XDG_CONFIG_HOME=$T/.config XDG_DATA_HOME=$T/.local/share XDG_CACHE_HOME=$T/.cache \
  XDG_RUNTIME_DIR=$T/run XDG_STATE_HOME=$T/.local/state
export QT_QPA_PLATFORM=xcb NO_AT_BRIDGE=1 TRAYAPP_E2E_SESSION=1
unset DBUS_SESSION_BUS_ADDRESS
[ $# -eq 0 ] && set -- "$PYTHON" -m pytest "$ROOT/tests/e2e" -m e2e -p no:cacheprovider -v
cd "$ROOT"
xvfb-run -a -s "-screen 0 1024x768x24 -nolisten tcp" dbus-run-session -- "$HERE/desktop-session.sh" "$@"
rc=$?; rm -rf "$T"; exit $rc
