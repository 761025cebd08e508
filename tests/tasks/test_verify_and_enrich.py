"""verify-access (cross-account role, ExternalId, session name) and enrich-instance, against the embedded AWS."""

from __future__ import annotations

import pytest

from irflow.local.world import World
from tasks import enrich_instance, verify_access
from tasks.common.aws import member_session, session_client
from tasks.common.errors import AccessDenied, InstanceNotFound
from tasks.common.models import IncidentInput

from .conftest import MEMBER, OTHER_MEMBER, CallLog, Estate, incident_for


def test_verify_access_assumes_the_member_role_with_a_traceable_session(world: World, estate: Estate,
                                                                        calls: CallLog) -> None:
    web = estate.instance()
    incident = incident_for(web.id)
    with calls.checking("verify-access"):
        result = verify_access.run(IncidentInput(incident=incident))
    assert result["account_id"] == MEMBER
    assert result["role_arn"] == (f"arn:aws:sts::{MEMBER}:assumed-role/IrflowMemberRole/"
                                  f"irflow-{incident.incident_id}")
    assert set(result["checked"].values()) == {"allowed"}
    assert "AccessKeyId" not in str(result) and "SecretAccessKey" not in str(result)


def test_a_missing_member_role_fails_with_access_denied(world: World, estate: Estate) -> None:
    world.add_member(OTHER_MEMBER, role=False)
    incident = incident_for("i-0123456789abcdef0", accountId=OTHER_MEMBER)
    with pytest.raises(AccessDenied, match=f"cannot assume arn:aws:iam::{OTHER_MEMBER}:role/IrflowMemberRole"):
        verify_access.run(IncidentInput(incident=incident))


def test_a_wrong_external_id_fails_with_access_denied(world: World, estate: Estate,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    web = estate.instance()
    monkeypatch.setenv("IRFLOW_EXTERNAL_ID", "not-the-agreed-one")
    with pytest.raises(AccessDenied, match="AccessDenied|not authorized"):
        verify_access.run(IncidentInput(incident=incident_for(web.id)))


def test_member_sessions_act_in_the_member_account(world: World) -> None:
    session = member_session(MEMBER, "inc-00000000000000aa")
    assert session_client(session, "sts").get_caller_identity()["Account"] == MEMBER


def test_enrich_reads_the_instance_and_its_surroundings(world: World, estate: Estate, calls: CallLog) -> None:
    web = estate.instance(tags={"Name": "web-1", "Owner": "team-a", "Environment": "production"}, role="web-role",
                          asg="web-asg", target_group="web-tg", data_volume=True)
    incident = incident_for(web.id)
    with calls.checking("enrich-instance"):
        facts = enrich_instance.run(IncidentInput(incident=incident))
    assert facts["instance_id"] == web.id and facts["state"] == "running" and facts["platform"] == "Linux"
    assert facts["vpc_id"] == web.vpc_id and facts["subnet_id"] == web.subnet_id
    assert facts["owner"] == "team-a" and facts["environment"] == "production" and facts["exempt"] is False
    assert facts["role_name"] == "web-role" and facts["instance_profile_arn"].endswith(":instance-profile/web-role")
    assert facts["auto_scaling_group"] == "web-asg"
    assert facts["target_groups"] == [web.target_group_arn]
    assert sorted(v["volume_id"] for v in facts["volumes"]) == sorted(web.volume_ids)
    assert facts["interfaces"] == [{"interface_id": web.interface_id, "groups": [web.group_id]}]
    assert facts["ssm"]["managed"] is True and facts["ssm"]["ping_status"] == "Online"
    assert facts["other_findings"] == []  # no GuardDuty detector in the security account
    # With a detector, moto lacks the findings API: that is noted, not fatal.
    world.client("guardduty").create_detector(Enable=True)
    facts = enrich_instance.run(IncidentInput(incident=incident))
    assert facts["other_findings"] is None
    assert any(n.startswith("other GuardDuty findings unreadable") for n in facts["notes"])


def test_enrich_sees_the_exemption_and_unmanaged_and_windows(world: World, estate: Estate) -> None:
    exempt = estate.instance(tags={"irflow:exempt": "TRUE"}, ssm=False)
    facts = enrich_instance.run(IncidentInput(incident=incident_for(exempt.id)))
    assert facts["exempt"] is True and facts["ssm"] == {"managed": False, "ping_status": None, "platform_name": None,
                                                        "agent_version": None}
    windows = estate.instance(windows=True)
    facts = enrich_instance.run(IncidentInput(incident=incident_for(windows.id)))
    assert facts["platform"] == "Windows" and facts["ssm"]["platform_name"].startswith("Microsoft Windows")


def test_enrich_reports_a_terminated_instance_and_a_missing_one(world: World, estate: Estate) -> None:
    gone = estate.instance()
    estate.ec2.terminate_instances(InstanceIds=[gone.id])
    assert enrich_instance.run(IncidentInput(incident=incident_for(gone.id)))["state"] == "terminated"
    with pytest.raises(InstanceNotFound, match="i-0123456789abcdef0 does not exist"):
        enrich_instance.run(IncidentInput(incident=incident_for("i-0123456789abcdef0")))
