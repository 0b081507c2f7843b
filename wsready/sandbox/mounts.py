"""Mounts under a directory wsready is about to delete: find them, undo them, never cross them."""

from __future__ import annotations

import subprocess
from pathlib import Path


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below `path` in this mount namespace, deepest first."""
    prefix = str(path.resolve()) + "/"
    targets = []
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            target = line.split()[1].encode().decode("unicode_escape")  # \040 -> space
            if (target + "/").startswith(prefix):
                targets.append(target)
    return sorted(targets, key=len, reverse=True)


def unmount_under(path: Path) -> None:
    for target in mounts_under(path):
        subprocess.run(["umount", "--lazy", target], check=False, capture_output=True)


def remove_tree(path: Path) -> None:
    """Unmount what is left below `path`, then delete it; refuse while anything is mounted."""
    if not path.exists():
        return
    unmount_under(path)
    left = mounts_under(path)
    if left:
        raise RuntimeError(f"not deleting {path}: still mounted below it: {', '.join(left)}")
    # rm is several times faster than shutil.rmtree on a 300 MB rootfs, and stays on one fs
    subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], check=True)
