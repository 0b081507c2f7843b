"""What differs between the OS families the deploy supports, as tables tasks/ look up.

An OS family is named by what the deploy found on the host: "debian" (apt-get) or "rhel"
(dnf) for nginx's own files.
"""

from __future__ import annotations

# What differs between the distributions' own nginx.conf files (files/nginx/nginx.conf.j2).
NGINX_MAIN_BY_FAMILY = {
    "debian": {
        "user": "www-data",
        "modules_include": "/etc/nginx/modules-enabled/*.conf",
        "sites_include": "/etc/nginx/sites-enabled/*",
    },
    "rhel": {
        "user": "nginx",
        "modules_include": "/usr/share/nginx/modules/*.conf",
        "sites_include": None,
    },
}
