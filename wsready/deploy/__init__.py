"""What tasks/ composes beyond pyinfra's own operations: custom @operations, facts and tables.

- `operations/`: one module per concern (firewall, release, tls). Each operation declares a
  state, reads facts at execute time, yields commands only when something must change and
  otherwise says why (`host.noop`), like pyinfra's own operations.
- `facts/`: the facts those operations read (ufw's persisted state, the release tree, the
  self-signed certificate).
- `hostfacts`: facts no operation of the deploy changes (CPUs, apt-get or dnf), read once per
  host per run at plan time, for per-OS-family choices and sizing.
- `transaction`: the shell that records what a change replaces, for the verify's rollback.

Operation tests: tests/operations/<operation_name>/*.json (facts and arguments in, commands
or the noop reason out).
"""
