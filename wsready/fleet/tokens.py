"""Mint the HS256 JWT the app accepts, from the same inventory data the deploy uses.

The secret comes from `app_jwt_secret` (and the audience from `app_jwt_audience`) as pyinfra
resolves them for a host from the inventory file and the `group_data/` next to it. The token
is the only thing `wsready token` prints; nothing here logs the secret or the token.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from wsready import inventory, validate
from wsready.validate import ConfigError

DEFAULT_SUBJECT = "wsready"
DEFAULT_TTL_S = 3600
MAX_TTL_S = 30 * 86400  # a probe token that never expires is a password: 30 days at most
ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key is at least 256 bits
PROBE_TOKEN_TTL_S = 300  # rollout's own probes and the verify step of one batch


@dataclass(frozen=True)
class JwtSettings:
    """What a host's app checks tokens against. `repr` never shows the secret."""

    host: str
    auth: str
    secret: str | None = field(repr=False)
    audience: str | None
    issuer: str | None = None


def load_host_data(path: str | os.PathLike[str]) -> dict[str, dict]:
    """Each host's data from pyinfra inventory file `path`, as pyinfra loads it."""
    return inventory.host_data(path)


def jwt_settings(host: str, data: dict[str, Any]) -> JwtSettings:
    """Check one host's token keys; errors name the key and never echo the secret."""
    auth = validate.choice("app_auth", data.get("app_auth", "off"), ("off", "jwt", "static"))
    secret = data.get("app_jwt_secret")
    if secret is not None and (not isinstance(secret, str) or not secret):
        raise ConfigError("app_jwt_secret", "<hidden>", f"on {host} must be a non-empty string")
    audience = data.get("app_jwt_audience")
    if audience is not None and (not isinstance(audience, str) or not audience):
        raise ConfigError("app_jwt_audience", audience, f"on {host} must be a non-empty string")
    issuer = data.get("app_jwt_issuer")
    if issuer is not None and (not isinstance(issuer, str) or not issuer):
        raise ConfigError("app_jwt_issuer", issuer, f"on {host} must be a non-empty string")
    return JwtSettings(host=host, auth=auth, secret=secret, audience=audience, issuer=issuer)


def fleet_settings(hosts: dict[str, dict], host: str | None = None) -> JwtSettings:
    """The settings to mint for: the named host, or the one secret every host shares."""
    if host is not None:
        if host not in hosts:
            raise ConfigError("--host", host, f"not in the inventory (hosts: {', '.join(hosts)})")
        chosen = [jwt_settings(host, hosts[host])]
    else:
        chosen = [jwt_settings(name, data) for name, data in hosts.items()]
        chosen = [settings for settings in chosen if settings.secret is not None] or chosen
    first = chosen[0]
    if first.auth == "static":
        raise ConfigError("app_auth", "static", f"on {first.host}: static tokens are not minted")
    if first.secret is None:
        raise ConfigError("app_jwt_secret", None, f"is not set for {first.host}")
    same = (first.secret, first.audience, first.issuer)
    differing = [s.host for s in chosen if (s.secret, s.audience, s.issuer) != same]
    if differing:
        raise ConfigError(
            "app_jwt_secret",
            "<hidden>",
            f"differs between {first.host} and {', '.join(differing)}: pick one with --host",
        )
    return first


def claims(
    ttl_s: float,
    subject: str = DEFAULT_SUBJECT,
    audience: str | None = None,
    now: float | None = None,
    issuer: str | None = None,
) -> dict[str, Any]:
    """Registered claims: sub, iat, nbf (= iat), exp (= iat + ttl), aud and iss when given."""
    issued = int(time.time() if now is None else now)
    body: dict[str, Any] = {
        "sub": subject,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(ttl_s),
    }
    if audience is not None:
        body["aud"] = audience
    if issuer is not None:
        body["iss"] = issuer
    return body


def check_ttl(ttl_s: float) -> float:
    """A finite lifetime from 1 s to MAX_TTL_S (nan, inf, 0 and negatives are refused)."""
    return validate.number("--ttl", ttl_s, 1, MAX_TTL_S)


def mint(
    secret: str,
    ttl_s: float = DEFAULT_TTL_S,
    subject: str = DEFAULT_SUBJECT,
    audience: str | None = None,
    now: float | None = None,
    issuer: str | None = None,
) -> str:
    """An HS256 JWT signed with `secret`, valid from `now` for `ttl_s` seconds."""
    check_ttl(ttl_s)
    if not isinstance(secret, str) or not secret:
        raise ConfigError("app_jwt_secret", "<hidden>", "must be a non-empty string")
    with warnings.catch_warnings():
        # A short key is reported once, by the caller (see secret_is_short), not by PyJWT.
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        body = claims(ttl_s, subject, audience, now, issuer)
        return jwt.encode(body, secret, algorithm=ALGORITHM)


def secret_is_short(secret: str) -> bool:
    return len(secret.encode()) < MIN_SECRET_BYTES


def probe_token(name: str, data: dict[str, Any], fallback: str | None) -> str | None:
    """A fresh token from the host's own secret when it checks JWTs, else `fallback`."""
    settings = jwt_settings(name, data)
    if settings.auth == "jwt" and settings.secret:
        return mint(settings.secret, PROBE_TOKEN_TTL_S, audience=settings.audience)
    return fallback


def verify_step_tokens(
    hosts: dict[str, dict[str, Any]], batch: list[str], environ: Mapping[str, str]
) -> dict[str, str]:
    """Tokens for the deploy's own verify step: for each `verify_token_env` variable the
    batch's jwt hosts name and `environ` lacks, one token minted from their shared secret.
    ConfigError when hosts sharing a variable have different secrets."""
    by_variable: dict[str, dict[str, dict[str, Any]]] = {}
    for name in batch:
        variable = hosts[name].get("verify_token_env")
        wanted = variable and not environ.get(variable)
        if wanted and jwt_settings(name, hosts[name]).auth == "jwt":
            by_variable.setdefault(variable, {})[name] = hosts[name]
    minted = {}
    for variable, members in by_variable.items():
        settings = fleet_settings(members)
        minted[variable] = mint(settings.secret, PROBE_TOKEN_TTL_S, audience=settings.audience)
    return minted
