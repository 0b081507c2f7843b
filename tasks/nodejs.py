"""Node.js on the host, chosen by the OS the facts report.

Debian / Ubuntu, by `nodejs_source`:
- "nodesource": NodeSource's apt repository for `nodejs_major` (key in /etc/apt/keyrings,
  checked against its fingerprint, a `signed-by` source, an apt pin so that repository
  wins over the distribution's nodejs);
- "distro": the distribution's own nodejs and npm;
- "binary": an official build archive from `nodejs_binary_url` (sha256-checked), unpacked
  into `nodejs_binary_dir/<version>` and linked into /usr/local/bin. The npm registry's
  `node-linux-<arch>` package holds only bin/node: npm (NPM_VERSION, sha256 pinned below)
  then comes from the same registry, laid out as in an official build.
Amazon Linux 2023 (the dnf family): `dnf install nodejs<major>` and `alternatives` to make
it `node`. Any other OS is refused by the preflight (wsready/deploy/families.py).
"""

from __future__ import annotations

import re
from io import StringIO
from urllib.parse import urlsplit

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import apt, dnf, files
from pyinfra.operations.util import any_changed

from wsready.deploy import batched_facts
from wsready.deploy.operations import nodejs
from wsready.deploy.plan import host_plan
from wsready.deploy.proxy_conf import download_proxy
from wsready.hostdata import HostConfig

NODESOURCE_KEY_URL = "https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key"
# Fingerprint of NodeSource's repository signing key: a fetched key that does not match it
# is never installed.
NODESOURCE_KEY_FINGERPRINT = "6F71F525282841EEDAF851B42F59B5F99B1BE0B4"
NODESOURCE_KEYRING = "/etc/apt/keyrings/nodesource.gpg"
NODESOURCE_LIST = "/etc/apt/sources.list.d/nodesource.list"
NODESOURCE_PIN = "/etc/apt/preferences.d/nodesource"
BIN_DIR = "/usr/local/bin"
# npm for node-only archives. To update: `npm view npm@10 version`, then the sha256sum of
# the tarball `npm view npm@VERSION dist.tarball` (check it against `dist.integrity`).
NPM_VERSION = "10.9.9"
NPM_SHA256 = "c80bd097147cce32e31010b791bab8c71a26a5e10668210ec9d2e7f4c7cea2a1"
_REGISTRY_NODE_PACKAGE = re.compile(r"^(?P<registry>.+)/node-linux-[a-z0-9]+/-/[^/]+\.tgz$")


def binary_version(url: str, sha256: str) -> str:
    """The x.y.z in the archive URL (the install directory's name), else a sha256 prefix."""
    match = re.search(r"(\d+\.\d+\.\d+)", urlsplit(url).path.rsplit("/", 1)[-1])
    return match.group(1) if match else sha256[:12]


def registry_npm_url(node_url: str) -> str | None:
    """npm's tarball on the registry serving a `node-linux-<arch>` package, else None."""
    match = _REGISTRY_NODE_PACKAGE.match(node_url)
    if not match:
        return None
    return f"{match.group('registry')}/npm/-/npm-{NPM_VERSION}.tgz"


def _install_nodesource(major: int, proxy_url: str | None) -> None:
    apt.packages(
        name="Install what the NodeSource key needs (curl, gnupg, ca-certificates).",
        packages=["ca-certificates", "curl", "gnupg"],
        no_recommends=True,
        update=True,
        cache_time=3600,
    )
    files.directory(
        name="Create the apt keyring directory.", path="/etc/apt/keyrings", mode="0755", user="root"
    )
    key = nodejs.nodesource_keyring(
        name="Install the NodeSource signing key.",
        key_url=NODESOURCE_KEY_URL,
        keyring=NODESOURCE_KEYRING,
        fingerprint=NODESOURCE_KEY_FINGERPRINT,
        proxy_url=proxy_url,
    )
    source = files.put(
        name=f"Add the NodeSource apt repository for Node.js {major}.x.",
        src=StringIO(
            f"deb [signed-by={NODESOURCE_KEYRING}] "
            f"https://deb.nodesource.com/node_{major}.x nodistro main\n"
        ),
        dest=NODESOURCE_LIST,
        mode="0644",
    )
    pin = files.put(
        name="Pin nodejs to the NodeSource repository.",
        src=StringIO("Package: nodejs\nPin: origin deb.nodesource.com\nPin-Priority: 600\n"),
        dest=NODESOURCE_PIN,
        mode="0644",
    )
    apt.update(
        name="Update apt lists after the NodeSource repository changed.",
        _if=any_changed(key, source, pin),
    )
    nodejs.apt_nodejs_major(name=f"Install nodejs {major}.x from NodeSource.", major=major)


def _install_distro() -> None:
    apt.packages(
        name="Install the distribution's nodejs and npm.",
        packages=["nodejs", "npm"],
        no_recommends=True,
        update=True,
        cache_time=3600,
    )


def _download(what: str, url: str, sha256: str, archive: str, proxy_url: str | None) -> str:
    """Download `url` to `archive`, its sha256 checked; returns the archive's path."""
    files.download(
        name=f"Download {what} from {url} (sha256 checked).",
        src=url,
        dest=archive,
        sha256sum=sha256,
        proxy=proxy_url,
    )
    return archive


def _install_binary(data: HostConfig) -> None:
    url, sha256 = data.nodejs_binary_url, data.nodejs_binary_sha256
    assert url and sha256  # the contract requires both for nodejs_source = "binary"
    npm_url, npm_sha256 = registry_npm_url(url), NPM_SHA256
    root = data.nodejs_binary_dir.rstrip("/")
    node_dir = f"{root}/{binary_version(url, sha256)}"
    downloads = f"{root}/.downloads"
    proxy_url = download_proxy(data.proxy_url)

    node, npm = f"{node_dir}/bin/node", f"{node_dir}/lib/node_modules/npm/bin/npm-cli.js"
    batched_facts.prefetch(host, [(File, {"path": node}), (File, {"path": npm})])
    need_node = not host.get_fact(File, path=node)
    need_npm = bool(npm_url) and not host.get_fact(File, path=npm)
    if need_node or need_npm:
        files.directory(
            name=f"Create the download directory {downloads}.",
            path=downloads,
            mode="0755",
            user="root",
        )
    if need_node:
        archive = _download(
            "Node.js", url, sha256, f"{downloads}/node-{sha256[:12]}.archive", proxy_url
        )
        nodejs.unpack_node_archive(
            name=f"Unpack Node.js into {node_dir}.",
            archive=archive,
            dest=node_dir,
            needs_npm=not npm_url,
        )
    if need_npm:
        archive = f"{downloads}/npm-{npm_sha256[:12]}.tgz"
        _download("npm", npm_url, npm_sha256, archive, proxy_url)
        nodejs.unpack_npm_archive(
            name=f"Unpack npm into {node_dir}.", archive=archive, node_dir=node_dir
        )
    for command in ("node", "npm", "npx"):
        files.link(
            name=f"Link {BIN_DIR}/{command} to Node.js in {node_dir}.",
            path=f"{BIN_DIR}/{command}",
            target=f"{node_dir}/bin/{command}",
        )


def _install_al2023(major: int) -> None:
    dnf.packages(
        name=f"Install nodejs{major} and its npm from the Amazon Linux repositories.",
        packages=[f"nodejs{major}", f"nodejs{major}-npm"],
    )
    nodejs.alternatives_node(name=f"Make Node.js {major} the default node.", major=major)


@deploy("Install Node.js")
def install_nodejs() -> None:
    plan = host_plan()
    data = plan.data
    major = data.nodejs_major
    if not plan.family.apt:  # Amazon Linux 2023, the one dnf release
        _install_al2023(major)
        return
    source = data.nodejs_source
    if source == "nodesource":
        _install_nodesource(major, data.proxy_url)
    elif source == "distro":
        _install_distro()
    else:  # "binary": the contract allows no other value
        _install_binary(data)
