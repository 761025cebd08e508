"""The pieces of the simulate report that do not need a playbook: state statuses and change lines."""

from __future__ import annotations

from irflow.local.simulate import _elapsed, _remote_ips, describe_changes, states_of


def _entered(event_id: int, name: str, kind: str = "Task", previous: int = 0) -> dict:
    return {"id": event_id, "previousEventId": previous, "type": f"{kind}StateEntered",
            "stateEnteredEventDetails": {"name": name}}


def _event(event_id: int, kind: str, previous: int) -> dict:
    return {"id": event_id, "previousEventId": previous, "type": kind}


def test_states_succeed_fail_or_keep_the_execution_status() -> None:
    history = [
        _event(1, "ExecutionStarted", 0),
        _entered(2, "Parse", previous=1), _event(3, "TaskScheduled", 2), _event(4, "TaskSucceeded", 3),
        _event(5, "TaskStateExited", 4),
        _entered(6, "Isolate", previous=5), _event(7, "TaskScheduled", 6), _event(8, "TaskFailed", 7),
        _entered(9, "Notify", previous=8), _event(10, "TaskScheduled", 9), _event(11, "TaskSucceeded", 10),
        _event(12, "TaskStateExited", 11),
        _entered(13, "Approval", previous=12), _event(14, "TaskScheduled", 13),
    ]
    assert states_of(history, "RUNNING") == [
        {"name": "Parse", "type": "Task", "status": "SUCCEEDED"},
        {"name": "Isolate", "type": "Task", "status": "FAILED"},
        {"name": "Notify", "type": "Task", "status": "SUCCEEDED"},
        {"name": "Approval", "type": "Task", "status": "RUNNING"},
    ]
    assert states_of(history, "ABORTED")[-1]["status"] == "ABORTED"


def test_changes_read_as_a_responder_would_say_them() -> None:
    before = {"state": "running", "securityGroups": [{"id": "sg-1", "name": "web-sg"}], "tags": {"Name": "web"},
              "autoScalingGroup": "web-asg", "targetGroups": ["web-tg"], "snapshots": [], "terminationProtection": False}
    after = {"state": "running", "securityGroups": [{"id": "sg-9", "name": "irflow-isolation"}],
             "tags": {"Name": "web", "irflow:status": "isolated"}, "autoScalingGroup": None, "targetGroups": [],
             "snapshots": ["snap-1"], "terminationProtection": True}
    assert describe_changes(before, after) == [
        "security groups [web-sg] -> [irflow-isolation]", "tags +irflow:status=isolated",
        "autoScalingGroup web-asg -> none", "targetGroups [web-tg] -> []", "snapshots +snap-1",
        "terminationProtection off -> on"]
    assert describe_changes(after, after) == []


def test_elapsed_and_attacker_addresses() -> None:
    assert [_elapsed(s) for s in (4.26, 95, 3725)] == ["4.3s", "1m35s", "1h02m05s"]
    target = {"detail": {"service": {"resourceRole": "TARGET", "action": {"networkConnectionAction": {
        "remoteIpDetails": {"ipAddressV4": "198.51.100.23"}, "localIpDetails": {"ipAddressV4": "10.0.1.5"}}}}}}
    assert _remote_ips(target) == ("198.51.100.23",)
    actor = {"detail": {"service": {"resourceRole": "ACTOR", "action": {"networkConnectionAction": {
        "remoteIpDetails": {"ipAddressV4": "203.0.113.45"}}}}}}
    assert _remote_ips(actor) == ()
