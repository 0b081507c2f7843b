# Sourced by scripts/setup, scripts/quickstart and scripts/test: where wsready's virtual
# environment lives and which Python makes it. Debian's own python3 by default, whatever
# python3 comes first on PATH (pyenv, conda, ...); WSREADY_PYTHON / WSREADY_VENV override.
WSREADY_PYTHON="${WSREADY_PYTHON:-/usr/bin/python3}"
WSREADY_VENV="${WSREADY_VENV:-$PWD/.venv}"
# The e2e tests' TLS scanner (sslyze) lives apart: it pins another cryptography than wsready.
WSREADY_SCAN_VENV="${WSREADY_SCAN_VENV:-$PWD/.venv-sslyze}"
export WSREADY_SCAN_VENV
# Commands run by these scripts (pyinfra, wsready, pytest) come from the environment, as
# after `. .venv/bin/activate`.
export VIRTUAL_ENV="$WSREADY_VENV"
export PATH="$WSREADY_VENV/bin:$PATH"
