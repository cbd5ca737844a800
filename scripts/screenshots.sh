#!/bin/bash
# Screenshots of the real app as a user sees it: `trayapp demo` in a headless desktop session (Xvfb, xfce4-panel
# as the tray host, dunst for popups; see tests/e2e/run-e2e.sh). Writes docs/screenshots/*.png:
#   tray-and-popup.png  the panel's tray icon (unread badge) and a native popup
#   tray-menu.png       the tray icon's menu
#   list.png            the event list
#   settings.png        the settings dialog
#   settings-alerts.png the settings dialog's Alerts page
#   demo-first-screen.png the demo's first screen (the list, a welcome strip with *Send me a test alert*)
#   icons.png           every tray icon on a light and a dark panel, at 22 and 32 px
#   first-run.png       the first-run link dialog; link-unreachable.png / link-wrong-key.png: what it says when
#                       the alert server cannot be reached / the link's key does not match
#   link-from-outside.png a link opened from outside, waiting for the agent to confirm
#   settings-error.png  the settings when the connection needs a new link (error state, Details open)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/docs/screenshots}
mkdir -p "$OUT"
if [ "${1:-}" != "--inside" ]; then
  OUT="$OUT" ARTIFACTS=${ARTIFACTS:-$ROOT/tests/e2e/artifacts} exec "$ROOT/tests/e2e/run-e2e.sh" "$0" --inside
fi

PY=${PYTHON:-$ROOT/.venv/bin/python}
export BROWSER=true   # a clicked popup "opens" its conversation without starting a browser in the session
TRAYAPP=("$PY" -c "import sys; from trayapp.cli import main; sys.exit(main())")
wait_for() {  # wait_for SECONDS CMD...: poll until CMD succeeds
  local end=$((SECONDS + $1)); shift
  until "$@" > /dev/null 2>&1; do
    [ $SECONDS -lt $end ] || { echo "screenshots: timed out waiting for: $*" >&2; return 1; }
    sleep 0.2
  done
}
popups() { [ "$(dunstctl count displayed)" -ge "$1" ]; }
window() { xdotool search --onlyvisible --name "$1" | head -1; }
has_window() { [ -n "$(window "$1")" ]; }
sni_item() {
  dbus-send --session --print-reply --dest=org.kde.StatusNotifierWatcher /StatusNotifierWatcher \
    org.freedesktop.DBus.Properties.Get string:org.kde.StatusNotifierWatcher string:RegisteredStatusNotifierItems \
    | grep -o 'string "[^"]*"' | head -1 | sed 's/string "\(.*\)"/\1/'
}
has_sni() { [ -n "$(sni_item)" ]; }

"${TRAYAPP[@]}" demo --interval 1.5 > "$ARTIFACTS/demo.log" 2>&1 & APP=$!
trap 'kill $APP 2>/dev/null; wait $APP 2>/dev/null || true' EXIT
wait_for 30 has_sni
# 0. The demo's first screen: the list with its welcome strip and *Send me a test alert*; then Escape closes it
#    (there is no window manager: it would cover the panel).
dunstctl set-paused true   # popups wait (and do not cover the window) until this screenshot is taken
wait_for 15 has_window "^Alerts|unread"
sleep 2
import -window "$(window '^Alerts|unread')" "$OUT/demo-first-screen.png"
xdotool windowfocus --sync "$(window '^Alerts|unread')"
xdotool key Escape
wait_for 10 sh -c '! xdotool search --onlyvisible --name "^Alerts|unread" | grep -q .'
dunstctl set-paused false
wait_for 60 popups 2
sleep 2   # let a few more events arrive so the badge and the list have something to show
# 1. The panel's tray icon and the popup (top-left corner of the screen).
import -window root -crop 560x260+0+0 +repage "$OUT/tray-and-popup.png"

# 2. The tray menu: right click on the icon (the systray is the panel's only plugin, at its left end).
xdotool mousemove 12 16 click 3
wait_for 10 has_window ""   # any popup menu
sleep 0.5
import -window root -crop 560x300+0+0 +repage "$OUT/tray-menu.png"
xdotool key Escape
xdotool mousemove 700 700   # away from the icon: its tooltip would cover the windows below

# 3. The list: what a left click on the icon does (Activate on the StatusNotifierItem, as the panel calls it).
dunstctl action 0          # click one popup: its conversation opens and its row turns read
sleep 5                    # a few more events for the list
dunstctl set-paused true   # popups of newer events would cover the windows (there is no window manager)
dunstctl close-all
ITEM=$(sni_item); NAME=${ITEM%%/*}; OBJ=/${ITEM#*/}; [ "$OBJ" = "/$ITEM" ] && OBJ=/StatusNotifierItem
dbus-send --session --type=method_call --dest="$NAME" "$OBJ" org.kde.StatusNotifierItem.Activate int32:0 int32:0
wait_for 15 has_window "unread"
sleep 1
import -window "$(window 'unread')" "$OUT/list.png"

# 4. The settings dialog, opened through a second launch (single instance hands the request over).
"${TRAYAPP[@]}" demo --settings
wait_for 15 has_window "^Settings"
sleep 1
import -window "$(window '^Settings')" "$OUT/settings.png"
# 4b. Its Alerts page: Alt+A (the tab's mnemonic), typed into the dialog as the agent would.
SETTINGS=$(window '^Settings')
xdotool windowfocus --sync "$SETTINGS"
xdotool key alt+a
sleep 1
import -window "$SETTINGS" "$OUT/settings-alerts.png"

# 5. The icons on light and dark panels.
"$PY" - "$OUT/icons.png" <<'PY'
import sys
from PySide6.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter
from trayapp.ui.icons import TrayLook, tray_icon
app = QGuiApplication([])
cases = [(look, 0, False) for look in TrayLook] + [(TrayLook.CONNECTED, 7, False), (TrayLook.CONNECTED, 120, False),
                                                    (TrayLook.CONNECTED, 0, True)]
cell = 84
image = QImage(cell * len(cases), cell * 2 + 24, QImage.Format.Format_ARGB32)
image.fill(QColor("#ffffff"))
p = QPainter(image)
for row, bg in enumerate(("#e8e8e8", "#2b2b2b")):
    p.fillRect(0, row * cell, image.width(), cell, QColor(bg))
    for i, (look, unread, warning) in enumerate(cases):
        icon = tray_icon(look, unread, warning)
        p.drawPixmap(i * cell + 4, row * cell + 21, icon.pixmap(22, 22))
        p.drawPixmap(i * cell + 34, row * cell + 16, icon.pixmap(32, 32))
font = QFont(); font.setPixelSize(10); p.setFont(font); p.setPen(QColor("#000"))
for i, (look, unread, warning) in enumerate(cases):
    label = look.name.lower() + (f" +{unread}" if unread else "") + (" !" if warning else "")
    p.drawText(i * cell + 2, cell * 2 + 16, label)
p.end()
image.save(sys.argv[1])
PY
# 6. The link dialog and the error states (real widgets under Xvfb, grabbed; the words are the app's own).
"$PY" - "$OUT" <<'PY'
import sys
from pathlib import Path
from PySide6.QtWidgets import QApplication
from trayapp.client.proof import Outcome, ProbeResult
from trayapp.core.link import build_link
from trayapp.settings import Settings
from trayapp.ui.first_run import FirstRunDialog, LinkMode
from trayapp.ui.settings_dialog import SettingsDialog, SettingsValues
from trayapp.ui.tray import TrayController
from trayapp.model.connection import ConnectionState, ConnectionStatus, Problem

out = Path(sys.argv[1])
app = QApplication([])
app.setApplicationDisplayName("trayapp")
key, other = "ed25519:" + "A" * 43 + "=", "ed25519:" + "B" * 43 + "="
link = build_link("https://alerts.acme.example", "tb_" + "x" * 43, key)

def shot(widget, name):
    widget.show(); widget.adjustSize(); app.processEvents(); widget.grab().save(str(out / name)); widget.close()

shot(FirstRunDialog(), "first-run.png")
for name, outcome, detail in (("link-unreachable.png", Outcome.UNREACHABLE, "cannot reach alerts.acme.example: timed out"),
                              ("link-wrong-key.png", Outcome.KEY_MISMATCH, "the signed hello does not verify")):
    d = FirstRunDialog(text=link)
    d.request_proof()
    r = ProbeResult(outcome, "alerts.acme.example", detail)
    d.show_result(r.ok, r.words, r.detail, r.retry_helps)
    d.details_button.setChecked(True)
    shot(d, name)
shot(FirstRunDialog(LinkMode.FROM_OUTSIDE, build_link("https://alerts.other.example", "tb_" + "y" * 43, other),
                    "https://alerts.acme.example", key), "link-from-outside.png")
tray = TrayController(use_tray=False)
tray.set_status(ConnectionStatus(ConnectionState.ERROR, detail="alerts.acme.example: HTTP 403 (token revoked)",
                                 problem=Problem.REVOKED))
s = SettingsDialog(SettingsValues.from_settings(Settings()), "https://alerts.acme.example")
s.set_state_text(tray.state_text(), tray.detail)
s.details_button.setChecked(True)
shot(s, "settings-error.png")
PY
echo "screenshots written to $OUT"
