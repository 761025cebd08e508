"""Security-group swaps that end as they end on AWS.

moto distortion corrected (measured on 5.2.5, see `moto-notes.md`): an attached network
interface reports its own groups *plus* the instance's launch groups, so after
`ModifyNetworkInterfaceAttribute(Groups=[isolation])` the interface still shows the group it
was meant to lose; `ModifyInstanceAttribute(Groups=...)` replaces the instance's groups but the
interface keeps the old one; and a security group id that does not exist is accepted. On AWS an
interface has exactly the groups last set on it, `ModifyInstanceAttribute(Groups=...)` sets the
groups of the instance's primary interface, and an unknown group fails with
`InvalidGroup.NotFound`. Isolation is judged by those groups, so this module patches moto's EC2
backend to behave that way:

- an interface reports only its own groups;
- setting an instance's groups sets its primary interface's groups, and setting the primary
  interface's groups is what the instance then reports;
- both refuse a group id that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .patching import Patches


def _groups(backend: Any, group_ids: list[str]) -> list[Any]:
    from moto.ec2.exceptions import InvalidSecurityGroupNotFoundError

    groups = []
    for group_id in group_ids:
        group = backend.get_security_group_from_id(group_id)
        if group is None:
            raise InvalidSecurityGroupNotFoundError(group_id)
        groups.append(group)
    return groups


def install(patches: Patches) -> None:
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface, NetworkInterfaceBackend
    from moto.ec2.models.instances import InstanceBackend

    patches.set(NetworkInterface, "group_set", property(lambda eni: list(eni._group_set)))

    def instance_groups(original: Callable[..., Any]) -> Callable[..., Any]:
        def modify(backend: Any, instance_id: str, new_group_id_list: list[str]) -> Any:
            groups = _groups(backend, new_group_id_list)
            instance = original(backend, instance_id, new_group_id_list)
            primary = instance.nics.get(0)
            if primary is not None:
                primary._group_set = list(groups)
            return instance

        return modify

    def interface_groups(original: Callable[..., Any]) -> Callable[..., Any]:
        def modify(backend: Any, eni_id: str, group_ids: list[str], *args: Any, **kwargs: Any) -> Any:
            _groups(backend, group_ids or [])
            result = original(backend, eni_id, group_ids, *args, **kwargs)
            eni = backend.get_network_interface(eni_id)
            instance = eni.instance
            if group_ids and instance is not None and instance.nics.get(0) is eni:
                instance.security_groups = list(eni._group_set)
            return result

        return modify

    patches.wrap(InstanceBackend, "modify_instance_security_groups", instance_groups)
    patches.wrap(NetworkInterfaceBackend, "modify_network_interface_attribute", interface_groups)
