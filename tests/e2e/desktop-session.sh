#!/bin/bash
# Runs INSIDE xvfb-run + dbus-run-session: starts dunst + xfce4-panel, unlocks a keyring, runs "$@",
# screenshots the screen to $ARTIFACTS/final-screen.png and stops everything it started.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$XDG_CONFIG_HOME/xfce4/xfconf/xfce-perchannel-xml"
cp "$HERE/xfce4-panel.xml" "$XDG_CONFIG_HOME/xfce4/xfconf/xfce-perchannel-xml/"
dunst -config "$HERE/dunstrc" > "$ARTIFACTS/dunst.log" 2>&1 & DUNST=$!
xfce4-panel --disable-wm-check > "$ARTIFACTS/panel.log" 2>&1 & PANEL=$!
echo -n ci-pass | gnome-keyring-daemon --unlock --components=secrets > /dev/null
ready=0
for i in $(seq 100); do   # wait for SNI watcher + host (xfce systray plugin) and dunst
  dbus-send --session --print-reply --dest=org.kde.StatusNotifierWatcher /StatusNotifierWatcher \
    org.freedesktop.DBus.Properties.Get string:org.kde.StatusNotifierWatcher string:IsStatusNotifierHostRegistered 2>/dev/null | grep -q true \
  && dbus-send --session --print-reply --dest=org.freedesktop.Notifications /org/freedesktop/Notifications \
    org.freedesktop.Notifications.GetServerInformation > /dev/null 2>&1 && { ready=1; break; }
  sleep 0.1
done
[ $ready = 1 ] || echo "desktop-session.sh: tray host or dunst not ready after 10 s" >&2
"$@"; rc=$?
import -window root "$ARTIFACTS/final-screen.png" 2>/dev/null
kill $PANEL $DUNST 2>/dev/null; wait $PANEL $DUNST 2>/dev/null
exit $rc
