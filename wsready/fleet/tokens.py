"""Mint the HS256 JWT the app accepts, from the same inventory data the deploy uses.

The secret comes from `app_jwt_secret` (the audience and issuer from `app_jwt_audience` and
`app_jwt_issuer`) of a host's HostConfig, its data as pyinfra resolves it from the inventory
file and the `group_data/` next to it. The token
is the only thing `wsready token` prints; nothing here logs the secret or the token.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from wsready import inventory, validate
from wsready.hostdata import HostConfig
from wsready.validate import ConfigError

DEFAULT_SUBJECT = "wsready"
DEFAULT_TTL_S = 3600
MAX_TTL_S = 30 * 86400  # a probe token that never expires is a password: 30 days at most
ALGORITHM = "HS256"
PROBE_TOKEN_TTL_S = 300  # rollout's own probes and the verify step of one batch


@dataclass(frozen=True)
class JwtSettings:
    """What a host's app checks tokens against. `repr` never shows the secret."""

    host: str
    auth: str
    secret: str | None = field(repr=False)
    audience: str | None
    issuer: str | None = None


def load_hosts(path: str | os.PathLike[str], host: str | None = None) -> dict[str, HostConfig]:
    """The HostConfig of each host of pyinfra inventory file `path` (as pyinfra loads its
    data), or of host `host` only."""
    found = inventory.host_data(path)
    if host is not None:
        if host not in found:
            raise ConfigError("--host", host, f"not in the inventory (hosts: {', '.join(found)})")
        found = {host: found[host]}
    return {name: HostConfig.from_data(name, data) for name, data in found.items()}


def jwt_settings(config: HostConfig) -> JwtSettings:
    """What one host's app checks tokens against."""
    return JwtSettings(
        host=config.name,
        auth=config.app_auth,
        secret=config.app_jwt_secret,
        audience=config.app_jwt_audience,
        issuer=config.app_jwt_issuer,
    )


def fleet_settings(hosts: Mapping[str, HostConfig], host: str | None = None) -> JwtSettings:
    """The settings to mint for: the named host, or the one secret every host shares."""
    if host is not None:
        if host not in hosts:
            raise ConfigError("--host", host, f"not in the inventory (hosts: {', '.join(hosts)})")
        chosen = [jwt_settings(hosts[host])]
    else:
        chosen = [jwt_settings(config) for config in hosts.values()]
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
        # Host data never holds a short key (the data contract refuses secrets under 32
        # characters, RFC 7518 §3.2); a direct caller's is its own business, not PyJWT's.
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        body = claims(ttl_s, subject, audience, now, issuer)
        return jwt.encode(body, secret, algorithm=ALGORITHM)


def _mint_probe_token(settings: JwtSettings) -> str:
    return mint(
        settings.secret, PROBE_TOKEN_TTL_S, audience=settings.audience, issuer=settings.issuer
    )


def probe_token(config: HostConfig, fallback: str | None) -> str | None:
    """A fresh token from the host's own secret when it checks JWTs, else `fallback`."""
    settings = jwt_settings(config)
    if settings.auth == "jwt" and settings.secret:
        return _mint_probe_token(settings)
    return fallback


def verify_step_tokens(
    hosts: Mapping[str, HostConfig], batch: list[str], environ: Mapping[str, str]
) -> dict[str, str]:
    """Tokens for the deploy's own verify step: for each `verify_token_env` variable the
    batch's jwt hosts name and `environ` lacks, one token minted from their shared secret.
    ConfigError when hosts sharing a variable have different secrets."""
    by_variable: dict[str, dict[str, HostConfig]] = {}
    for name in batch:
        variable = hosts[name].verify_token_env
        if variable and not environ.get(variable) and hosts[name].app_auth == "jwt":
            by_variable.setdefault(variable, {})[name] = hosts[name]
    return {
        variable: _mint_probe_token(fleet_settings(members))
        for variable, members in by_variable.items()
    }


def probe_token_source(data: HostConfig) -> Callable[[], str | None] | None:
    """The token a deploy's probes use: verify_token_env's, else one minted from
    app_jwt_secret each time the probes run (PROBE_TOKEN_TTL_S), else None (no token to
    prove the auth matrix with)."""
    token_env = data.verify_token_env
    if token_env:
        return lambda: os.environ.get(token_env)
    if data.app_auth == "jwt" and data.app_jwt_secret:
        secret, audience = data.app_jwt_secret, data.app_jwt_audience
        issuer = data.app_jwt_issuer
        return lambda: mint(secret, PROBE_TOKEN_TTL_S, audience=audience, issuer=issuer)
    return None
