"""A fleet monitor on the hosts of the `monitors` group: `wsready check` on a systemd timer.

On a monitor host: this project's source is uploaded and pip-installed (pinned dependencies,
through `proxy_url`) into a venv under MONITOR_DIR; the fleet to check is written as a small
inventory file (`monitor_targets` URLs, or every inventory host outside `monitors`, with only
the host data a target is built from); a oneshot service runs `wsready check` on it every
`monitor_interval_s`, writing `monitor_prometheus_file` (node_exporter's textfile collector)
and alerting `monitor_alert_webhook` on state changes. The token (`monitor_token_env` /
`monitor_token_file`) and the webhook URL sit in a 0600 root file that systemd hands to the
service as its environment. Hosts outside `monitors` are left untouched.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.api.util import get_template
from pyinfra.facts.files import File
from pyinfra.operations import files, pip, server, systemd
from pyinfra.operations.util import any_changed

from wsready.deploy.nginx_config import STATUS_DIR
from wsready.deploy.operations.files import managed_file
from wsready.deploy.plan import host_plan
from wsready.deploy.shapes import apt_install, put_file, put_text, root_directory
from wsready.fleet import statuspage, targets
from wsready.hostdata import DEFAULTS_FILE, HostConfig, host_config

ROOT = Path(__file__).resolve().parent.parent
SERVICE_TEMPLATE = ROOT / "files" / "systemd" / "monitor.service.j2"
TIMER_TEMPLATE = ROOT / "files" / "systemd" / "monitor.timer.j2"
STATUS_TEMPLATE = ROOT / "files" / "nginx" / "status.conf.j2"
# What `pip install` needs of this project: the package and its build description.
SOURCE_FILES = ("pyproject.toml", "README.md")
# Where an installed wsready reads the defaults (wsready/hostdata/contract.py).
DEFAULTS_COPY = "wsready/hostdata/all.py"

MONITOR_GROUP = targets.MONITORS_GROUP
MONITOR_USER = "wsready-monitor"
MONITOR_DIR = "/opt/wsready-monitor"
SOURCE_DIR = f"{MONITOR_DIR}/src"
WHEEL_DIR = f"{MONITOR_DIR}/wheels"
VENV = f"{MONITOR_DIR}/venv"
CONFIG_DIR = "/etc/wsready-monitor"
TARGETS_FILE = f"{CONFIG_DIR}/targets.py"
ENV_FILE = f"{CONFIG_DIR}/env"
STATE_DIRECTORY = "wsready-monitor"  # systemd StateDirectory= → /var/lib/wsready-monitor
STATE_FILE = f"/var/lib/{STATE_DIRECTORY}/state.json"
SERVICE = "wsready-monitor.service"
TIMER = "wsready-monitor.timer"
TOKEN_VARIABLE = "WSREADY_MONITOR_TOKEN"
WEBHOOK_VARIABLE = "WSREADY_MONITOR_WEBHOOK"
CHECK_TIMEOUT_S = 10
CHECK_RETRIES = 1
# pip's own bundle misses local CAs; the check verifies public certificates against it
SYSTEM_CA_BUNDLE = targets.SYSTEM_CA_BUNDLE
# The status page: written by the check into its state directory (0755, the page 0644), served
# by the site's nginx through a location file that the wsready site includes on monitor hosts.
STATUS_PAGE = f"/var/lib/{STATE_DIRECTORY}/status.html"
STATUS_LOCATION = f"{STATUS_DIR}/location.conf"
STATUS_CANDIDATE = f"{STATUS_DIR}/location.conf.candidate"  # not matched by the include
STATUS_HTPASSWD = f"{STATUS_DIR}/htpasswd"
NGINX_GROUP = "www-data"  # nginx's workers read the htpasswd file (Debian; apt-only monitor)


def status_location(data: HostConfig) -> str:
    """The nginx location serving the page: allowed CIDRs only, optional basic auth."""
    return get_template(str(STATUS_TEMPLATE)).render(
        status_path=data.monitor_status_path,
        allow_cidrs=list(data.monitor_status_allow_cidrs),
        htpasswd_file=STATUS_HTPASSWD if data.monitor_status_htpasswd else None,
        page_file=STATUS_PAGE,
        csp=statuspage.HEADER_CSP,
    )


def _serve_status(data: HostConfig) -> None:
    """Write the location (and htpasswd) for the site's include, test nginx, reload it."""
    root_directory("Create the directory of the status page's nginx location.", STATUS_DIR)
    changes = []
    if data.monitor_status_htpasswd:
        changes.append(
            managed_file(
                name="Write the status page's htpasswd file (0640 root:www-data, not shown).",
                content=data.monitor_status_htpasswd.strip() + "\n",
                dest=STATUS_HTPASSWD,
                user="root",
                group=NGINX_GROUP,
                mode="640",
            )
        )
    else:
        changes.append(
            files.file(
                name="Remove the status page's htpasswd file (no basic auth asked).",
                path=STATUS_HTPASSWD,
                present=False,
            )
        )
    candidate = put_text(
        f"Write the status page's nginx location ({data.monitor_status_path}) aside.",
        status_location(data),
        STATUS_CANDIDATE,
    )
    live = host.get_fact(File, path=STATUS_LOCATION)
    server.shell(
        name="Test the status page's location with nginx -t, make it live and reload nginx.",
        commands=[
            f"cp -p {STATUS_LOCATION} {STATUS_LOCATION}.previous 2>/dev/null || true; "
            f"cp {STATUS_CANDIDATE} {STATUS_LOCATION} && if nginx -t -q; then "
            f"rm -f {STATUS_LOCATION}.previous; systemctl reload nginx; else "
            f"mv {STATUS_LOCATION}.previous {STATUS_LOCATION} 2>/dev/null || "
            f"rm -f {STATUS_LOCATION}; exit 1; fi"
        ],
        _if=None if not live else any_changed(candidate, *changes),
    )


def _stop_serving_status() -> None:
    """`monitor_status_path = None`: the site no longer includes it; remove the files."""
    for path in (STATUS_LOCATION, STATUS_CANDIDATE, STATUS_HTPASSWD):
        files.file(name=f"Remove {path} (no status page asked).", path=path, present=False)


def fleet_hosts() -> list[HostConfig]:
    """Every inventory host outside the monitors group."""
    return [host_config(each) for each in host.state.inventory if MONITOR_GROUP not in each.groups]


def ca_files(fleet: list[HostConfig]) -> dict[Path, str]:
    """Each local verify_tls_ca_file of the fleet → where it lies on the monitor host (named
    by its content, so hosts sharing a CA share the file)."""
    found = {}
    for config in fleet:
        if config.verify_tls_ca_file is not None and config.verify_tls_ca_file not in found:
            digest = hashlib.sha256(config.verify_tls_ca_file.read_bytes()).hexdigest()[:16]
            found[config.verify_tls_ca_file] = f"{CONFIG_DIR}/ca-{digest}.pem"
    return found


def targets_inventory(data: HostConfig, fleet: list[HostConfig], cas: dict[Path, str]) -> str:
    """The inventory file the monitor checks: `monitor_targets` URLs, or the fleet (each
    host probed as its deploy's verify step does, its CA file at `cas`)."""
    urls = data.monitor_targets
    if urls:
        entries = [targets.url_entry(url) for url in urls]
    else:
        entries = [(config.name, targets.monitor_entry(config, cas)) for config in fleet]
    if not entries:
        raise DeployError(
            f"{host.name}: monitor has nothing to check: set monitor_targets, or put the "
            f"fleet's hosts in the inventory outside the {MONITOR_GROUP} group"
        )
    return targets.render_inventory(entries)


def secret_environment(data: HostConfig) -> str:
    """Content of the 0600 environment file: the token and the webhook URL (if any)."""
    lines = []
    token = None
    if data.monitor_token_env:
        token = os.environ.get(data.monitor_token_env)
        if not token:
            raise DeployError(
                f"{host.name}: monitor_token_env = {data.monitor_token_env!r}: "
                "that environment variable is not set where pyinfra runs"
            )
    elif data.monitor_token_file:
        token = Path(data.monitor_token_file).read_text(encoding="utf-8").strip()
    if token:
        if not _TOKEN.fullmatch(token):  # a newline would add a variable of its own
            source = data.monitor_token_env or str(data.monitor_token_file)
            raise DeployError(
                f"{host.name}: the monitor token from {source!r} = '<hidden>': must be one "
                "word of printable ASCII (no spaces, quotes, backslashes or newlines)"
            )
        lines.append(f"{TOKEN_VARIABLE}={token}")
    if data.monitor_alert_webhook:
        lines.append(f"{WEBHOOK_VARIABLE}={data.monitor_alert_webhook}")
    return "".join(line + "\n" for line in lines)


_TOKEN = re.compile(r"[\x21-\x7e]{1,8192}")
_UNIT_WORD = re.compile(r"[A-Za-z0-9_@+=:,./-]{1,255}")


def unit_context(context: dict) -> dict:
    """The template values, each one word systemd takes literally: no newline (a line of its
    own), space, `%` (a specifier), `$` (expanded in Exec lines), quote or backslash."""
    for name, value in context.items():
        words = str(value).split(" ") if name == "extra_args" else [str(value)]
        for word in words:
            if word and not _UNIT_WORD.fullmatch(word) or (not word and name != "extra_args"):
                raise DeployError(
                    f"{host.name}: {name} = {value!r} cannot be written into a systemd unit"
                )
    return context


def check_arguments(data: HostConfig, has_token: bool) -> str:
    """Options of `wsready check` beyond the fixed ones (secrets come from the environment)."""
    extra = (
        f" --tls-warn-days {data.monitor_tls_warn_days}"
        f" --tls-crit-days {data.monitor_tls_crit_days}"
    )
    if has_token:
        extra += f" --token-env {TOKEN_VARIABLE}"
    if data.monitor_alert_webhook:
        extra += f" --alert-webhook-env {WEBHOOK_VARIABLE}"
    return extra


def _upload_ca_files(cas: dict[Path, str]) -> list:
    """The fleet's CA files, where the targets file names them (certificates: public)."""
    return [
        put_file(
            f"Upload the CA file {local.name} that verifies the fleet's certificates.",
            local,
            remote,
            mode="0640",
            group=MONITOR_USER,
        )
        for local, remote in cas.items()
    ]


def _install_python() -> None:
    packages = host_plan().family.packages["monitor"]
    if packages is None:
        raise DeployError(f"{host.name}: the monitor is installed with apt (Debian/Ubuntu) only")
    apt_install("Install Python and venv for the monitor.", list(packages))


def _upload_source() -> list:
    files.directory(
        name="Create the monitor's directory.", path=SOURCE_DIR, user="root", mode="0755"
    )
    changes = [
        files.sync(
            name="Upload the wsready package source.",
            src=str(ROOT / "wsready"),
            dest=f"{SOURCE_DIR}/wsready",
            exclude=["*.pyc", "__pycache__", f"*/{DEFAULTS_COPY}"],
            delete=True,
        ),
        # The data keys' defaults: an installed wsready has no inventory/ of its own.
        files.put(
            name="Upload the data keys' defaults (inventory/group_data/all.py).",
            src=str(DEFAULTS_FILE),
            dest=f"{SOURCE_DIR}/{DEFAULTS_COPY}",
        ),
    ]
    for name in SOURCE_FILES:
        changes.append(
            files.put(name=f"Upload {name}.", src=str(ROOT / name), dest=f"{SOURCE_DIR}/{name}")
        )
    return changes


def _upload_wheelhouse(data: HostConfig) -> list:
    if not data.monitor_wheelhouse:
        return []
    return [
        files.sync(
            name="Upload the wheelhouse (the monitor host reaches no package index).",
            src=str(data.monitor_wheelhouse),
            dest=WHEEL_DIR,
            delete=True,
        )
    ]


def pip_options(data: HostConfig, has_system_ca: bool) -> list[str]:
    """Where pip gets packages: the uploaded wheelhouse, or the index through proxy_url."""
    options = ["--quiet", "--disable-pip-version-check", "--no-cache-dir"]
    if data.monitor_wheelhouse:
        return [*options, "--no-index", "--find-links", WHEEL_DIR]
    if data.proxy_url:
        options += ["--proxy", data.proxy_url]
    if has_system_ca:
        options += ["--cert", SYSTEM_CA_BUNDLE]
    return options


def _pip_install(data: HostConfig, changes: list) -> None:
    venv = pip.venv(name="Create the monitor's virtualenv.", path=VENV, python="python3")
    options = shlex.join(pip_options(data, bool(host.get_fact(File, path=SYSTEM_CA_BUNDLE))))
    # The version does not change with every edit: reinstall the package itself, always.
    commands = [
        f"{VENV}/bin/pip install {options} {SOURCE_DIR}",
        f"{VENV}/bin/pip install {options} --no-deps --force-reinstall {SOURCE_DIR}",
    ]
    server.shell(
        name="Install wsready and its pinned dependencies into the virtualenv.",
        commands=commands,
        _if=any_changed(venv, *changes),
    )


@deploy("Install the fleet monitor")
def install_monitor() -> None:
    if MONITOR_GROUP not in host.groups:
        host.noop(f"{host.name} is not in the {MONITOR_GROUP} group: no monitor here")
        return
    data = host_plan().data
    prometheus_dir = str(Path(data.monitor_prometheus_file).parent)
    environment = secret_environment(data)
    fleet = [] if data.monitor_targets else fleet_hosts()
    cas = ca_files(fleet)
    inventory_text = targets_inventory(data, fleet, cas)

    _install_python()
    server.user(
        name="Create the monitor's system user.",
        user=MONITOR_USER,
        system=True,
        shell="/usr/sbin/nologin",
        home=f"/var/lib/{STATE_DIRECTORY}",
        create_home=False,
    )
    _pip_install(data, _upload_source() + _upload_wheelhouse(data))

    root_directory(
        "Create the monitor's configuration directory.", CONFIG_DIR, mode="0750", group=MONITOR_USER
    )
    config_changes = _upload_ca_files(cas)
    config_changes += [
        put_text(
            "Write the list of targets the monitor checks.",
            inventory_text,
            TARGETS_FILE,
            mode="0640",
            group=MONITOR_USER,
        ),
        managed_file(  # never diffed: it holds the token and the webhook URL
            name="Write the monitor's token and webhook file (0600, read by systemd).",
            content=environment,
            dest=ENV_FILE,
            user="root",
            group="root",
            mode="600",
        ),
    ]
    root_directory(
        "Create the textfile collector directory, writable by the monitor.",
        prometheus_dir,
        mode="0775",
        group=MONITOR_USER,
    )
    context = {
        "monitor_user": MONITOR_USER,
        "venv": VENV,
        "env_file": ENV_FILE,
        "targets_file": TARGETS_FILE,
        "prometheus_file": data.monitor_prometheus_file,
        "prometheus_dir": prometheus_dir,
        "state_file": STATE_FILE,
        "state_directory": STATE_DIRECTORY,
        "timeout_s": CHECK_TIMEOUT_S,
        "retries": CHECK_RETRIES,
        "start_timeout_s": max(60, data.monitor_interval_s),
        "extra_args": check_arguments(data, bool(environment and TOKEN_VARIABLE in environment)),
        "status_page": STATUS_PAGE,
        "status_refresh_s": max(10, data.monitor_interval_s),
        "interval_s": data.monitor_interval_s,
        "service": SERVICE,
    }
    unit_context(context)  # every value one literal word for systemd
    units = [
        files.template(
            name="Install the monitor's check service.",
            src=str(SERVICE_TEMPLATE),
            dest=f"/etc/systemd/system/{SERVICE}",
            mode="0644",
            **context,
        ),
        files.template(
            name="Install the monitor's timer.",
            src=str(TIMER_TEMPLATE),
            dest=f"/etc/systemd/system/{TIMER}",
            mode="0644",
            **context,
        ),
    ]
    systemd.daemon_reload(name="Reload systemd for the monitor's units.", _if=any_changed(*units))
    systemd.service(
        name="Enable and start the monitor's timer.", service=TIMER, running=True, enabled=True
    )
    systemd.service(
        name="Restart the monitor's timer after its units or targets changed.",
        service=TIMER,
        restarted=True,
        _if=any_changed(*units, *config_changes),
    )
    if data.monitor_status_path:
        _serve_status(data)
    else:
        _stop_serving_status()
