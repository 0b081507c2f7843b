"""Where nginx's certificate pairs lie on a host: one pair per TLS mode, so switching modes
never serves another mode's leftovers (tasks/nginx.py, the ACME operations and the deploy
hook files/acme/deploy-hook.sh, which carries the ACME pair's paths itself)."""

TLS_DIR = "/etc/wsready/tls"
GIVEN = (f"{TLS_DIR}/cert.pem", f"{TLS_DIR}/key.pem")  # nginx_tls_cert_file / _key_file
SELF_SIGNED = (f"{TLS_DIR}/self-signed-cert.pem", f"{TLS_DIR}/self-signed-key.pem")
ACME = (f"{TLS_DIR}/acme-fullchain.pem", f"{TLS_DIR}/acme-key.pem")  # filled by the hook
