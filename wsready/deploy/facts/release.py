"""An app directory's releases and dependency trees (see tasks/app.py for the layout)."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase


class ReleaseTree(FactBase):
    """
    Returns the entries of ``app_dir/releases`` (newest first, with the dependency tree
    their ``node_modules`` links to) and of ``app_dir/deps`` (installed or not):

    .. code:: python

        {
            "releases": [{"name": "3f2a…", "deps": "9c1e…"}, {"name": "3f2a….partial", "deps": ""}],
            "deps": {"9c1e…": True, "77ab…": False},
        }
    """

    default = dict

    def command(self, app_dir: str) -> str:
        releases, deps = shlex.quote(f"{app_dir}/releases"), shlex.quote(f"{app_dir}/deps")
        return (
            f"if cd {releases} 2>/dev/null; then ls -1t | while read -r entry; do"
            ' echo "release $entry $(readlink "$entry/node_modules" 2>/dev/null)"; done; fi;'
            f' if cd {deps} 2>/dev/null; then for tree in *; do [ -e "$tree" ] || continue;'
            ' if [ -e "$tree/.installed" ]; then echo "deps $tree installed";'
            ' else echo "deps $tree"; fi; done; fi; true'
        )

    def process(self, output):
        tree: dict = {"releases": [], "deps": {}}
        for line in output:
            kind, _, rest = line.strip().partition(" ")
            name, _, detail = rest.partition(" ")
            if kind == "release" and name:
                modules = detail.strip()
                tree_name = modules.rstrip("/").removesuffix("/node_modules").rsplit("/", 1)[-1]
                tree["releases"].append({"name": name, "deps": tree_name if modules else ""})
            elif kind == "deps" and name:
                tree["deps"][name] = detail.strip() == "installed"
        return tree
