"""
Install Node.js: NodeSource's signing key and nodejs major version (Debian, Ubuntu), the
``node`` alternative (Amazon Linux 2023), and official build archives unpacked in place
(see tasks/nodejs.py for how a source is chosen).
"""

from __future__ import annotations

import re
import shlex

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import File, Link


def _deb_major(version: str) -> int | None:
    match = re.match(r"^(?:\d+:)?(\d+)\.", version)
    return int(match.group(1)) if match else None


@operation()
def nodesource_keyring(key_url: str, keyring: str, fingerprint: str, proxy_url: str | None = None):
    """
    Fetch NodeSource's signing key once, check its fingerprint and store it, dearmored, for
    an apt source's ``signed-by``. A key that does not match ``fingerprint`` is never
    installed: the operation fails.

    + key_url: where the ASCII-armored key is published
    + keyring: where the binary keyring goes (0644)
    + fingerprint: the key's full fingerprint (40 hex digits, upper case)
    + proxy_url: an HTTP(S) proxy for the download

    Needs ``curl`` and ``gnupg`` on the host.

    **Example:**

    .. code:: python

        nodejs.nodesource_keyring(
            name="Install the NodeSource signing key.",
            key_url="https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key",
            keyring="/etc/apt/keyrings/nodesource.gpg",
            fingerprint="6F71F525282841EEDAF851B42F59B5F99B1BE0B4",
        )
    """
    if host.get_fact(File, path=keyring):
        host.noop(f"{keyring} already exists")
        return
    proxy = f"--proxy {shlex.quote(proxy_url)} " if proxy_url else ""
    partial = shlex.quote(f"{keyring}.partial")
    refuse = f"echo 'the key at {key_url} is not {fingerprint}' >&2; rm -f {partial}; exit 1"
    yield (
        f"curl -fsSL {proxy}{shlex.quote(key_url)} | gpg --dearmor --yes -o {partial}"
        f" && {{ gpg --show-keys --with-colons {partial} | grep -q '^fpr:*{fingerprint}:'"
        f" || {{ {refuse}; }}; }}"
        f" && chmod 0644 {partial} && mv -f {partial} {shlex.quote(keyring)}"
    )


@operation()
def apt_nodejs_major(major: int):
    """
    Install or upgrade the ``nodejs`` package until its major version is ``major``, then
    check that ``node`` reports it (a missing apt pin would leave the distribution's).

    + major: the Node.js major version (e.g. 22)

    **Example:**

    .. code:: python

        nodejs.apt_nodejs_major(
            name="Install nodejs 22.x from NodeSource.",
            major=22,
        )
    """
    versions = host.get_fact(DebPackages).get("nodejs") or []
    if any(_deb_major(version) == major for version in versions):
        host.noop(f"nodejs {major}.x is installed ({', '.join(sorted(versions))})")
        return
    yield (
        "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends"
        " -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold nodejs"
    )
    yield (
        f'node --version | grep -q "^v{major}\\." '
        f'|| {{ echo "nodejs {major}.x was not installed: check the NodeSource pin" >&2; exit 1; }}'
    )


@operation()
def alternatives_node(major: int):
    """
    Point the ``node`` alternative (node, npm, npx) at ``/usr/bin/node-<major>`` (Amazon
    Linux 2023's ``nodejs<major>`` packages).

    + major: the Node.js major version

    **Example:**

    .. code:: python

        nodejs.alternatives_node(
            name="Make Node.js 22 the default node.",
            major=22,
        )
    """
    target = f"/usr/bin/node-{major}"
    link = host.get_fact(Link, path="/etc/alternatives/node")
    if link and link.get("link_target") == target:
        host.noop(f"node already points at {target}")
        return
    yield f"alternatives --set node {target}"


@operation()
def unpack_node_archive(archive: str, dest: str, needs_npm: bool):
    """
    Unpack a Node.js build archive (its top directory stripped) into ``dest``, unless
    ``dest/bin/node`` exists, then remove the archive.

    + archive: the downloaded archive on the host (checked before, e.g. by files.download)
    + dest: the install directory (``nodejs_binary_dir/<version>``)
    + needs_npm: the archive must hold ``bin/npm`` (an official build; the registry's
      ``node-linux-<arch>`` package holds only ``bin/node``)

    The archive is unpacked into ``<dest>.partial`` and renamed onto ``dest`` only when
    complete.

    **Example:**

    .. code:: python

        nodejs.unpack_node_archive(
            name="Unpack Node.js into /opt/nodejs/22.23.3.",
            archive="/opt/nodejs/.downloads/node-0123456789ab.archive",
            dest="/opt/nodejs/22.23.3",
            needs_npm=True,
        )
    """
    if host.get_fact(File, path=f"{dest}/bin/node"):
        host.noop(f"Node.js is already unpacked in {dest}")
        return
    partial, dest_q = shlex.quote(f"{dest}.partial"), shlex.quote(dest)
    check_npm = (
        f" && {{ test -e {partial}/bin/npm || {{ echo 'the Node.js archive has no bin/npm'"
        " >&2; exit 1; }; }"
        if needs_npm
        else ""
    )
    yield (
        f"rm -rf {partial} && mkdir -p {partial}"
        f" && tar -xf {shlex.quote(archive)} -C {partial} --strip-components=1 --no-same-owner"
        f" && test -x {partial}/bin/node{check_npm} && mv -T {partial} {dest_q}"
        f" && rm -f {shlex.quote(archive)}"
    )


@operation()
def unpack_npm_archive(archive: str, node_dir: str):
    """
    Unpack the npm package into ``node_dir`` as an official build lays it out
    (``lib/node_modules/npm``, ``bin/npm`` and ``bin/npx`` links), unless it is there, then
    remove the archive.

    + archive: npm's package tarball on the host (checked before, e.g. by files.download)
    + node_dir: the Node.js install directory

    **Example:**

    .. code:: python

        nodejs.unpack_npm_archive(
            name="Unpack npm into /opt/nodejs/22.23.3.",
            archive="/opt/nodejs/.downloads/npm-c80bd097147c.tgz",
            node_dir="/opt/nodejs/22.23.3",
        )
    """
    module = f"{node_dir}/lib/node_modules/npm"
    if host.get_fact(File, path=f"{module}/bin/npm-cli.js"):
        host.noop(f"npm is already unpacked in {module}")
        return
    partial, module_q = shlex.quote(f"{module}.partial"), shlex.quote(module)
    bin_dir = shlex.quote(f"{node_dir}/bin")
    yield (
        f"rm -rf {partial} && mkdir -p {partial}"
        f" && tar -xf {shlex.quote(archive)} -C {partial} --strip-components=1 --no-same-owner"
        f" && rm -rf {module_q} && mv -T {partial} {module_q}"
        f" && ln -sfn ../lib/node_modules/npm/bin/npm-cli.js {bin_dir}/npm"
        f" && ln -sfn ../lib/node_modules/npm/bin/npx-cli.js {bin_dir}/npx"
        f" && rm -f {shlex.quote(archive)}"
    )
