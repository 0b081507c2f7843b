"""Example production fleet: copy it, put your own hosts and origins in, then

    pyinfra inventory/production.py deploy.py

Each group is `(hosts, group data)`; a host is a name or `(name, host data)`. Every key is
documented in `group_data/all.py`; anything set here overrides the default there.
"""

_SSH = {
    "ssh_user": "admin",  # Debian AMIs; "ubuntu" on Ubuntu AMIs, "ec2-user" on Amazon Linux
    "ssh_key": "~/.ssh/wsready-prod.pem",
}

_COMMON = {
    **_SSH,
    "nodejs_source": "nodesource",
    "nodejs_major": 22,
    "app_cors_origins": ["https://app.example.com", "https://admin.example.com"],
    "app_auth": "static",
    # sha256 of each accepted API token (`printf %s TOKEN | sha256sum`), never the tokens.
    "app_static_token_hashes": [
        "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
    ],
    "nginx_server_name": "api.example.com",
    "firewall_ssh_cidrs": ["203.0.113.0/24"],  # the office / bastion network
    "sg_enabled": True,
    "sg_allow_cidrs": ["0.0.0.0/0", "::/0"],
    "sg_ssh_cidrs": ["203.0.113.0/24"],
    "sg_purge": True,
    "aws_region": "eu-north-1",
}

# Public web hosts, one per availability zone; the security group is found from the host.
web = (
    [
        (
            "ec2-13-50-218-71.eu-north-1.compute.amazonaws.com",
            {"instance_id": "i-0a1b2c3d4e5f60718"},
        ),
        (
            "ec2-13-53-104-22.eu-north-1.compute.amazonaws.com",
            {"instance_id": "i-0f9e8d7c6b5a40312"},
        ),
    ],
    {**_COMMON, "sg_id": "sg-0123456789abcdef0"},
)

# Hosts in a private subnet: reached through the bastion, packages through the egress proxy,
# probed at their internal load-balancer name.
private_web = (
    [
        (
            "10.20.1.15",
            {
                "instance_id": "i-0123abcd4567ef890",
                "verify_address": "internal-ws-1234567890.eu-north-1.elb.amazonaws.com",
            },
        ),
    ],
    {
        **_COMMON,
        # ~/.ssh/config holds `Host 10.20.*` with `ProxyJump bastion.example.com`.
        "ssh_config_file": "~/.ssh/config",
        "proxy_url": "http://10.20.0.10:3128",
        "sg_id": "sg-0fedcba9876543210",
        "sg_allow_cidrs": ["10.20.0.0/16"],
        "firewall_allow_cidrs": ["10.20.0.0/16"],
        "aws_endpoint_url": "https://vpce-0a1b2c3d-ec2.eu-north-1.vpce.amazonaws.com",
    },
)
