"""
Manage the app's systemd units beyond their files: the Node.js runtime they run, the
single-process unit of older deploys, and worker instances no longer wanted (see tasks/app.py
for the whole layout).
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.files import File, FileContents
from pyinfra.facts.server import Command

from wsready.deploy.transaction import save_command, units_command

# systemd's own search path for a bare `ExecStart=node`.
NODE_LOOKUP = (
    'node="$(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin command -v node)"'
    ' && echo "$(readlink -f "$node") $("$node" --version)"'
)
WORKER_INSTANCES = "systemctl list-units --all --plain --no-legend --type=service {pattern}"


def _q(value: str) -> str:
    return shlex.quote(value)


@operation()
def record_node_runtime(marker: str):
    """
    Note which Node.js binary and version the app's unit runs (``node`` as systemd finds it);
    a change (an upgrade, another nodejs_source) rewrites ``marker``.

    + marker: the file holding ``<resolved node path> <version>``

    Restart the workers when this operation changed (``_if=...did_change``): they then run
    the new runtime.

    **Example:**

    .. code:: python

        app_units.record_node_runtime(
            name="Note the Node.js runtime the service runs.",
            marker="/etc/wsready-app/node-runtime",
        )
    """
    runtime = (host.get_fact(Command, command=NODE_LOOKUP) or "").strip()
    recorded = "\n".join(host.get_fact(FileContents, path=marker) or []).strip()
    if recorded == runtime:
        host.noop(f"Node.js runtime unchanged: {runtime}")
        return
    # Recorded first: a rolled-back run leaves no marker behind (nor the directory).
    yield f"{save_command([marker], 'app')} && echo {_q(runtime)} > {_q(marker)}"


@operation()
def retire_legacy_unit(app_name: str, path: str):
    """
    Stop, disable and delete the single-process unit of deploys before workers (it held
    worker 0's port).

    + app_name: the app's name (the unit is ``<app_name>.service``)
    + path: the unit file

    The app's active units and the unit file are recorded in the run's transaction first.

    **Example:**

    .. code:: python

        app_units.retire_legacy_unit(
            name="Retire the single-process unit of older deploys.",
            app_name="wsready-app",
            path="/etc/systemd/system/wsready-app.service",
        )
    """
    if not host.get_fact(File, path=path):
        host.noop(f"{path} is not on the host")
        return
    yield units_command(app_name)
    yield save_command([path], "app")
    yield f"systemctl disable --now {_q(app_name + '.service')} && rm -f {_q(path)}"


@operation()
def retire_workers(app_name: str, count: int, second_base: int | None = None):
    """
    Stop and disable the loaded instances ``<app_name>@<i>`` with ``i >= count`` (the host
    runs fewer workers now).

    + app_name: the app's name (the template unit is ``<app_name>@.service``)
    + count: how many workers stay (instances 0 to count - 1)
    + second_base: with two generations of workers, the second's first instance: instances
      ``second_base`` to ``second_base + count - 1`` stay too

    The app's active units are recorded in the run's transaction first.

    **Example:**

    .. code:: python

        app_units.retire_workers(
            name="Stop the workers beyond the first two.",
            app_name="wsready-app",
            count=2,
        )
    """
    listing = host.get_fact(Command, command=WORKER_INSTANCES.format(pattern=_q(f"{app_name}@*")))
    extra = sorted(
        unit
        for unit in (line.split()[0] for line in (listing or "").splitlines() if line.strip())
        if unit.startswith(f"{app_name}@")
        and unit.removeprefix(f"{app_name}@").removesuffix(".service").isdigit()
        and _retired(
            int(unit.removeprefix(f"{app_name}@").removesuffix(".service")), count, second_base
        )
    )
    if not extra:
        host.noop(f"no {app_name} worker beyond {count - 1} is loaded")
        return
    yield units_command(app_name)
    yield save_command([], "app")
    yield f"systemctl disable --now {' '.join(_q(unit) for unit in extra)}"


def _retired(instance: int, count: int, second_base: int | None) -> bool:
    if second_base is not None and second_base <= instance < second_base + count:
        return False
    return instance >= count
