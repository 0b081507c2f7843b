"""The outbound proxy's settings as apt, dnf, npm and curl take them (moved from tasks/proxy.py
and tasks/nodejs.py): `proxy_url` checked to be http(s)://HOST[:PORT] and nothing else
wherever it is written into a file or handed to a command.
"""

from __future__ import annotations

import re
import shlex

from pyinfra.api.exceptions import DeployError

from wsready import validate

APT_PROXY_CONF = "/etc/apt/apt.conf.d/90wsready-proxy"
NPMRC = "/etc/wsready/npmrc"
DNF_CONF = "/etc/dnf/dnf.conf"
DNF_PROXY_RECORD = "/etc/wsready/dnf-proxy"  # the proxy= value wsready wrote into DNF_CONF


def sed_literal(text: str) -> str:
    """`text` as a sed basic regular expression matching exactly itself."""
    return re.sub(r"([.\[\]*^$\\])", r"\\\1", text)


def config_proxy_url(proxy_url: str) -> str:
    """`proxy_url` as it may be written into apt.conf, npmrc, dnf.conf or handed to a command
    option: http(s)://HOST[:PORT] and nothing else, so it holds no newline, quote, ';', brace,
    space or shell character (ConfigError otherwise, whatever the preflight let through)."""
    return validate.url("proxy_url", proxy_url, path=False, query=False)


def apt_proxy_conf(proxy_url: str) -> str:
    proxy_url = config_proxy_url(proxy_url)
    return (
        "// Written by wsready (tasks/proxy.py): package downloads go through proxy_url.\n"
        f'Acquire::http::Proxy "{proxy_url}";\n'
        f'Acquire::https::Proxy "{proxy_url}";\n'
    )


def npmrc(proxy_url: str) -> str:
    proxy_url = config_proxy_url(proxy_url)
    return (
        "# Written by wsready (tasks/proxy.py): npm registry traffic goes through proxy_url.\n"
        f"proxy={proxy_url}\n"
        f"https-proxy={proxy_url}\n"
        "noproxy=localhost,127.0.0.1,::1\n"
    )


def download_proxy(proxy_url: str | None) -> str | None:
    """The proxy for pyinfra's files.download, which puts it on curl's/wget's command line
    unquoted: only an http(s)://HOST[:PORT] that needs no quoting is handed over."""
    if proxy_url is None:
        return None
    proxy_url = config_proxy_url(proxy_url)
    if shlex.quote(proxy_url) != proxy_url:
        raise DeployError(f"proxy_url = {proxy_url!r}: would need shell quoting")
    return proxy_url
