"""tasks.kernel and tasks.redis at operation level: facts in, commands or the noop reason out.

kernel.apply_sysctls on its own: its JSON cases in kernel.apply_sysctls/."""

from __future__ import annotations

import fakehost
import pytest
from pyinfra.api.exceptions import DeployError

from tasks.kernel import SYSCTL_FILE, tune_kernel
from tasks.redis import configure_redis_host
from wsready.deploy.operations.kernel import WRITABLE
from wsready.deploy.redis_conf import CONFIG, PASSWORD_CONFIG

SYSCTLS = {"net.core.somaxconn": 4096, "net.ipv4.ip_local_port_range": "1024 65000"}
READ = "sysctl -n net.core.somaxconn net.ipv4.ip_local_port_range 2>/dev/null; true"
SECRET = "redis-password-for-operation-tests-0123456789"


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
        fakehost.DEBIAN12,
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
