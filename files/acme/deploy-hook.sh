#!/bin/sh
# Managed by wsready (tasks/acme.py): certbot's deploy hook for the `wsready` lineage.
# certbot runs it after every certificate it obtains or renews (RENEWED_LINEAGE is the
# lineage's live directory): the new pair is put where nginx reads it, nginx -t must accept
# it, and nginx reloads (open connections stay on the old workers until they close).
# If nginx refuses the new pair, the previous pair is put back and the hook fails.
# OCSP stapling follows the certificate: when it names an OCSP responder, the hook writes
# $stapling (included by the site) with its chain; otherwise it removes it, so nginx does not
# warn that it has no responder to ask.
set -eu
lineage="${RENEWED_LINEAGE:-/etc/letsencrypt/live/wsready}"
cert=/etc/wsready/tls/acme-fullchain.pem
key=/etc/wsready/tls/acme-key.pem
chain=/etc/wsready/tls/acme-chain.pem
stapling=/etc/wsready/tls/acme-stapling.conf
umask 077
mkdir -p /etc/wsready/tls
for file in "$cert" "$key" "$chain" "$stapling"; do
    rm -f "$file.previous"
    if [ -e "$file" ]; then cp -p "$file" "$file.previous"; fi
done
install -m 0600 -o root -g root "$lineage/fullchain.pem" "$cert.new"
install -m 0600 -o root -g root "$lineage/privkey.pem" "$key.new"
mv -f "$cert.new" "$cert"
mv -f "$key.new" "$key"
if [ -n "$(openssl x509 -in "$cert" -noout -ocsp_uri 2>/dev/null)" ] && [ -s "$lineage/chain.pem" ]; then
    install -m 0600 -o root -g root "$lineage/chain.pem" "$chain"
    printf '%s\n' "# Managed by wsready-acme-deploy-hook: the certificate names an OCSP responder." \
        "ssl_stapling on;" "ssl_stapling_verify on;" "ssl_trusted_certificate $chain;" \
        >"$stapling.new"
    mv -f "$stapling.new" "$stapling"
else
    rm -f "$stapling" "$chain"
fi
if ! nginx -t -q; then
    echo "wsready-acme-deploy-hook: nginx refuses the new pair from $lineage; the previous pair stays" >&2
    for file in "$cert" "$key" "$chain" "$stapling"; do
        if [ -e "$file.previous" ]; then mv -f "$file.previous" "$file"; else rm -f "$file"; fi
    done
    exit 1
fi
rm -f "$cert.previous" "$key.previous" "$chain.previous" "$stapling.previous"
if command -v systemctl >/dev/null && systemctl is-active --quiet nginx; then
    systemctl reload nginx
else
    nginx -s reload
fi
echo "wsready-acme-deploy-hook: nginx serves the certificate from $lineage"
