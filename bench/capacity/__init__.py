"""Socket.IO capacity runs (bench/ws_capacity.py), split by concern: `common` (limits, types,
the error), `stats` (pure figures), `generators` (the client processes), `load` (one run),
`server` (broadcast triggers, RSS, health on the server side), `loopback` (a local server),
`sandbox_deploys` (deploying the configurations compared).
"""

from __future__ import annotations
