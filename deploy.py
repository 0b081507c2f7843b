"""The whole deploy, in order. Run: `pyinfra -y inventory/sandbox.py deploy.py`.

Each step is one module in tasks/, reading the data keys documented in
inventory/group_data/all.py. The preflight refuses bad data for the whole fleet before
anything changes. One run is one transaction per host (tasks/transaction.py): nginx's new
config is tested before the app changes, an ACME certificate is ordered once the new site
serves its challenge, a new generation of app workers is then proven beside the serving
one (through nginx, with that certificate) before nginx switches to it (app_restart
"generations"), and when the probes of `verify_deploy` fail,
everything the run changed on that host is put back. Hosts of the `redis` group get Redis
for the fleet's Socket.IO adapter and nothing else; the host of the `balancer` group gets
HAProxy in front of the app hosts (the sandbox's ALB); hosts in the `monitors` group then get
the scheduled `wsready check` (tasks/monitor.py).
"""

from tasks.acme import obtain_certificate
from tasks.app import deploy_app
from tasks.balancer import configure_balancer, is_balancer_host
from tasks.firewall import configure_firewall
from tasks.front_door import join_balancer_host, join_load_balancer, sync_load_balancer
from tasks.generations import switch_generation
from tasks.kernel import tune_kernel
from tasks.monitor import install_monitor
from tasks.nginx import activate_nginx, prepare_nginx
from tasks.nginx_hardening import harden_nginx
from tasks.nodejs import install_nodejs
from tasks.preflight import check_host_data
from tasks.proxy import configure_proxy
from tasks.redis import configure_redis_host, is_redis_host
from tasks.security_group import sync_security_group
from tasks.transaction import install_rollback
from tasks.verify import commit_unverified, verify_deploy

check_host_data()
install_rollback()
configure_proxy()
sync_security_group()
sync_load_balancer()
configure_firewall()
tune_kernel()
if is_redis_host():
    configure_redis_host()
    commit_unverified("a Redis host: the app hosts' probes prove it")
elif is_balancer_host():
    configure_balancer()
    commit_unverified("the balancer host: each app host's verify probes through it")
else:
    install_nodejs()
    prepare_nginx()
    deploy_app()
    activate_nginx()
    harden_nginx()
    obtain_certificate()
    switch_generation()  # proven through nginx with the certificate clients will see
    verify_deploy()
    join_load_balancer()
    join_balancer_host()
install_monitor()
