"""The Eviction subresource of pods (POST pods/NAME/eviction, policy/v1 Eviction), as `kubectl drain` and
kubernetes.core's k8s_drain use it: the pod is deleted (with the Eviction's deleteOptions) unless a
PodDisruptionBudget that selects it allows no disruption, which gets 429 (kubernetes.io/docs/concepts/
scheduling-eviction/api-eviction/: "429 Too Many Requests ... the eviction is not currently allowed because of the
configured PodDisruptionBudget"; a pod selected by more than one budget gets 500). A pod that is not running
(Pending, Succeeded, Failed) is evicted whatever its budget says. disruptionsAllowed is the disruption controller's
arithmetic (kubernetes.io/docs/tasks/run-application/configure-pdb/): healthy pods minus desiredHealthy, the
latter minAvailable, or the expected count minus maxUnavailable, a percentage rounded up."""

import math

from .api import ApiError
from .controllers.common import pod_ready
from .selection import label_matches, selector_from_match


def _count(value, expected):
    if isinstance(value, str) and value.endswith("%"):
        return int(math.ceil(expected * int(value[:-1]) / 100.0))
    return int(value)


def disruptions_allowed(budget, pods):
    """(disruptions allowed, desired healthy, healthy) of a budget over the pods it selects."""
    selected = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    expected = len(selected)
    healthy = sum(1 for p in selected if pod_ready(p))
    spec = budget.get("spec") or {}
    if spec.get("maxUnavailable") is not None:
        desired = expected - _count(spec["maxUnavailable"], expected)
    else:
        desired = _count(spec.get("minAvailable", 1), expected)
    return max(0, healthy - desired), desired, healthy


def evict(api, namespace, name, body, dry_run=False):
    pods_kind = api.registry.find("", "v1", "pods")
    pod = api.get(pods_kind, namespace, name)
    options = (body or {}).get("deleteOptions") or {}
    if (pod.get("status") or {}).get("phase") == "Running":
        budgets_kind = api.registry.find("policy", "v1", "poddisruptionbudgets")
        labels = pod["metadata"].get("labels") or {}
        budgets = [b for b in api.list(budgets_kind, namespace)[0]
                   if (b.get("spec") or {}).get("selector") is not None
                   and label_matches(selector_from_match(b["spec"]["selector"]), labels)]
        if len(budgets) > 1:
            raise ApiError(500, "InternalError", "This pod has more than one PodDisruptionBudget, which the eviction "
                                                 "subresource does not support.")
        if budgets:
            pods = [p for p in api.list(pods_kind, namespace)[0]
                    if label_matches(selector_from_match(budgets[0]["spec"]["selector"]),
                                     p["metadata"].get("labels") or {})]
            allowed, desired, healthy = disruptions_allowed(budgets[0], pods)
            if allowed <= 0:
                raise ApiError(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption "
                                                       "budget.",
                               {"causes": [{"reason": "DisruptionBudget",
                                            "message": "The disruption budget %s needs %d healthy pods and has %d "
                                                       "currently" % (budgets[0]["metadata"]["name"], desired,
                                                                      healthy)}]})
    grace = options.get("gracePeriodSeconds")
    api.delete(pods_kind, namespace, name, dry_run=dry_run or "All" in (options.get("dryRun") or []),
               propagation=options.get("propagationPolicy"), preconditions=options.get("preconditions"),
               grace=None if grace is None else int(grace))
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
