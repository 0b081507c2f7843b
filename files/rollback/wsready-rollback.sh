#!/bin/sh
# Usage: wsready-rollback TRANSACTIONS APP_NAME
#
# Installed by wsready (tasks/transaction.py). Puts back what the pending deploy
# transactions under TRANSACTIONS changed, newest first, so the host ends as it was before
# the oldest of them: every recorded file (or its absence) restored, then, per concern that
# changed, the app's units that were active restarted (others stopped and disabled), nginx
# tested and reloaded (restarted when its systemd drop-in was put back), the firewall
# reloaded. Removes the transactions when done. Prints
# what it did; exits non-zero when a step failed (the rest is still attempted).
#
# WSREADY_ROLLBACK_ROOT (default empty) is put before every path restored or removed (and
# the firewall files read): tests run the script against a directory tree, not /.
set -u
root=$1
app=$2
prefix=${WSREADY_ROLLBACK_ROOT:-}
status=0

if [ ! -d "$root" ] || [ -z "$(ls -A "$root" 2>/dev/null)" ]; then
    echo "wsready-rollback: no pending transaction: nothing to put back"
    exit 0
fi

actions=""
units=""
have_units=no
# Run ids sort by time (tasks/transaction.py RUN_ID) and hold no whitespace.
for dir in $(find "$root" -mindepth 1 -maxdepth 1 -type d | sort -r); do
    run=${dir##*/}
    restored=0
    if [ -d "$dir/files" ]; then
        for rel in $(cd "$dir/files" && find . \( -type f -o -type l \) -print | sed 's#^\./##'); do
            path="$prefix/$rel"
            mkdir -p "$(dirname "$path")"
            if cp -a "$dir/files/$rel" "$path.wsready-rollback" && mv -fT "$path.wsready-rollback" "$path"; then
                restored=$((restored + 1))
            else
                echo "wsready-rollback: could not restore $path" >&2
                status=1
            fi
        done
    fi
    if [ -d "$dir/absent" ]; then
        for rel in $(cd "$dir/absent" && find . -type f -print | sed 's#^\./##'); do
            rm -f "$prefix/$rel" && restored=$((restored + 1))
        done
    fi
    # Directories whose mode or owner the run set (`MODE UID GID PATH`, newest last): put
    # back; one the run created is removed again when empty.
    if [ -e "$dir/dirs" ]; then
        # shellcheck disable=SC2162
        while read mode uid gid rel; do
            path="$prefix$rel"
            if [ "$mode" = absent ]; then
                rmdir "$path" 2>/dev/null || true
            elif chown "$uid:$gid" "$path" && chmod "$mode" "$path"; then
                restored=$((restored + 1))
            else
                echo "wsready-rollback: could not put back the mode and owner of $path" >&2
                status=1
            fi
        done <<EOF_DIRS
$(tac "$dir/dirs")
EOF_DIRS
    fi
    echo "wsready-rollback: transaction $run: $restored file(s) put back"
    if [ -e "$dir/actions" ]; then
        actions="$actions $(tr '\n' ' ' < "$dir/actions")"
    fi
    if [ -e "$dir/units" ]; then
        units=$(cat "$dir/units")
        have_units=yes
    fi
done

case "$actions" in *app*)
    systemctl daemon-reload || status=1
    if [ "$have_units" = yes ]; then
        active=$(systemctl list-units --plain --no-legend --state=active "$app@*.service" "$app.service" | awk '{print $1}')
        for unit in $active; do
            if ! printf '%s\n' "$units" | grep -qxF "$unit"; then
                systemctl disable --now "$unit" >/dev/null 2>&1 || systemctl stop "$unit" || status=1
                echo "wsready-rollback: stopped $unit (not running before)"
            fi
        done
        if [ -n "$units" ]; then
            for unit in $units; do
                systemctl enable "$unit" >/dev/null 2>&1 || true
            done
            # shellcheck disable=SC2086
            systemctl restart $units || status=1
            # shellcheck disable=SC2086
            echo "wsready-rollback: restarted" $units
        fi
    fi
    ;;
esac

case "$actions" in *nginx*)
    if output=$(nginx -t 2>&1); then
        case "$actions" in
            *nginx-unit*)
                # nginx's drop-in was put back: a new nginx process is what applies it.
                { systemctl daemon-reload && systemctl restart nginx; } || status=1
                echo "wsready-rollback: nginx restarted with the restored drop-in and config"
                ;;
            *)
                systemctl reload-or-restart nginx || status=1
                echo "wsready-rollback: nginx reloaded with the restored config"
                ;;
        esac
    else
        printf '%s\n' "$output" >&2
        echo "wsready-rollback: nginx -t refused the restored config; nginx not reloaded" >&2
        status=1
    fi
    ;;
esac

case "$actions" in *firewall*)
    if command -v ufw >/dev/null 2>&1; then
        # `ufw reload` skips a firewall its restored ufw.conf calls disabled: the rules the
        # run enabled would stay in the kernel.
        if grep -qx 'ENABLED=no' "$prefix/etc/ufw/ufw.conf" 2>/dev/null; then
            ufw disable >/dev/null || status=1
            echo "wsready-rollback: ufw disabled again (it was before)"
        else
            ufw reload >/dev/null || status=1
            echo "wsready-rollback: ufw reloaded with the restored rules"
        fi
    elif [ -e "$prefix/etc/wsready/firewall.nft" ]; then
        nft -f "$prefix/etc/wsready/firewall.nft" || status=1
        echo "wsready-rollback: nftables table reloaded"
    elif command -v nft >/dev/null 2>&1; then
        # The table did not exist before this run: take it out of the kernel too.
        nft delete table inet wsready 2>/dev/null || true
        echo "wsready-rollback: nftables table removed (there was none before)"
    fi
    ;;
esac

rm -rf "$root"
exit $status
