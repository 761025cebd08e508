"""AWS-managed IAM policies irflow attaches, present in every embedded account as they are on AWS.

moto gap filled: moto creates AWS-managed policies (`arn:aws:iam::aws:policy/...`) only when
`MOTO_IAM_LOAD_MANAGED_POLICIES=true`, and then all ~1,300 of them in every account it touches
(see `moto-notes.md`). Without them, attaching `AWSDenyAll` fails with `NoSuchEntity`, which on
AWS cannot happen. So the world adds just the policies irflow's tasks attach, each taken from
moto's own copy of AWS's policy data (document, version, dates unchanged), to every IAM backend
moto makes while the world runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .patching import Patches

ATTACHED_BY_IRFLOW = ("AWSDenyAll",)  # contain-principal's deny-all


def install(patches: Patches, names: tuple[str, ...] = ATTACHED_BY_IRFLOW) -> None:
    """Make moto's IAM backends start with `names` among their AWS-managed policies."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    from moto.iam.models import AWSManagedPolicy, IAMBackend

    data = {name: _policy_data(aws_managed_policies_data, name) for name in names}

    def with_irflow_policies(original: Callable[[Any], list[Any]]) -> Callable[[Any], list[Any]]:
        def init(backend: Any) -> list[Any]:
            policies = list(original(backend))
            present = {p.name for p in policies}
            policies += [AWSManagedPolicy.from_data(name, backend.account_id, backend.region_name, data[name])
                         for name in names if name not in present]
            return policies

        return init

    patches.wrap(IAMBackend, "_init_aws_policies", with_irflow_policies)


def _policy_data(all_policies: str, name: str) -> Any:
    """One policy out of moto's 4.7 MB JSON text, decoded alone (parsing it all costs ~0.2 s per start)."""
    at = all_policies.find(json.dumps(name) + ":")
    if at < 0:
        raise KeyError(f"moto has no data for the AWS-managed policy {name}")
    start = all_policies.index("{", at + len(name) + 2)
    value, _ = json.JSONDecoder().raw_decode(all_policies, start)
    return value
