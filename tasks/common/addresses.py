"""Which addresses are on the internet: the ones a response may block or name as attackers.

Private (RFC 1918), shared (RFC 6598), loopback, link-local, multicast, unspecified and reserved
addresses are not; nor their IPv6 counterparts. The documentation ranges (RFC 5737, RFC 3849)
are treated as internet addresses: examples and scenarios use them for attackers, and nothing
routes them, so blocking one costs nothing.
"""

from __future__ import annotations

import ipaddress

NOT_INTERNET = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8",
))


def is_internet(address: str) -> bool:
    """True for an IP address on the internet (see the module docstring); False otherwise or if not an address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return is_internet(str(ip.ipv4_mapped))
    return not any(ip.version == n.version and ip in n for n in NOT_INTERNET)
