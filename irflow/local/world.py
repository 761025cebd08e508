"""The embedded AWS: moto in-process, with the accounts and resources a deployment would have.

A `World` starts `moto.mock_aws`, fills moto's gaps (the STS guard, the simulated SSM agent,
security-group swaps as AWS does them, CloudTrail's event history, the AWS-managed policies
irflow attaches, bucket policies on object requests: `sts_guard`, `ssm_agent`, `ec2_groups`,
`cloudtrail_history`, `iam_managed`, `s3_object_access`), creates the
central security account's resources as the deploy templates do (evidence bucket with
versioning, Object Lock and default retention; incidents table keyed `pk`/`sk`; SNS topic),
the member accounts with `IrflowMemberRole` (or without it, when a scenario says so), and sets
the environment variables the tasks read (`tasks/common/config.py`). It puts everything back
when closed: moto's patches, the environment, moto's state.

Accounts: the central account acts through an IAM user's access key placed in the environment,
so a task's plain `boto3.client(...)` lands there; the world's own set-up calls in other
accounts use moto's `x-moto-account-id` header (`client(service, account)`), the way an
account administrator would act there. Tasks reach member accounts only through AssumeRole.
"""

from __future__ import annotations

import json
import os
import secrets
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from . import ec2_groups, iam_managed, s3_object_access, sts_guard
from .cloudtrail_history import CloudTrailHistory
from .patching import Patches
from .ssm_agent import SsmAgent
from .waf_samples import WafSamples

DEFAULT_SECURITY_ACCOUNT = "111111111111"
DEFAULT_REGION = "us-east-1"
DEFAULT_EXTERNAL_ID = "irflow-local-external-id"
MEMBER_ROLE_NAME = "IrflowMemberRole"
EVIDENCE_RETENTION_DAYS = 365
LOCAL_USER = "irflow-local"
APPROVAL_KEY_SECRET = "irflow/approval-signing-key"  # as deploy/central.yaml names them
APPROVERS_PARAMETER = "/irflow/approvers"

# Set for moto while a world runs: no ~1,300 default AMI snapshots (faster, and
# `describe_snapshots` then lists only what irflow created).
_MOTO_ENV = {"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}


_open: World | None = None  # the world whose moto is running in this process


@dataclass(frozen=True)
class Central:
    """Names of the central resources, as the tasks see them in their environment."""

    account: str
    region: str
    evidence_bucket: str
    incidents_table: str
    topic_arn: str
    external_id: str
    member_role_name: str
    approval_key_secret_arn: str = ""
    approvers_parameter: str = ""


class World:
    """moto plus irflow's central and member accounts; use as a context manager."""

    def __init__(self, security_account: str = DEFAULT_SECURITY_ACCOUNT, region: str = DEFAULT_REGION,
                 external_id: str = DEFAULT_EXTERNAL_ID, now: Callable[[], datetime] | None = None,
                 member_actions: Iterable[str] = ()) -> None:
        self.security_account = security_account
        self.region = region
        self.external_id = external_id
        self.member_actions = sorted(set(member_actions))
        self._now = now or (lambda: datetime.now(UTC))
        self._patches = Patches()
        self._saved_env: dict[str, str | None] = {}
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._mock: Any = None
        self.members: dict[str, bool] = {}  # account -> role present
        self.agent = SsmAgent(self._now, self._write_object)
        self.cloudtrail = CloudTrailHistory(self._now)  # LookupEvents (moto has none)
        self.waf_samples = WafSamples(self._now)  # GetSampledRequests (moto has none)
        self.central: Central | None = None
        self.calls: list[tuple[str, str]] = []  # (service, operation) of every AWS request, in order
        self.notified: list[dict[str, Any]] = []  # every notification drained so far, in order
        self._published: list[dict[str, Any]] = []  # published to the topic, not yet drained

    # --- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> World:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> World:
        """Start moto, fill its gaps, provision the central account, export the settings.

        moto's state and patches are process-wide, so one world is open at a time: a world left
        open (a crashed test, a console that never closed) is closed first, with a warning,
        rather than let the new one inherit its accounts and resources.
        """
        global _open
        if _open is not None and _open is not self:
            warnings.warn("an earlier World was still open; closing it", RuntimeWarning, stacklevel=2)
            _open.close()
        _open = self
        self._set_env(_MOTO_ENV)
        from moto import mock_aws

        self._mock = mock_aws()
        self._mock.start()
        sts_guard.install(self._patches)
        ec2_groups.install(self._patches)
        self.agent.install(self._patches)
        self.cloudtrail.install(self._patches)
        self.waf_samples.install(self._patches)
        iam_managed.install(self._patches)
        s3_object_access.install(self._patches)
        self._record_calls()
        key = self._local_credentials()
        self._set_env({
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
            "AWS_SESSION_TOKEN": None,
            "AWS_PROFILE": None,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        })
        self.central = self._provision_central()
        self._set_env({
            "IRFLOW_EVIDENCE_BUCKET": self.central.evidence_bucket,
            "IRFLOW_INCIDENTS_TABLE": self.central.incidents_table,
            "IRFLOW_TOPIC_ARN": self.central.topic_arn,
            "IRFLOW_MEMBER_ROLE_NAME": self.central.member_role_name,
            "IRFLOW_EXTERNAL_ID": self.central.external_id,
            "IRFLOW_APPROVAL_KEY_SECRET_ARN": self.central.approval_key_secret_arn,
            "IRFLOW_APPROVERS_PARAMETER": self.central.approvers_parameter,
            "IRFLOW_APPROVAL_URL": None,  # no approval links until a local approval server listens
            "POWERTOOLS_SERVICE_NAME": "irflow",
            "POWERTOOLS_METRICS_NAMESPACE": "irflow",
            "POWERTOOLS_TRACE_DISABLED": "true",
        })
        return self

    def close(self) -> None:
        """Undo everything: patches, moto (and its state), environment variables."""
        global _open
        if _open is self:
            _open = None
        self._patches.undo()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        for name, value in reversed(list(self._saved_env.items())):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
        self._clients.clear()

    def _record_calls(self) -> None:
        """Note every request moto answers (the runtime prices a task's time by its AWS calls)."""
        from moto.core.botocore_stubber import BotocoreStubber

        calls = self.calls

        def recording(original: Callable[..., Any]) -> Callable[..., Any]:
            def call(stubber: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
                response = original(stubber, event_name, request, **kwargs)
                if response is not None:
                    parts = event_name.split(".")
                    calls.append((parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else ""))
                return response

            return call

        self._patches.wrap(BotocoreStubber, "__call__", recording)

    def _set_env(self, values: Mapping[str, str | None]) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    @property
    def patches(self) -> Patches:
        """The world's reversible patches on moto, for gap fillers installed after it started."""
        return self._patches

    def now(self) -> datetime:
        return self._now()

    # --- clients ----------------------------------------------------------------------------
    def client(self, service: str, account: str | None = None, region: str | None = None) -> Any:
        """A boto3 client acting as the administrator of `account` (default: central)."""
        import boto3

        account = account or self.security_account
        region = region or self.region
        key = (service, account, region)
        if key not in self._clients:
            make: Any = boto3.client  # any service name, not only the stubs' literals
            client = make(service, region_name=region, aws_access_key_id="irflow-world",
                                  aws_secret_access_key="irflow-world")

            def in_account(request: Any, **_: Any) -> None:
                request.headers["x-moto-account-id"] = account

            client.meta.events.register("before-sign.*.*", in_account)
            self._clients[key] = client
        return self._clients[key]

    def _local_credentials(self) -> dict[str, str]:
        """An access key in the central account: the identity tasks run as locally."""
        iam = self.client("iam")
        iam.create_user(UserName=LOCAL_USER, Tags=[{"Key": "irflow:purpose", "Value": "local-runtime"}])
        key: dict[str, str] = iam.create_access_key(UserName=LOCAL_USER)["AccessKey"]
        return key

    # --- central account ---------------------------------------------------------------------
    def _provision_central(self) -> Central:
        account, region = self.security_account, self.region
        bucket = f"irflow-evidence-{account}-{region}"
        s3 = self.client("s3")
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        else:
            s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True,
                             CreateBucketConfiguration={"LocationConstraint": region})
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": EVIDENCE_RETENTION_DAYS}},
        })
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
        })
        # As deployed: SSE-KMS with the irflow key (deploy/central.yaml, IrflowKey / alias/irflow).
        kms = self.client("kms")
        key_id = kms.create_key(Description="irflow evidence, incidents and notifications")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/irflow", TargetKeyId=key_id)
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id},
                       "BucketKeyEnabled": True}],
        })
        table = "irflow-incidents"
        self.client("dynamodb").create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        topic_arn = self.client("sns").create_topic(Name="irflow-notifications")["TopicArn"]
        self._listen(topic_arn)
        # Approvals: the HMAC key that signs approval links, and who may decide ("{}": nobody, as deployed).
        key_arn = self.client("secretsmanager").create_secret(
            Name=APPROVAL_KEY_SECRET, SecretString=secrets.token_urlsafe(48),
            Description="HMAC key that signs approval links.")["ARN"]
        self.client("ssm").put_parameter(Name=APPROVERS_PARAMETER, Type="String", Value="{}",
                                         Description="Who may decide approvals, per playbook.")
        return Central(account, region, bucket, table, topic_arn, self.external_id, MEMBER_ROLE_NAME,
                       approval_key_secret_arn=key_arn, approvers_parameter=APPROVERS_PARAMETER)

    def _listen(self, topic_arn: str) -> None:
        """Keep every message published to the topic as an SQS subscriber receives it (`drain_notifications`).

        With `MessageStructure=json` a subscriber gets its protocol's text (`sqs`, else `default`).
        (A real SQS subscription would do the same, but moto signs each delivery with a freshly
        made 2048-bit RSA key: a tenth of a second per process for nothing the runtime reads.)
        """
        from moto.sns.models import Topic

        pending = self._published

        def listening(original: Callable[..., Any]) -> Callable[..., Any]:
            def publish(topic: Any, message: str, subject: str | None = None,
                        message_attributes: dict[str, Any] | None = None, **kwargs: Any) -> Any:
                message_id = original(topic, message, subject=subject, message_attributes=message_attributes, **kwargs)
                if topic.arn == topic_arn:
                    if kwargs.get("message_structure") == "json":
                        texts = json.loads(message)
                        message = texts.get("sqs", texts["default"])
                    pending.append({"subject": subject, "message": message, "attributes": message_attributes or {}})
                return message_id

            return publish

        self._patches.wrap(Topic, "publish", listening)

    def set_approval_url(self, url: str | None) -> None:
        """Where approval links point (a local approval server, once it listens); None: no links."""
        self._set_env({"IRFLOW_APPROVAL_URL": url})

    # --- member accounts ---------------------------------------------------------------------
    def add_member(self, account: str, role: bool = True) -> None:
        """A member account; with `role`, `IrflowMemberRole` trusting the central account."""
        if account in self.members:
            return
        self.members[account] = role
        if not role:
            return
        trust = {
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{self.security_account}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": self.external_id}},
            }],
        }
        iam = self.client("iam", account)
        iam.create_role(RoleName=MEMBER_ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust),
                        Description="Lets irflow's central tasks investigate and contain incidents.",
                        MaxSessionDuration=3600, Tags=[{"Key": "irflow:managed", "Value": "true"}])
        if self.member_actions:
            iam.put_role_policy(RoleName=MEMBER_ROLE_NAME, PolicyName="irflow-response", PolicyDocument=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": self.member_actions, "Resource": "*"}],
            }))

    # --- notifications -------------------------------------------------------------------------
    def drain_notifications(self) -> list[dict[str, Any]]:
        """Messages published to the topic since the last call: [{"subject", "message", "attributes"}].

        Each is also kept in `notified`, the whole story of what was sent.
        """
        out = list(self._published)
        self._published.clear()
        self.notified.extend(out)
        return out

    # --- for the simulated agent ---------------------------------------------------------------
    def _write_object(self, account: str, bucket: str, key: str, body: bytes) -> None:
        """PutObject as the instance's agent does (through the S3 API, so bucket defaults apply)."""
        self.client("s3", account).put_object(Bucket=bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256")
