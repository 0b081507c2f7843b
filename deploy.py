"""The whole deploy, in order. Run: `pyinfra -y inventory/sandbox.py deploy.py`.

Each step is one module in tasks/, reading the data keys documented in
inventory/group_data/all.py. The preflight refuses bad data for the whole fleet before
anything changes; `verify_deploy` proves the result from outside the host; hosts in the
`monitors` group then get the scheduled `wsready check` (tasks/monitor.py).
"""

from tasks.app import deploy_app
from tasks.firewall import configure_firewall
from tasks.monitor import install_monitor
from tasks.nginx import configure_nginx
from tasks.nodejs import install_nodejs
from tasks.preflight import check_host_data
from tasks.proxy import configure_proxy
from tasks.security_group import sync_security_group
from tasks.verify import verify_deploy

check_host_data()
configure_proxy()
sync_security_group()
configure_firewall()
install_nodejs()
deploy_app()
configure_nginx()
verify_deploy()
install_monitor()
