"""The host data contract and the resolved host configuration.

Owns every data key of `inventory/group_data/all.py`: its default, its rule (`contract`,
`monitor` for the fleet monitor's keys) and its typed value (`config.HostConfig`, built once
per host by `host_config(host)` or `HostConfig.from_data(name, data)`). Everything else reads
a HostConfig's fields; nothing outside this package defaults or validates host data.
"""

from wsready.hostdata.config import HostConfig, HostDataError, SshSettings, host_config
from wsready.hostdata.contract import (
    CHECKS,
    DEFAULTS_FILE,
    MAX_APP_WORKERS,
    OUR_PREFIXES,
    SECRET_WORDS,
    WORLD,
    cached_defaults,
    load_defaults,
    report,
    validate,
    with_defaults,
)
from wsready.validate import HIDDEN, ConfigError

__all__ = [
    "CHECKS",
    "DEFAULTS_FILE",
    "HIDDEN",
    "MAX_APP_WORKERS",
    "OUR_PREFIXES",
    "SECRET_WORDS",
    "WORLD",
    "ConfigError",
    "HostConfig",
    "HostDataError",
    "SshSettings",
    "cached_defaults",
    "host_config",
    "load_defaults",
    "report",
    "validate",
    "with_defaults",
]
