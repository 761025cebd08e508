"""`irflow package`, `irflow deploy` and `irflow destroy`: from a clone to irflow running in an organisation.

`deploy` runs from the security account (registered as delegated administrator for StackSets, or
from the management account): it packages the tasks, checks every generated IAM policy, uploads the
code and the template to an artifact bucket of its own (`irflow-artifacts-<account>-<region>`),
and applies the central stack through a change set (see `stack.py`). The central stack carries
the StackSets that put `IrflowMemberRole`, the finding forwarder and the CloudTrail trail into
every account of the chosen OUs.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from . import iam, package, stack, templates

# Powertools for AWS Lambda (Python) v3, python3.11 x86_64, published by AWS in every commercial region.
POWERTOOLS_LAYER = "arn:{partition}:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-x86_64:27"
RETAINED_NOTES = {
    "AWS::S3::Bucket": "the evidence stays under Object Lock (COMPLIANCE) until its retention ends; "
                       "empty and delete the bucket yourself after that",
    "AWS::KMS::Key": "the retained evidence is encrypted with this key; schedule its deletion only once "
                     "the evidence bucket is gone",
}

class CommandError(Exception):
    """Something the user must fix before the command can run; one line."""


def session(profile: str | None, region: str | None) -> Any:
    """A boto3 session for the profile and region given (each None: the usual defaults)."""
    import boto3

    return boto3.Session(profile_name=profile, region_name=region)


# --- package ------------------------------------------------------------------------------------------

def package_command(output: Path, out: TextIO, root: Path = templates.REPO) -> tuple[package.Package, list[Path]]:
    """Write the code zip to `output` and the templates beside it; print what was made."""
    built = package.build(root)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(built.data)
    written = templates.write(templates.Sources.load(root), output.parent)
    verdict = "within" if built.size < package.SIZE_TARGET else "OVER"
    print(f"{output}: {built.size:,} bytes ({verdict} the {package.SIZE_TARGET:,}-byte target), "
          f"{len(built.files)} files, sha256 {built.sha256}", file=out)
    vendored = ", ".join(built.vendored) or "nothing (boto3 is in the runtime, Powertools and pydantic in the layer)"
    print(f"  vendored: {vendored}", file=out)
    for path in written:
        print(f"{path}: {path.stat().st_size:,} bytes", file=out)
    return built, written


# --- deploy -------------------------------------------------------------------------------------------

@dataclass
class DeployOptions:
    stack_name: str = "irflow"
    dry_run: bool = False
    organization_id: str | None = None
    org_units: list[str] | None = None
    member_regions: list[str] | None = None
    trail_regions: list[str] | None = None
    notification_email: str | None = None
    external_id: str | None = None
    powertools_layer_arn: str | None = None


def _organization(session: Any, options: DeployOptions) -> tuple[str, str | None]:
    """(organization id, management account id or None when it cannot be read)."""
    try:
        described = session.client("organizations").describe_organization()["Organization"]
    except Exception as error:  # noqa: BLE001 - any refusal means: ask the user for the id
        if options.organization_id:
            return options.organization_id, None
        raise CommandError(f"cannot read the organisation ({error}); pass --organization-id o-...") from error
    return options.organization_id or str(described["Id"]), str(described.get("MasterAccountId") or "") or None


def artifact_bucket_name(account: str, region: str) -> str:
    return f"irflow-artifacts-{account}-{region}"


def artifact_bucket(session: Any, account: str, region: str, out: TextIO) -> str:
    """The deploy's own bucket for code and templates: private, encrypted, TLS-only; created once."""
    s3 = session.client("s3", region_name=region)
    name = artifact_bucket_name(account, region)
    partition = session.get_partition_for_region(region)
    try:
        s3.head_bucket(Bucket=name, ExpectedBucketOwner=account)
        return name
    except s3.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    kwargs: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:{partition}:s3:::{name}", f"arn:{partition}:s3:::{name}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
    print(f"Created artifact bucket {name}", file=out)
    return name


def check_layer(session: Any, arn: str) -> None:
    """Refuse early when the Powertools layer is not there (every function would fail to create)."""
    base, _, version = arn.rpartition(":")
    lam = session.client("lambda")
    try:
        lam.get_layer_version(LayerName=base, VersionNumber=int(version))
    except (lam.exceptions.ClientError, ValueError) as error:
        raise CommandError(f"the Powertools layer {arn} cannot be used here ({error}); "
                           "pass --powertools-layer-arn with the current version for this region") from error


def _upload(s3: Any, bucket: str, key: str, data: bytes) -> None:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError:
        s3.put_object(Bucket=bucket, Key=key, Body=data)


def _parameters(values: dict[str, str | None], *, new_stack: bool) -> list[dict[str, Any]]:
    """Given values are set; on an update, the ones not given keep their previous value."""
    parameters: list[dict[str, Any]] = []
    for key, value in values.items():
        if value is not None:
            parameters.append({"ParameterKey": key, "ParameterValue": value})
        elif not new_stack:
            parameters.append({"ParameterKey": key, "UsePreviousValue": True})
    return parameters


def check_policies(central: dict[str, Any], member: dict[str, Any]) -> None:
    problems = iam.policy_problems(central) + iam.policy_problems(member)
    if problems:
        raise CommandError("generated IAM is not least-privilege:\n  " + "\n  ".join(problems))


def deploy_command(session: Any, options: DeployOptions, out: TextIO, root: Path = templates.REPO,
                   waiting: stack.Waiting | None = None) -> stack.Outcome:
    """Package, check, upload and apply the central stack (and through it the StackSets)."""
    region = session.region_name
    if not region:
        raise CommandError("no region: pass --region or set AWS_REGION")
    account = session.client("sts").get_caller_identity()["Account"]
    organization, management = _organization(session, options)
    cfn = session.client("cloudformation", region_name=region)
    new_stack = stack.stack_status(cfn, options.stack_name) in (None, "REVIEW_IN_PROGRESS")
    print(f"Deploying stack {options.stack_name} to account {account}, {region} (organisation {organization})",
          file=out)
    partition = session.get_partition_for_region(region)
    layer = options.powertools_layer_arn or POWERTOOLS_LAYER.format(partition=partition, region=region)
    check_layer(session, layer)

    built = package.build(root)
    sources = templates.Sources.load(root)
    central = templates.central_template(sources)
    check_policies(central, templates.member_template(sources))
    body = templates.render(central).encode("utf-8")
    print(f"Code: {built.size:,} bytes, sha256 {built.sha256[:12]}; template: {len(body):,} bytes; "
          "IAM check passed", file=out)

    bucket = artifact_bucket(session, account, region, out)
    s3 = session.client("s3", region_name=region)
    code_key = f"code/{built.sha256}.zip"
    template_key = f"templates/{options.stack_name}-{hashlib.sha256(body).hexdigest()}.json"
    _upload(s3, bucket, code_key, built.data)
    _upload(s3, bucket, template_key, body)

    members = list(options.member_regions or [region])
    if options.member_regions is not None and region not in members:
        members.insert(0, region)
        print(f"Member regions: added {region}, where IrflowMemberRole lives", file=out)
    external_id = options.external_id or (secrets.token_hex(20) if new_stack else None)
    values: dict[str, str | None] = {
        "ArtifactBucket": bucket,
        "CodeKey": code_key,
        "PowertoolsLayerArn": layer,
        "OrganizationId": organization,
        "ExternalId": external_id,
        "StackSetCallAs": "SELF" if management == account else "DELEGATED_ADMIN",
        "NotificationEmail": options.notification_email if options.notification_email is not None
        else ("" if new_stack else None),
        "OrganizationalUnitIds": ",".join(options.org_units) if options.org_units is not None
        else ("" if new_stack else None),
        "MemberRegions": ",".join(members) if options.member_regions is not None or new_stack else None,
        "TrailRegions": ",".join(options.trail_regions) if options.trail_regions is not None
        else ("" if new_stack else None),
    }
    outcome = stack.deploy_stack(
        cfn, options.stack_name, parameters=_parameters(values, new_stack=new_stack),
        template_url=f"https://{bucket}.s3.{region}.amazonaws.com/{template_key}",
        tags={"irflow": "central"}, dry_run=options.dry_run, out=out, waiting=waiting)
    for key, value in sorted(outcome.outputs.items()):
        print(f"  {key}: {value}", file=out)
    return outcome


def destroy_command(session: Any, stack_name: str, dry_run: bool, out: TextIO,
                    waiting: stack.Waiting | None = None) -> stack.Outcome:
    """Delete the central stack (the StackSets and their instances go with it), then the artifact bucket.

    The evidence bucket and its key stay, and the output says so.
    """
    region = session.region_name
    if not region:
        raise CommandError("no region: pass --region or set AWS_REGION")
    cfn = session.client("cloudformation", region_name=region)
    outcome = stack.destroy_stack(cfn, stack_name, dry_run=dry_run, out=out, waiting=waiting,
                                  retained_note=lambda _logical, kind, _physical: RETAINED_NOTES.get(kind, ""))
    if outcome.result == "deleted":
        account = session.client("sts").get_caller_identity()["Account"]
        _remove_artifacts(session.client("s3", region_name=region), artifact_bucket_name(account, region), out)
    return outcome


def _remove_artifacts(s3: Any, bucket: str, out: TextIO) -> None:
    """Empty and delete the deploy's artifact bucket (code and templates only, never evidence)."""
    try:
        s3.head_bucket(Bucket=bucket)
    except s3.exceptions.ClientError:
        return
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    s3.delete_bucket(Bucket=bucket)
    print(f"Deleted artifact bucket {bucket}", file=out)
