"""One app host checked through the sandbox's balancer host: HAProxy sends a request that
carries the host's stickiness cookie to that host when it is registered and healthy there,
else to another (whose nginx names itself in X-Wsready-Host) or nowhere (503)."""

from __future__ import annotations

import time

import requests

from wsready.deploy import haproxy
from wsready.errors import Failed
from wsready.probes.http import HOST_HEADER


class NotBehind(Failed):
    """The host does not answer through the balancer."""


def _get(url: str, cookies: dict[str, str] | None = None) -> requests.Response:
    session = requests.Session()
    session.trust_env = False
    return session.get(f"{url}/api/health", cookies=cookies, timeout=5, allow_redirects=False)


def through_balancer(front_url: str, direct_url: str, server: str, budget_s: float) -> str:
    """The host's name as it answers through the balancer; NotBehind after `budget_s` when
    the balancer does not route to it (not registered, or its health check fails)."""
    own = _get(direct_url).headers.get(HOST_HEADER)
    deadline = time.monotonic() + budget_s
    seen = "nothing"
    while True:
        try:
            answer = _get(front_url, {haproxy.COOKIE: server})
            name = answer.headers.get(HOST_HEADER)
            if answer.status_code == 200 and name and name == own:
                return name
            seen = f"{answer.status_code} from {name or 'the balancer itself'}"
        except requests.RequestException as error:
            seen = f"{type(error).__name__}"
        if time.monotonic() >= deadline:
            raise NotBehind(
                f"{front_url} does not route to this host ({own}) after {budget_s:g} s: {seen}; "
                "not registered or unhealthy behind the balancer (HAProxy `show stat` on the "
                "balancer host)"
            )
        time.sleep(1.0)
