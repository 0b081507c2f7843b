"""EC2 fleet found at load time: `pyinfra inventory/ec2.py deploy.py`.

Running instances tagged `wsready:role` become one group per role value (hosts named by
instance id). Settings from the environment: WSREADY_EC2_REGION (else boto3's chain),
WSREADY_EC2_ENDPOINT_URL, WSREADY_EC2_TAG, WSREADY_EC2_USE_PRIVATE_IP=1.
Set the SSH user for the image in group data (`ssh_user`, e.g. admin, ubuntu, ec2-user).
Roles that receive secrets (redis, monitors) also need WSREADY_EC2_SECRET_ROLE_IDS or
WSREADY_EC2_SECRET_ROLE_TAG (wsready/aws/discovery.py, docs/security.md).
"""

import sys

from wsready.aws import AwsError
from wsready.aws.discovery import discover_from_env

try:
    _found = discover_from_env()
except AwsError as _error:
    raise SystemExit(f"inventory/ec2.py: {_error}") from None

for _reason in _found.skipped:
    print(f"inventory/ec2.py: left out {_reason}", file=sys.stderr)

globals().update(_found.groups)
