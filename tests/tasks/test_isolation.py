"""isolate-instance and release-instance, read back from the member account's APIs."""

from __future__ import annotations

import pytest

from irflow.local.world import World
from tasks import isolate_instance, release_instance
from tasks.common import incidents
from tasks.common.errors import InstanceNotFound, NothingToRelease
from tasks.common.models import IncidentInput, IncidentRef

from .conftest import CallLog, Estate, Instance, incident_for


def opened(incident: IncidentRef) -> IncidentRef:
    incidents.open_incident(incident.model_dump(), {}, None)
    return incident


@pytest.fixture
def web(estate: Estate) -> Instance:
    return estate.instance(tags={"Name": "web-1"}, role="web-role", asg="web-asg", target_group="web-tg")


def world_state(estate: Estate, web: Instance) -> dict[str, object]:
    """Everything isolation touches, as the member account's APIs report it."""
    iam = estate.iam
    return {
        "groups": estate.interface_groups(web.interface_id),
        "termination": estate.attribute(web.id, "disableApiTermination", "DisableApiTermination"),
        "shutdown": estate.attribute(web.id, "instanceInitiatedShutdownBehavior", "InstanceInitiatedShutdownBehavior"),
        "asg": estate.asg_members("web-asg"),
        "tg": estate.tg_members(web.target_group_arn or ""),
        "tags": estate.tags(web.id),
        "role_policies": iam.list_role_policies(RoleName="web-role")["PolicyNames"],
        "security_groups": sorted(g["GroupName"] for g in estate.ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [web.vpc_id]}])["SecurityGroups"]),
    }


def test_isolation_contains_the_instance(world: World, estate: Estate, web: Instance, calls: CallLog) -> None:
    incident = opened(incident_for(web.id))
    before = world_state(estate, web)
    with calls.checking("isolate-instance"):
        result = isolate_instance.run(IncidentInput(incident=incident))
    assert result["isolated"] is True and result["changed"] is True

    # The network interface now has exactly the isolation group, which has no rules at all.
    [isolation_id] = estate.interface_groups(web.interface_id)
    isolation = estate.group(isolation_id)
    assert isolation["GroupName"] == "irflow-isolation" and isolation["VpcId"] == web.vpc_id
    assert isolation["IpPermissions"] == [] and isolation["IpPermissionsEgress"] == []
    # It passed through the allow-all group first (tracked connections become untracked, then cut).
    swaps = [c for c in world.calls if c == ("ec2", "ModifyNetworkInterfaceAttribute")]
    assert len(swaps) == 2
    passthrough = estate.ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": ["irflow-isolation-passthrough"]}])["SecurityGroups"][0]
    assert {r["IpProtocol"] for r in passthrough["IpPermissions"]} == {"-1"}
    assert any(r.get("IpRanges") == [{"CidrIp": "0.0.0.0/0"}] for r in passthrough["IpPermissions"])

    assert estate.attribute(web.id, "disableApiTermination", "DisableApiTermination") is True
    assert estate.attribute(web.id, "instanceInitiatedShutdownBehavior", "InstanceInitiatedShutdownBehavior") == "stop"
    assert web.id not in estate.asg_members("web-asg")
    assert estate.tg_members(web.target_group_arn or "") == []
    tags = estate.tags(web.id)
    assert tags["irflow:incident"] == incident.incident_id and tags["irflow:status"] == "isolated"

    policy = estate.iam.get_role_policy(RoleName="web-role",
                                        PolicyName=f"irflow-revoke-sessions-{incident.incident_id}")["PolicyDocument"]
    statement = policy["Statement"][0]
    assert statement["Effect"] == "Deny" and statement["Action"] == "*"
    assert statement["Condition"] == {"DateLessThan": {"aws:TokenIssueTime": "2025-03-14T09:30:00Z"}}

    # The original state was recorded, as it was before anything changed.
    original = incidents.get_original_state(incident.incident_id, web.id) or {}
    assert original["interfaces"][0]["groups"] == before["groups"]
    assert original["disable_api_termination"] is False and original["shutdown_behavior"] == "stop"
    assert original["auto_scaling_group"]["name"] == "web-asg"
    assert original["target_groups"] == [{"arn": web.target_group_arn, "port": 8443}]
    assert original["role_name"] == "web-role"

    record = incidents.load_incident(incident.incident_id)
    assert record["status"] == "contained"
    names = [a["name"] for a in record["actions"]]
    assert names.index("enable-termination-protection") < names.index("isolate-network-interface")
    assert {"deregister-from-target-group", "detach-from-auto-scaling-group", "revoke-role-sessions",
            "tag-instance"} <= set(names)


def test_isolating_twice_changes_nothing_the_second_time(world: World, estate: Estate, web: Instance) -> None:
    incident = opened(incident_for(web.id))
    isolate_instance.run(IncidentInput(incident=incident))
    after_first = world_state(estate, web)
    actions_first = incidents.load_incident(incident.incident_id)["actions"]
    original = incidents.get_original_state(incident.incident_id, web.id)
    mark = len(world.calls)

    second = isolate_instance.run(IncidentInput(incident=incident))
    assert second["changed"] is False
    assert {a["result"] for a in second["actions"]} == {"unchanged"}
    assert world_state(estate, web) == after_first
    mutating = {op for service, op in world.calls[mark:]
                if op.startswith(("Modify", "Create", "Put", "Detach", "Deregister", "Authorize", "Revoke"))
                and service != "dynamodb"}
    assert mutating == set()
    # The record still says what the first run did, and the original state is still the original.
    assert incidents.load_incident(incident.incident_id)["actions"] == actions_first
    assert incidents.get_original_state(incident.incident_id, web.id) == original


def test_the_isolation_group_is_shared_per_vpc_and_kept_empty(world: World, estate: Estate) -> None:
    first, second = estate.instance(), estate.instance()
    isolate_instance.run(IncidentInput(incident=opened(incident_for(first.id))))
    [group_id] = estate.interface_groups(first.interface_id)
    # Someone adds a rule to the isolation group: the next isolation removes it again.
    estate.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    isolate_instance.run(IncidentInput(incident=opened(incident_for(second.id, id="0f" * 16))))
    assert estate.interface_groups(second.interface_id) == [group_id]
    assert estate.group(group_id)["IpPermissions"] == []


def test_a_terminated_instance_cannot_be_isolated(world: World, estate: Estate) -> None:
    gone = estate.instance()
    estate.ec2.terminate_instances(InstanceIds=[gone.id])
    with pytest.raises(InstanceNotFound, match="terminated"):
        isolate_instance.run(IncidentInput(incident=opened(incident_for(gone.id))))


def test_release_restores_the_recorded_state(world: World, estate: Estate, web: Instance, calls: CallLog) -> None:
    incident = opened(incident_for(web.id))
    before = world_state(estate, web)
    isolate_instance.run(IncidentInput(incident=incident))
    with calls.checking("release-instance"):
        result = release_instance.release(incident.incident_id, "alice@example.com")
    assert result["failed"] == 0
    after = world_state(estate, web)
    assert after["groups"] == before["groups"]
    assert after["termination"] is False and after["shutdown"] == "stop"
    assert after["tg"] == [(web.id, 8443)]
    assert web.id in estate.asg_members("web-asg")
    assert estate.tags(web.id)["irflow:status"] == "released"
    # The revocation stays: it only denies credentials issued before isolation.
    assert f"irflow-revoke-sessions-{incident.incident_id}" in after["role_policies"]  # type: ignore[operator]
    record = incidents.load_incident(incident.incident_id)
    assert record["status"] == "released"
    assert record["timeline"][-1]["message"] == f"{web.id} released by alice@example.com"
    # Releasing again is harmless.
    again = release_instance.release(incident.incident_id, "alice@example.com")
    assert again["failed"] == 0 and world_state(estate, web) == after
    results = {s["name"]: s["result"] for s in again["steps"]}
    assert results["release-restore-security-groups"] == results["release-register-with-target-group"] == "unchanged"


def test_shutdown_behaviour_is_set_to_stop_and_restored(world: World, estate: Estate) -> None:
    web = estate.instance()
    isolate_instance.set_shutdown_behavior(estate.ec2, web.id, "terminate")
    incident = opened(incident_for(web.id))
    isolate_instance.run(IncidentInput(incident=incident))
    assert estate.attribute(web.id, "instanceInitiatedShutdownBehavior", "InstanceInitiatedShutdownBehavior") == "stop"
    assert estate.interface_groups(web.interface_id) != [web.group_id]
    release_instance.release(incident.incident_id, "bob")
    assert estate.attribute(web.id, "instanceInitiatedShutdownBehavior",
                            "InstanceInitiatedShutdownBehavior") == "terminate"
    assert estate.interface_groups(web.interface_id) == [web.group_id]


def test_nothing_to_release_without_an_isolation(world: World, estate: Estate) -> None:
    web = estate.instance()
    incident = opened(incident_for(web.id))
    with pytest.raises(NothingToRelease):
        release_instance.release(incident.incident_id, "alice@example.com")
    assert estate.interface_groups(web.interface_id) == [web.group_id]
    assert "irflow:status" not in estate.tags(web.id)
