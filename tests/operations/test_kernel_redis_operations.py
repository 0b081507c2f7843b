"""tasks.kernel and tasks.redis at operation level: facts in, commands or the noop reason out."""

from __future__ import annotations

import fakehost
import pytest
from pyinfra.api.exceptions import DeployError

from tasks.kernel import SYSCTL_FILE, WRITABLE, apply_sysctls, tune_kernel
from tasks.redis import CONFIG, PASSWORD_CONFIG, configure_redis_host

SYSCTLS = {"net.core.somaxconn": 4096, "net.ipv4.ip_local_port_range": "1024 65000"}
READ = "sysctl -n net.core.somaxconn net.ipv4.ip_local_port_range 2>/dev/null; true"
SECRET = "redis-password-for-operation-tests-0123456789"


def _apply(running: str, writable: str = "writable"):
    facts = {"server.Command": {READ: running, WRITABLE: writable}}
    (result,) = fakehost.run(
        lambda: apply_sysctls(name="Apply.", path=SYSCTL_FILE, sysctls=SYSCTLS), facts
    )
    return result


def test_sysctls_already_running_are_not_applied_again() -> None:
    result = _apply("4096\n1024\t65000")  # the kernel prints tabs between numbers
    assert result.commands == []
    assert result.noops == [f"the kernel already runs the 2 settings of {SYSCTL_FILE}"]


def test_a_differing_sysctl_is_applied_from_the_file() -> None:
    assert _apply("128\n32768\t60999").commands == [f"sysctl -q -p {SYSCTL_FILE}"]


def test_a_read_only_proc_sys_is_left_alone_and_says_why() -> None:
    result = _apply("128\n32768\t60999", writable="read-only")
    assert result.commands == []
    assert result.noops[0].startswith("/proc/sys is read-only here (a container)")


def test_tune_kernel_writes_the_file_then_applies_it() -> None:
    facts = {"server.Command": {READ: "128\n32768\t60999", WRITABLE: "writable"}}
    data = {"kernel_sysctls": SYSCTLS}
    commands = fakehost.commands(fakehost.run(tune_kernel, facts, data))
    (upload,) = [c for c in commands if isinstance(c, dict)]
    assert upload["upload"] == SYSCTL_FILE
    assert upload["lines"][1:] == [
        "net.core.somaxconn = 4096",
        "net.ipv4.ip_local_port_range = 1024 65000",
    ]
    assert commands[-1] == f"sysctl -q -p {SYSCTL_FILE}"


def test_empty_kernel_sysctls_change_nothing() -> None:
    data = {"kernel_sysctls": {}}
    assert fakehost.commands(fakehost.run(tune_kernel, {}, data)) == []


def _redis_host(**data):
    return fakehost.run(
        configure_redis_host,
        {"server.Which": {"apt-get": "/usr/bin/apt-get"}},
        data,
        groups={"redis": (["testhost"], {})},
    )


def test_a_redis_host_needs_a_password() -> None:
    with pytest.raises(DeployError, match="redis_password = None"):
        _redis_host(private_address="10.0.0.5")


def test_a_redis_host_binds_its_private_address_and_keeps_the_password_out_of_sight() -> None:
    results = _redis_host(private_address="10.0.0.5", redis_password=SECRET)
    uploads = {c["upload"]: c["lines"] for c in fakehost.commands(results) if isinstance(c, dict)}
    assert "bind 10.0.0.5 127.0.0.1" in uploads[CONFIG]
    assert uploads[PASSWORD_CONFIG] == [f"requirepass {SECRET}"]
    commands = fakehost.commands(results)
    assert f"chown redis:redis {PASSWORD_CONFIG}" in commands
    assert f"chmod 600 {PASSWORD_CONFIG}" in commands
    for result in results:
        assert SECRET not in result.name
        assert not any(isinstance(c, str) and SECRET in c for c in result.commands)
