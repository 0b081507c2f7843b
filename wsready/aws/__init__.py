"""AWS through boto3: the EC2 client, security-group plan and sync, EC2 discovery by tag.

`sg_plan` decides (pure: desired rules, add/keep/revoke), `ec2` reads and changes groups
(its API is re-exported here: `aws.ec2_client`, `aws.find_group_id`, `aws.apply`, ...),
`sg_sync` runs one sync per group for a fleet's deploy, and `discovery` turns tagged
instances into pyinfra inventory groups (`inventory/ec2.py`).
"""

from wsready.aws.ec2 import (
    ApplyResult,
    AwsError,
    apply,
    aws_errors,
    current_rules,
    ec2_client,
    find_group_id,
    plan_group,
)

__all__ = [
    "ApplyResult",
    "AwsError",
    "apply",
    "aws_errors",
    "current_rules",
    "ec2_client",
    "find_group_id",
    "plan_group",
]
