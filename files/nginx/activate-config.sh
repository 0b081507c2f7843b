#!/bin/sh
# Usage: wsready-nginx-activate CANDIDATE LIVE STAMP
#
# Installed by wsready (tasks/nginx.py). Tests CANDIDATE with `nginx -t` inside a copy of
# /etc/nginx in which it already replaces LIVE; only when nginx accepts it is it moved into
# place (atomic rename) and nginx reloaded. When nginx refuses it, LIVE and the running nginx
# are untouched and nginx's own message is printed, with the paths it would have in
# /etc/nginx. STAMP receives the sha256 of LIVE only once nginx has loaded it, so a run
# interrupted before the reload is completed by the next one.
set -eu

candidate=$1
live=$2
stamp=$3
conf_root=/etc/nginx

work=$(mktemp -d /tmp/wsready-nginx-test.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

cp -a "$conf_root/." "$work/"
mkdir -p "$(dirname "$work/${live#"$conf_root"/}")"
cp "$candidate" "$work/${live#"$conf_root"/}"
grep -rlI -- "$conf_root/" "$work" | while IFS= read -r file; do
    sed -i "s#$conf_root/#$work/#g" "$file"
done

if ! output=$(nginx -t -c "$work/nginx.conf" 2>&1); then
    printf '%s\n' "$output" | sed "s#$work/#$conf_root/#g" >&2
    echo "wsready: nginx -t refused the new config; the previous config stays active" >&2
    exit 1
fi

if [ -e "$live" ]; then
    cp -p "$live" "$live.wsready-previous"
fi
cp "$candidate" "$live.wsready-new"
mv -f "$live.wsready-new" "$live"

# The live tree exactly as nginx will load it; put the previous file back if it fails.
if ! output=$(nginx -t 2>&1); then
    if [ -e "$live.wsready-previous" ]; then
        mv -f "$live.wsready-previous" "$live"
    else
        rm -f "$live"
    fi
    printf '%s\n' "$output" >&2
    echo "wsready: nginx -t refused the live tree; the previous config was put back" >&2
    exit 1
fi
rm -f "$live.wsready-previous"
systemctl reload-or-restart nginx
sha256sum < "$live" | cut -d' ' -f1 > "$stamp.new"
mv -f "$stamp.new" "$stamp"
echo "wsready: nginx accepted and loaded $live"
