"""ufw's persisted state, read from its own files (no `ufw status`, which needs ufw running)."""

from __future__ import annotations

from pyinfra.api import FactBase


class UfwState(FactBase):
    """
    Returns ufw's persisted state: whether it is enabled, its default input policy and the
    allow rules of its user rule files:

    .. code:: python

        {
            "enabled": True,
            "input_policy": "DROP",
            "rules": {("tcp", 22, "0.0.0.0/0"), ("tcp", 80, "::/0")},
        }
    """

    requires_command = "ufw"

    def command(self) -> str:
        return (
            "grep -h '^ENABLED=' /etc/ufw/ufw.conf; "
            "grep -h '^DEFAULT_INPUT_POLICY=' /etc/default/ufw; "
            "grep -h '^### tuple ###' /etc/ufw/user.rules /etc/ufw/user6.rules 2>/dev/null; true"
        )

    def process(self, output):
        return parse_ufw_state(output)


def parse_ufw_state(lines: list[str]) -> dict:
    """`ENABLED=yes`, `DEFAULT_INPUT_POLICY="DROP"` and `### tuple ### allow tcp 22 0.0.0.0/0
    any 203.0.113.0/24 in` lines → {enabled, input_policy, rules: {(proto, port, src)}}."""
    state = {"enabled": False, "input_policy": "", "rules": set()}
    for line in lines:
        line = line.strip()
        if line.startswith("ENABLED="):
            state["enabled"] = line.split("=", 1)[1].strip().strip('"').lower() == "yes"
        elif line.startswith("DEFAULT_INPUT_POLICY="):
            state["input_policy"] = line.split("=", 1)[1].strip().strip('"').upper()
        elif line.startswith("### tuple ###"):
            fields = line[len("### tuple ###") :].split()
            if len(fields) >= 7 and fields[0] == "allow" and fields[6] == "in":
                _action, proto, dport, _dst, _sport, src = fields[:6]
                if dport.isdigit():
                    state["rules"].add((proto, int(dport), src))
    return state
