#!/bin/sh
# Installs trayapp's desktop integration into a prefix: the .desktop entry (which also registers the
# trayapp:// link handler, MimeType=x-scheme-handler/trayapp), the AppStream metainfo and the hicolor icons.
#
#   install-desktop-files.sh [--prefix DIR] [--exec PATH] [--icons DIR] [--no-refresh]
#
#   --prefix DIR   where share/ goes (default: /usr/local as root, else the user's ~/.local); or a staging dir
#   --exec PATH    the trayapp command to put in Exec= (default: "trayapp" from PATH); e.g. /opt/trayapp/trayapp
#   --icons DIR    pre-rendered icons (a folder holding hicolor/); default: ./icons next to this script when it
#                  is there (as in the bundle), else they are rendered now with render-icons.py (needs PySide6;
#                  set PYTHON to a python that has it)
#   --no-refresh   do not run update-desktop-database / gtk-update-icon-cache (for packaging into a staging dir)
#
# Remove again with the same prefix: rm the files this prints.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
app_id=io.acquire.trayapp
share=/usr/local/share
[ "$(id -u)" = 0 ] || share="${XDG_DATA_HOME:-$HOME/.local/share}"
exec_path=
icons=
refresh=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) share=$2/share; shift 2 ;;
    --exec) exec_path=$2; shift 2 ;;
    --icons) icons=$2; shift 2 ;;
    --no-refresh) refresh=0; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-desktop-files: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
if [ -z "$icons" ]; then
  if [ -d "$here/icons/hicolor" ]; then
    icons=$here/icons
  else
    icons=$tmp/icons
    "${PYTHON:-python3}" "$here/render-icons.py" "$icons" >&2
  fi
fi
[ -d "$icons/hicolor" ] || { echo "install-desktop-files: no hicolor/ in $icons" >&2; exit 1; }

desktop=$tmp/$app_id.desktop
if [ -n "$exec_path" ]; then
  case "$exec_path" in
    *[!A-Za-z0-9_./+-]*) echo "install-desktop-files: --exec must be a plain path (no spaces or quotes): $exec_path" >&2; exit 2 ;;
  esac
  sed -e "s|^Exec=trayapp |Exec=$exec_path |" -e "s|^TryExec=trayapp\$|TryExec=$exec_path|" \
    "$here/$app_id.desktop" > "$desktop"
else
  cp "$here/$app_id.desktop" "$desktop"
fi

install -d "$share/applications" "$share/metainfo"
install -m 0644 "$desktop" "$share/applications/$app_id.desktop"
echo "$share/applications/$app_id.desktop"
install -m 0644 "$here/$app_id.metainfo.xml" "$share/metainfo/$app_id.metainfo.xml"
echo "$share/metainfo/$app_id.metainfo.xml"
for dir in "$icons"/hicolor/*/apps; do
  size=$(basename "$(dirname "$dir")")
  for file in "$dir"/"$app_id".*; do
    [ -f "$file" ] || continue
    install -d "$share/icons/hicolor/$size/apps"
    install -m 0644 "$file" "$share/icons/hicolor/$size/apps/$(basename "$file")"
    echo "$share/icons/hicolor/$size/apps/$(basename "$file")"
  done
done

if [ "$refresh" = 1 ]; then
  # mimeinfo.cache makes trayapp the handler of trayapp:// links; the icon cache picks up the new icons.
  if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$share/applications" || true
  fi
  if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$share/icons/hicolor/index.theme" ]; then
    gtk-update-icon-cache -q -t "$share/icons/hicolor" || true
  fi
fi
