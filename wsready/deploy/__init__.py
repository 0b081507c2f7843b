"""What tasks/ composes beyond pyinfra's own operations: custom @operations, facts and tables.

- `operations/`: one module per concern: acme (bootstrap pair, certificate order),
  app_units (Node.js runtime marker, retired units and workers), files (managed_file, for
  files that may hold secrets), firewall (ufw rules), kernel (sysctls), nginx (test and
  activate the candidate configs), nodejs (NodeSource key and package, alternatives, build
  archives), release (unpack, dependencies, current, prune), tls (the self-signed pair).
  Each operation declares a state, reads facts at execute time, yields commands only when
  something must change and otherwise says why (`host.noop`), like pyinfra's own
  operations, and is documented like them (`+ arg:` lines, an **Example**).
- `facts/`: the facts those operations read (ufw's persisted state, the release tree, the
  self-signed certificate).
- `families`: the OS releases and families as data (package names, nginx's own files, the
  firewall per family); the only place a per-OS choice is made.
- `shapes`: the pyinfra operation calls every task makes the same way.
- `hostfacts`: facts no operation of the deploy changes (CPUs, the OS release and so its
  family), read once per host per run at plan time, for per-OS-family choices and sizing.
- `transaction`: the shell that records what a change replaces, for the verify's rollback.
- `batched_facts`: each host's memo of facts for the run, kept while nothing ran on the host
  and read in one command per batch; `op_order`: pyinfra's operation order without reading
  source files (both installed by the preflight).
- `plan`: the host's plan (`host_plan()`), every decision below made once per host per run;
  tasks/ read it, verify takes this run's fingerprints from it.
- The deploy's pure decisions and renderers, used by the plan, tasks/ and the operations:
  `capacity` (limits sized for app_max_clients), `app_env` and `app_release` (the app's
  environment file and release hash), `app_config` (its units and fingerprint),
  `nginx_config` (nginx.conf and the site, their fingerprint), `firewall_rules`,
  `proxy_conf`, `redis_plan` (which Redis the workers use) and `redis_conf` (its files),
  `self_signed` and `acme` (when a pair or a certificate must be made or ordered).
- `verify`: the verify step at execute time (fingerprints, probes, commit or rollback).

Operation tests: tests/operations/<module>.<operation>/*.json, one case per file (facts and
arguments in, commands, the noop reason or the exception out); tasks/ only compose.
"""
