"""Outbound HTTP(S) proxy for hosts without direct internet access (EC2 private subnets).

With `proxy_url`: apt uses it (an apt.conf.d file), dnf too (dnf.conf `proxy=`), npm uses
it (NPMRC, passed to every npm call as `--globalconfig`, so a user's own ~/.npmrc still
applies on top) and the app gets HTTP_PROXY/HTTPS_PROXY/NO_PROXY in its environment file
(tasks/app.py). Without it the apt and npm files are removed, and the dnf.conf `proxy=` line
only when it is the one wsready wrote (recorded in DNF_PROXY_RECORD): a proxy line someone
else put there stays. Re-runs change nothing.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import FileContents
from pyinfra.operations import files

from wsready.deploy.plan import host_plan
from wsready.deploy.proxy_conf import (
    APT_PROXY_CONF,
    DNF_CONF,
    DNF_PROXY_RECORD,
    NPMRC,
    apt_proxy_conf,
    config_proxy_url,
    npmrc,
    sed_literal,
)
from wsready.deploy.shapes import put_text, root_directory


@deploy("Configure the outbound proxy")
def configure_proxy() -> None:
    plan = host_plan()
    proxy_url, family = plan.data.proxy_url, plan.family
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
