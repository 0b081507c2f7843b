#!/bin/sh
# Usage: wsready-nginx-activate test CANDIDATE LIVE [CANDIDATE LIVE ...]
#        wsready-nginx-activate activate STAMP CANDIDATE LIVE [CANDIDATE LIVE ...]
#
# Installed by wsready (tasks/nginx.py). `test` runs `nginx -t` on a copy of /etc/nginx in
# which every CANDIDATE already replaces its LIVE file, and changes nothing. `activate` does
# the same test, then moves each candidate into place (atomic renames) and reloads nginx
# once. When nginx refuses them, the LIVE files and the running nginx are untouched and
# nginx's own message is printed, with the paths it would have in /etc/nginx. STAMP
# receives the sha256 of each LIVE file (one line each) only once nginx has loaded them, so
# a run interrupted before the reload is completed by the next one.
set -eu

mode=$1
shift
stamp=
if [ "$mode" = activate ]; then
    stamp=$1
    shift
fi
conf_root=/etc/nginx

work=$(mktemp -d /tmp/wsready-nginx-test.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

cp -a "$conf_root/." "$work/"
pairs="$*"
while [ $# -ge 2 ]; do
    mkdir -p "$(dirname "$work/${2#"$conf_root"/}")"
    cp "$1" "$work/${2#"$conf_root"/}"
    shift 2
done
grep -rlI -- "$conf_root/" "$work" | while IFS= read -r file; do
    sed -i "s#$conf_root/#$work/#g" "$file"
done

if ! output=$(nginx -t -c "$work/nginx.conf" 2>&1); then
    printf '%s\n' "$output" | sed "s#$work/#$conf_root/#g" >&2
    echo "wsready: nginx -t refused the new config; the previous config stays active" >&2
    exit 1
fi
if [ "$mode" = test ]; then
    echo "wsready: nginx -t accepts the candidate config"
    exit 0
fi

# shellcheck disable=SC2086
set -- $pairs
while [ $# -ge 2 ]; do
    if [ -e "$2" ]; then cp -p "$2" "$2.wsready-previous"; fi
    cp "$1" "$2.wsready-new"
    mv -f "$2.wsready-new" "$2"
    shift 2
done

# The live tree exactly as nginx will load it; put the previous files back if it fails.
if ! output=$(nginx -t 2>&1); then
    # shellcheck disable=SC2086
    set -- $pairs
    while [ $# -ge 2 ]; do
        if [ -e "$2.wsready-previous" ]; then mv -f "$2.wsready-previous" "$2"; else rm -f "$2"; fi
        shift 2
    done
    printf '%s\n' "$output" >&2
    echo "wsready: nginx -t refused the live tree; the previous config was put back" >&2
    exit 1
fi
# shellcheck disable=SC2086
set -- $pairs
sums=""
while [ $# -ge 2 ]; do
    rm -f "$2.wsready-previous"
    sums="$sums$(sha256sum < "$2" | cut -d' ' -f1)
"
    shift 2
done
systemctl reload-or-restart nginx
printf '%s' "$sums" > "$stamp.new"
mv -f "$stamp.new" "$stamp"
echo "wsready: nginx accepted and loaded the new config"
