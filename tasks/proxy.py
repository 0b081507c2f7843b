"""Outbound HTTP(S) proxy for hosts without direct internet access (EC2 private subnets).

With `proxy_url`: apt uses it (an apt.conf.d file), dnf too (dnf.conf `proxy=`), npm uses
it (NPMRC, passed to every npm call as `--globalconfig`, so a user's own ~/.npmrc still
applies on top) and the app gets HTTP_PROXY/HTTPS_PROXY/NO_PROXY in its environment file
(tasks/app.py). Without it the apt and npm files are removed, and the dnf.conf `proxy=` line
only when it is the one wsready wrote (recorded in DNF_PROXY_RECORD): a proxy line someone
else put there stays. Re-runs change nothing.
"""

from __future__ import annotations

import re

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import FileContents
from pyinfra.operations import files

from wsready import validate
from wsready.deploy import hostfacts
from wsready.deploy.shapes import put_text, root_directory
from wsready.hostdata import host_config

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


@deploy("Configure the outbound proxy")
def configure_proxy() -> None:
    proxy_url = host_config(host).proxy_url
    family = hostfacts.family()
    if proxy_url:
        if family.apt:
            put_text(
                "Send apt downloads through the proxy.", apt_proxy_conf(proxy_url), APT_PROXY_CONF
            )
        root_directory("Create the settings directory /etc/wsready.", "/etc/wsready")
        if family.package_manager == "dnf":
            files.line(
                name="Send dnf downloads through the proxy.",
                path=DNF_CONF,
                line="^proxy=.*$",
                replace=f"proxy={config_proxy_url(proxy_url)}",
            )
            put_text("Record the dnf proxy line wsready wrote.", proxy_url + "\n", DNF_PROXY_RECORD)
        put_text(
            "Send npm registry traffic through the proxy.", npmrc(proxy_url), NPMRC, mode="0600"
        )
    else:
        files.file(
            name="Remove the apt proxy setting (no proxy_url).",
            path=APT_PROXY_CONF,
            present=False,
        )
        files.file(
            name="Remove the npm proxy setting (no proxy_url).",
            path=NPMRC,
            present=False,
        )
        if family.package_manager == "dnf":
            _remove_dnf_proxy_line()


def _remove_dnf_proxy_line() -> None:
    """Take out the dnf.conf proxy line wsready wrote, and only that one."""
    recorded = host.get_fact(FileContents, path=DNF_PROXY_RECORD)
    if not recorded:
        host.noop("no dnf proxy line of wsready's to remove")
        return
    files.line(
        name="Remove the dnf proxy line wsready wrote (no proxy_url).",
        path=DNF_CONF,
        line=f"^proxy={sed_literal(recorded[0].strip())}$",
        present=False,
    )
    files.file(name="Forget the recorded dnf proxy line.", path=DNF_PROXY_RECORD, present=False)
