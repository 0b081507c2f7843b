"""Onboarding checks: parsing what the host answers (the SSH part runs in tests/e2e)."""

from __future__ import annotations

import socket
import subprocess

import pytest

from wsready.fleet import onboard
from wsready.hostdata import HostConfig

DEBIAN_12 = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        (DEBIAN_12, True),
        ('ID=debian\nVERSION_ID="11"\n', True),
        ('ID=ubuntu\nVERSION_ID="22.04"\n', True),
        ('ID=ubuntu\nVERSION_ID="24.04"\n', True),
        ('ID="amzn"\nVERSION_ID="2023"\n', True),
        ('ID=ubuntu\nVERSION_ID="20.04"\nPRETTY_NAME="Ubuntu 20.04.6 LTS"\n', False),
        ('ID="amzn"\nVERSION_ID="2"\n', False),
        ("ID=centos\nVERSION_ID=7\n", False),
        ("", False),
    ],
)
def test_supported_operating_systems(text, ok):
    assert onboard.check_os(text).ok is ok


def test_unsupported_os_names_itself_and_the_supported_list():
    finding = onboard.check_os('ID=ubuntu\nVERSION_ID="20.04"\nPRETTY_NAME="Ubuntu 20.04.6 LTS"')
    assert finding.detail.startswith("Ubuntu 20.04.6 LTS is not supported (supported: Debian")


def test_privilege():
    assert onboard.check_privilege("0\n", None).detail == "logged in as root"
    assert onboard.check_privilege("1000\n", 0).detail == "passwordless sudo works"
    refused = onboard.check_privilege("1000\n", 1)
    assert not refused.ok and "passwordless sudo" in refused.detail


def test_disk():
    header = "Filesystem 1024-blocks Used Available Capacity Mounted on\n"
    assert onboard.check_disk(header + "/dev/root 8000000 1000000 7000000 13% /\n").ok
    low = onboard.check_disk(header + "/dev/root 8000000 7500000 500000 94% /\n")
    assert not low.ok and low.detail == "0.5 GiB free on /; need at least 1.0 GiB"
    assert not onboard.check_disk("df: /: No such file").ok


def test_port_listeners():
    ss = (
        'LISTEN 0 5 0.0.0.0:80 0.0.0.0:* users:(("perl",pid=412,fd=3))\n'
        'LISTEN 0 511 [::]:80 [::]:* users:(("nginx",pid=77,fd=7),("nginx",pid=78,fd=7))\n'
    )
    assert onboard.listeners_from_ss(ss) == ["perl (pid 412)", "nginx (pid 77)", "nginx (pid 78)"]
    assert onboard.listeners_from_ss("LISTEN 0 5 0.0.0.0:80 0.0.0.0:*\n") == ["unknown process"]
    assert onboard.check_port(80, []).detail == "free"
    assert onboard.check_port(80, ["nginx (pid 77)"]).ok
    taken = onboard.check_port(80, onboard.listeners_from_ss(ss))
    assert not taken.ok
    assert taken.detail.startswith("taken by nginx (pid 77), nginx (pid 78), perl (pid 412)")


def test_proc_net_tcp_fallback():
    proc = (
        "  sl  local_address rem_address   st\n"
        "   0: 00000000:0050 00000000:0000 0A 00000000:00000000\n"
        "   1: 0100007F:0BB8 0100007F:C350 01 00000000:00000000\n"
    )
    assert onboard.listening_ports_from_proc(proc) == {80}


def test_preflight_sudo_user_with_tls_ports():
    answers = {
        "cat /etc/os-release": (0, DEBIAN_12, ""),
        "id -u": (0, "1000\n", ""),
        "sudo -n true": (0, "", ""),
        "df -Pk /": (0, "h\n/dev/root 9 1 5000000 1% /\n", ""),
        "sudo -n ss -Hltnp 'sport = :80'": (0, "", ""),
        "sudo -n ss -Hltnp 'sport = :443'": (
            0,
            'LISTEN 0 5 *:443 *:* users:(("caddy",pid=9,fd=3))\n',
            "",
        ),
    }

    config = HostConfig.from_data("web1", {"nginx_tls": True})
    report = onboard.preflight(config, lambda command: answers[command])

    assert not report.ready
    assert [str(finding) for finding in report.problems] == [
        "FAIL port 443: taken by caddy (pid 9): stop it, or choose another nginx_tls_port"
    ]


def test_host_data_problems_are_findings():
    config, findings = onboard.host_config("web1", {})
    assert config == HostConfig.from_data("web1", {})
    assert findings == [onboard.Finding("host data", True, "valid")]
    config, findings = onboard.host_config("web1", {"nginx_listen_prot": 80, "app_port": 0})
    assert config is None
    assert [finding.ok for finding in findings] == [False, False]  # one per problem
    assert "nginx_listen_prot" in findings[0].detail and "app_port = 0" in findings[1].detail


def test_deploy_command_is_quoted():
    assert onboard.deploy_command("inventory/ec2.py", "i-0abc") == (
        "pyinfra -y inventory/ec2.py deploy.py --limit i-0abc"
    )
    assert onboard.deploy_command("my inv.py", "web 1").endswith(
        "'my inv.py' deploy.py --limit 'web 1'"
    )


def test_load_hosts_bad_input(tmp_path):
    with pytest.raises(onboard.InventoryError, match="no such file"):
        onboard.load_hosts(str(tmp_path / "missing.py"))
    inventory = tmp_path / "inv.py"
    inventory.write_text("web = [('web1', {'ssh_hostname': '10.200.9.2'})]\n")
    assert onboard.load_hosts(str(inventory), "web")[0][0] == "web1"
    assert onboard.load_hosts(str(inventory), "web*")[0][1]["ssh_hostname"] == "10.200.9.2"
    with pytest.raises(onboard.InventoryError, match="limit = 'db': matches no host"):
        onboard.load_hosts(str(inventory), "db")
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('cannot reach the CMDB')\n")
    with pytest.raises(onboard.InventoryError, match="did not load"):
        onboard.load_hosts(str(broken))


def test_unreachable_host_is_reported_not_raised():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there

    report = onboard.onboard_host("web1", {"ssh_hostname": "127.0.0.1", "ssh_port": port})

    assert not report.ready
    assert report.findings[0].check == "ssh" and not report.findings[0].ok
    assert report.findings[0].detail.startswith("(local user)@127.0.0.1: ")


def test_cli_reports_every_host_in_inventory_order_and_exits_2(tmp_path):
    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    inventory = tmp_path / "inv.py"
    inventory.write_text(
        "web = [\n"
        + "".join(
            f"    ('web{n}', {{'ssh_hostname': '127.0.0.1', 'ssh_port': {port}}}),\n"
            for n, port in enumerate(ports, 1)
        )
        + "]\n"
    )

    result = subprocess.run(
        ["wsready", "onboard", "--inventory", str(inventory)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    headers = [line for line in result.stdout.splitlines() if not line.startswith(" ")]
    assert headers == ["web1: NOT READY", "web2: NOT READY"]
    assert "next:" not in result.stdout


def test_hostile_host_data_is_refused_before_the_host_is_contacted(monkeypatch):
    """`ss ... 'sport = :{nginx_listen_port}'` once ran before the port was validated."""

    def no_ssh(*_args, **_kwargs):
        raise AssertionError("the host was contacted")

    monkeypatch.setattr(onboard, "connect", no_ssh)
    data = {"ssh_hostname": "10.0.0.9", "nginx_listen_port": "80'; touch /tmp/pwned; '"}
    report = onboard.onboard_host("web1", data)
    assert not report.ready
    assert report.findings[0].detail == "not contacted: web1's host data is refused"
    assert any("nginx_listen_port" in finding.detail for finding in report.findings)


def test_the_ss_filter_is_one_quoted_word_of_a_port_number():
    commands = []
    onboard._listeners(lambda command: commands.append(command) or (0, "", ""), "", 8080)
    assert commands == ["ss -Hltnp 'sport = :8080'"]
    with pytest.raises(onboard.ConfigError):
        onboard._listeners(lambda command: (0, "", ""), "", "80'; id; '")
