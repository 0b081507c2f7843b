"""The systemd drop-in that sandboxes nginx (tasks/nginx_hardening.py): what it allows, and
that `nginx_hardening = False` asks for none."""

from __future__ import annotations

from tasks.nginx_hardening import READ_WRITE_PATHS, planned_dropin, render_dropin
from wsready.hostdata import HostConfig


def _settings(text: str) -> list[tuple[str, str]]:
    """(key, value) of each setting line, in order (comments and blank lines left out)."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0] == "[Service]"
    return [tuple(line.split("=", 1)) for line in lines[1:]]


def test_the_drop_in_allows_only_what_nginx_needs() -> None:
    settings = _settings(render_dropin("debian"))
    values = dict(settings)
    assert len(values) == len(settings) - 2  # only SystemCallFilter repeats (three lines)
    assert values["ProtectSystem"] == "strict"
    assert values["ReadWritePaths"] == "/var/log/nginx /var/lib/nginx /run"
    assert values["CapabilityBoundingSet"].split() == [
        "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID", "CAP_DAC_OVERRIDE", "CAP_CHOWN"
    ]  # fmt: skip
    assert values["AmbientCapabilities"] == ""
    assert values["RestrictAddressFamilies"] == "AF_INET AF_INET6 AF_UNIX"
    for flag in (
        "NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
        "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock",
        "ProtectHostname", "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID",
        "LockPersonality", "MemoryDenyWriteExecute",
    ):  # fmt: skip
        assert values[flag] == "yes", flag
    filters = [value for key, value in settings if key == "SystemCallFilter"]
    assert filters == ["@system-service", "~@privileged @resources", "@chown @setuid setrlimit"]
    assert values["SystemCallArchitectures"] == "native"


def test_the_writable_paths_are_nginx_own() -> None:
    assert READ_WRITE_PATHS == ("/var/log/nginx", "/var/lib/nginx", "/run")
    assert "becomes nginx in its workers" in render_dropin("rhel")
    assert "becomes www-data in its workers" in render_dropin("debian")


def test_off_asks_for_no_drop_in() -> None:
    assert (
        planned_dropin(HostConfig.from_data("wsr-1", {"nginx_hardening": False}), "debian") is None
    )
    on = planned_dropin(HostConfig.from_data("wsr-1", {}), "debian")
    assert on == render_dropin("debian")
