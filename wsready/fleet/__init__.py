"""Keeping a fleet checked and bringing hosts into it: everything that runs across hosts.

Owns `wsready check` (targets from URLs or the inventory, concurrent probe runs with
retries, the exit status, the table/JSON report, Prometheus textfile, alerts on state
change, per-target history and the static status page), `wsready rollout` (batched
deploys, each batch proven), `wsready onboard` (preflight of a new host over SSH) and
`wsready token` (the probe token from inventory data).
"""
