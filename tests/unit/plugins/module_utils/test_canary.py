"""The canary upgrade's plan, from reads in the shape k8s_info returns them (the istiod Deployments and the
revision tag of tests/unit/plugins/module_utils/fixtures/revisions.json, as the sandbox serves them)."""

import copy
import json
import os

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.istio_demo.mesh.plugins.filter.canary import canary_plan
from ansible_collections.istio_demo.mesh.plugins.module_utils import canary

with open(os.path.join(os.path.dirname(__file__), "fixtures", "revisions.json")) as _handle:
    REVISIONS = json.load(_handle)
OLD_ISTIOD, NEW_ISTIOD = REVISIONS["istiods"]
PROD_STABLE = REVISIONS["revision_tags"][0]


def default_tag(revision):
    """The default tag's webhook configuration as istioctl install / tag set leave it, pointing at ``revision``."""
    hook = copy.deepcopy(PROD_STABLE)
    hook["metadata"]["name"] = "istio-revision-tag-default"
    hook["metadata"]["labels"].update({"istio.io/tag": "default", "istio.io/rev": revision})
    return hook


def namespace_read(name, labels):
    """One of the results of the role's k8s_info read (its queries: one a namespace of canary_upgrade_namespaces)."""
    found = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}] \
        if labels is not None else []
    return {"query": {"kind": "Namespace", "api_version": "v1", "name": name, "namespace": None, "label_selectors": [],
                      "field_selectors": []}, "api_found": True, "resources": found}


def reads(entry="upgrade", istiods=(OLD_ISTIOD,), tag_hooks=(), default_hooks=(), namespaces=None, record=None,
          **extra):
    out = {"entry": entry, "tag": "prod-stable", "version": "1.30.3" if entry == "upgrade" else "",
           "istiods": {"resources": list(istiods)}, "tag_hooks": {"resources": list(tag_hooks)},
           "default_tag_hooks": {"resources": list(default_hooks)},
           "namespace_reads": [namespace_read(name, labels) for name, labels in (
               namespaces or {"my-app": {"istio-injection": "enabled"}}).items()],
           "record": {"resources": [{"data": record}] if record else []},
           "record_name": "istio-demo-mesh-canary-prod-stable"}
    out.update(extra)
    return out


def test_an_upgrade_from_a_fresh_install_moves_the_default_tag_and_removes_the_old_revision():
    plan = canary_plan(reads(default_hooks=[default_tag("default")]))
    assert plan["error"] == ""
    assert (plan["from"], plan["to"]) == ({"revision": "default", "version": "1.29.6"},
                                          {"revision": "1-30-3", "version": "1.30.3"})
    assert plan["install"] and plan["tag_first"] == "default" and plan["relabel"] == ["my-app"]
    assert plan["default_tag_to"] == "1-30-3" and plan["leave"] == ["default"]
    assert plan["summary"] == ("upgrade of tag prod-stable: default (1.29.6) -> 1-30-3 (1.30.3); installs 1-30-3; "
                               "then removes default")


def test_a_rerun_half_way_resumes_and_the_default_tag_still_follows():
    record = {"tag": "prod-stable", "current_revision": "1-30-3", "current_version": "1.30.3",
              "previous_revision": "default", "previous_version": "1.29.6"}
    plan = canary_plan(reads(istiods=[OLD_ISTIOD, NEW_ISTIOD], tag_hooks=[PROD_STABLE],
                             default_hooks=[default_tag("default")],
                             namespaces={"my-app": {"istio.io/rev": "prod-stable"}}, record=record))
    assert plan["error"] == "" and plan["converged"] and not plan["install"]
    assert plan["leave"] == ["default"] and plan["default_tag_to"] == "1-30-3" and plan["relabel"] == []


def test_a_default_tag_on_another_kept_revision_is_left_alone():
    kept = copy.deepcopy(NEW_ISTIOD)
    kept["metadata"]["name"], kept["metadata"]["labels"]["istio.io/rev"] = "istiod-blue", "blue"
    plan = canary_plan(reads(istiods=[OLD_ISTIOD, kept], default_hooks=[default_tag("blue")],
                             namespaces={"my-app": {"istio.io/rev": "default"}}))
    assert plan["error"] == "" and plan["default_tag_to"] == ""


def test_istio_injection_wins_over_istio_io_rev():
    plan = canary_plan(reads(default_hooks=[default_tag("default")],
                             namespaces={"my-app": {"istio-injection": "enabled", "istio.io/rev": "prod-stable"}}))
    assert plan["error"] == "" and plan["from"]["revision"] == "default" and plan["relabel"] == ["my-app"]


def test_a_rollback_points_the_default_tag_back_at_the_reinstalled_release():
    record = {"tag": "prod-stable", "current_revision": "1-30-3", "current_version": "1.30.3",
              "previous_revision": "default", "previous_version": "1.29.6"}
    plan = canary_plan(reads(entry="rollback", istiods=[NEW_ISTIOD], tag_hooks=[PROD_STABLE],
                             default_hooks=[default_tag("1-30-3")],
                             namespaces={"my-app": {"istio.io/rev": "prod-stable"}}, record=record))
    assert plan["error"] == ""
    assert plan["to"] == {"revision": "1-29-6", "version": "1.29.6"} and plan["install"]
    assert plan["default_tag_to"] == "1-29-6" and plan["leave"] == ["1-30-3"]
    assert plan["record"]["rolled_back_from_revision"] == "1-30-3"


def test_a_registry_with_a_port_is_no_release():
    ported = copy.deepcopy(OLD_ISTIOD)
    ported["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example:5000/istio/pilot:1.29.6"
    assert canary.revisions_of([ported]) == {"default": "1.29.6"}
    ported["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example:5000/istio/pilot"
    assert canary.revisions_of([ported]) == {"default": ""}


@pytest.mark.parametrize("extra, expected", [
    ({"version": "1.29.6"}, "canary_upgrade_version=1.29.6 is the release the mesh runs (revision default)"),
    ({"version": "1.28.10"}, "is older than the release the mesh runs (1.29.6, revision default)"),
    ({"version": "1.32.0"}, "upgrade to 1.31.x first"),
    ({"tag": "default"}, "canary_upgrade_tag=default is the name of an installed revision"),
])
def test_moves_istio_does_not_support_are_refused(extra, expected):
    assert expected in canary_plan(reads(default_hooks=[default_tag("default")], **extra))["error"]


def test_a_missing_namespace_and_a_rollback_with_nothing_recorded_are_refused():
    plan = canary_plan(reads(namespaces={"my-app": {"istio-injection": "enabled"}, "shop": None}))
    assert "canary_upgrade_namespaces names shop, which does not exist" in plan["error"]
    plan = canary_plan(reads(entry="rollback"))
    assert "nothing to roll back to: no canary upgrade of tag prod-stable is recorded" in plan["error"]
    assert plan["default_tag_to"] == ""


@pytest.mark.parametrize("value", [None, [], {"entry": "upgrade"}, dict(reads(), entry="sideways")])
def test_input_that_is_not_the_roles_reads_is_refused(value):
    with pytest.raises(AnsibleFilterError, match="canary_plan"):
        canary_plan(value)


def test_namespace_reads_of_a_loop_plan_as_those_of_queries():
    """A play that reads the namespaces with a loop of k8s_info (each result naming its item) gets the same plan."""
    queried = reads(default_hooks=[default_tag("default")], namespaces={"my-app": {"istio-injection": "enabled"},
                                                                        "gone": None})
    looped = copy.deepcopy(queried)
    looped["namespace_reads"] = [{"item": r["query"]["name"], "resources": r["resources"], "changed": False}
                                 for r in queried["namespace_reads"]]
    assert canary_plan(looped) == canary_plan(queried)
    assert canary_plan(queried)["relabel"] == ["my-app"]
