#!/bin/sh
# Managed by wsready (tasks/acme.py): certbot's deploy hook for the `wsready` lineage.
# certbot runs it after every certificate it obtains or renews (RENEWED_LINEAGE is the
# lineage's live directory): the new pair is put where nginx reads it, nginx -t must accept
# it, and nginx reloads (open connections stay on the old workers until they close).
# If nginx refuses the new pair, the previous pair is put back and the hook fails.
set -eu
lineage="${RENEWED_LINEAGE:-/etc/letsencrypt/live/wsready}"
cert=/etc/wsready/tls/acme-fullchain.pem
key=/etc/wsready/tls/acme-key.pem
umask 077
mkdir -p /etc/wsready/tls
for file in "$cert" "$key"; do
    if [ -e "$file" ]; then cp -p "$file" "$file.previous"; fi
done
install -m 0600 -o root -g root "$lineage/fullchain.pem" "$cert.new"
install -m 0600 -o root -g root "$lineage/privkey.pem" "$key.new"
mv -f "$cert.new" "$cert"
mv -f "$key.new" "$key"
if ! nginx -t -q; then
    echo "wsready-acme-deploy-hook: nginx refuses the new pair from $lineage; the previous pair stays" >&2
    for file in "$cert" "$key"; do
        if [ -e "$file.previous" ]; then mv -f "$file.previous" "$file"; fi
    done
    exit 1
fi
rm -f "$cert.previous" "$key.previous"
if command -v systemctl >/dev/null && systemctl is-active --quiet nginx; then
    systemctl reload nginx
else
    nginx -s reload
fi
echo "wsready-acme-deploy-hook: nginx serves the certificate from $lineage"
