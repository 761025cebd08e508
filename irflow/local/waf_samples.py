"""WAF sampled requests for the embedded AWS: `GetSampledRequests` answered from what a scenario says WAF saw.

moto gap filled: moto 5.2.5 implements WAFv2 web ACLs and IP sets but not `GetSampledRequests`
(see `moto-notes.md`), and no traffic ever reaches a moto web ACL. A scenario gives its
`waf-web-acl` resource the requests WAF sampled, per rule metric name, in the API's own
`SampledHTTPRequest` shape (`Request` with `ClientIP`, `Country`, `URI`, `Method`,
`HTTPVersion`, `Headers`; `Weight`; `Timestamp`; `Action`; `RuleNameWithinRuleGroup`;
`Labels`), and this module adds the operation to moto's WAFv2 responses, checking the request
as AWS does: the web ACL must exist in the scope, `MaxItems` is 1 to 500, the time window must
end after it starts and lie within the last three hours (WAF keeps samples that long, by the
world's clock). The answer holds the samples inside the window, earliest first, at most
`MaxItems` of them, with `PopulationSize` the requests they stand for (their weights) and the
window as asked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from .patching import Patches

HISTORY = timedelta(hours=3)
MAX_ITEMS = 500


def _error(code: str, message: str) -> Exception:
    from moto.wafv2.exceptions import WAFv2ClientError  # moto finds the error shape by the class's package

    return WAFv2ClientError(code, message)


def _when(value: Any) -> datetime:
    """A sample's or a window's time: ISO 8601 text, epoch seconds, or a datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"not a time: {value!r}")


class WafSamples:
    """The sampled requests of each (web ACL ARN, rule metric name), and the moto patch that serves them."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._samples: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def add(self, web_acl_arn: str, rule_metric_name: str, samples: list[dict[str, Any]]) -> None:
        """Requests WAF sampled for a rule (SampledHTTPRequest mappings; `Timestamp` ISO text or epoch seconds)."""
        kept = self._samples.setdefault((web_acl_arn, rule_metric_name), [])
        for sample in samples:
            kept.append({**sample, "Timestamp": _when(sample["Timestamp"]), "Weight": int(sample.get("Weight", 1))})
        kept.sort(key=lambda s: s["Timestamp"])

    def answer(self, web_acl_arn: str, rule_metric_name: str, start: datetime, end: datetime,
               max_items: int) -> dict[str, Any]:
        """GetSampledRequests' response for a window already checked."""
        inside = [s for s in self._samples.get((web_acl_arn, rule_metric_name), []) if start <= s["Timestamp"] <= end]
        chosen = inside[:max_items]
        return {
            "SampledRequests": [{**s, "Timestamp": s["Timestamp"].timestamp()} for s in chosen],
            "PopulationSize": sum(s["Weight"] for s in inside),
            "TimeWindow": {"StartTime": start.timestamp(), "EndTime": end.timestamp()},
        }

    def install(self, patches: Patches) -> None:
        """Add GetSampledRequests to moto's WAFv2 response class."""
        from moto.wafv2.models import GLOBAL_REGION
        from moto.wafv2.responses import WAFV2Response

        samples = self

        def get_sampled_requests(response: Any) -> Any:
            body = json.loads(response.body)
            scope = body.get("Scope")
            if scope == "CLOUDFRONT":
                response.region = GLOBAL_REGION
            arn = str(body.get("WebAclArn", ""))
            if arn not in response.wafv2_backend.wacls:
                raise _error("WAFNonexistentItemException",
                             "AWS WAF couldn’t perform the operation because your resource doesn’t exist.")
            max_items = body.get("MaxItems")
            if not isinstance(max_items, int) or not 1 <= max_items <= MAX_ITEMS:
                raise _error("WAFInvalidParameterException", f"MaxItems must be from 1 to {MAX_ITEMS}")
            window = body.get("TimeWindow") or {}
            try:
                start, end = _when(window["StartTime"]), _when(window["EndTime"])
            except (KeyError, ValueError):
                raise _error("WAFInvalidParameterException", "TimeWindow needs StartTime and EndTime") from None
            now = samples._now()
            if start >= end or start < now - HISTORY or end > now + timedelta(minutes=5):
                raise _error("WAFInvalidParameterException",
                             "TimeWindow must end after it starts, within the previous three hours")
            answer = samples.answer(arn, str(body.get("RuleMetricName", "")), start, end, max_items)
            return 200, {}, json.dumps(answer)

        patches.set(WAFV2Response, "get_sampled_requests", get_sampled_requests)
