"""Deploy only the fleet monitor: `pyinfra -y INVENTORY tests/e2e/deploy_monitor.py`.

The proxy settings come first (apt needs them for python3-venv); hosts outside the
`monitors` group are left untouched by tasks/monitor.py.
"""

from tasks.monitor import install_monitor
from tasks.proxy import configure_proxy

configure_proxy()
install_monitor()
