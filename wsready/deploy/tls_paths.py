"""Where nginx's certificate pairs lie on a host: one pair per TLS mode, so switching modes
never serves another mode's leftovers (tasks/nginx.py, the ACME operations and the deploy
hook files/acme/deploy-hook.sh, which carries the ACME pair's paths itself)."""

TLS_DIR = "/etc/wsready/tls"
GIVEN = (f"{TLS_DIR}/cert.pem", f"{TLS_DIR}/key.pem")  # nginx_tls_cert_file / _key_file
SELF_SIGNED = (f"{TLS_DIR}/self-signed-cert.pem", f"{TLS_DIR}/self-signed-key.pem")
ACME = (f"{TLS_DIR}/acme-fullchain.pem", f"{TLS_DIR}/acme-key.pem")  # filled by the hook
DHPARAM = f"{TLS_DIR}/ffdhe2048.pem"  # RFC 7919's group for DHE (files/nginx/ffdhe2048.pem)
# OCSP stapling for the ACME certificate, written by the hook when it names a responder; nginx
# includes it through a pattern, so its absence means no stapling.
ACME_CHAIN = f"{TLS_DIR}/acme-chain.pem"
ACME_STAPLING = f"{TLS_DIR}/acme-stapling.conf"
ACME_STAPLING_PATTERN = f"{TLS_DIR}/acme-stapling*.conf"
