"""Pure parts of the istioctl module: values, validation, parsing, the plan."""

import json
import os
import re

import pytest
import yaml

from ansible_collections.istio_demo.mesh.plugins.module_utils import control_plane as cp
from ansible_collections.istio_demo.mesh.plugins.module_utils import istioctl as ic
from ansible_collections.istio_demo.mesh.plugins.module_utils import istioctl_run as run

BASE = {"state": "present", "profile": "demo", "revision": None, "version": None, "set_values": {},
        "overlay_files": [], "wait_timeout": 300, "purge": False, "istio_namespace": "istio-system"}


def params(**changes):
    return dict(BASE, **changes)


@pytest.mark.parametrize("values, flat", [
    ({"meshConfig": {"accessLogFile": "/dev/stdout"}}, {"meshConfig.accessLogFile": "/dev/stdout"}),
    ({"values": {"global": {"proxy": {"privileged": False}}}}, {"values.global.proxy.privileged": "false"}),
    ({"components": {"ingressGateways": [{"name": "gw", "enabled": True}]}},
     {"components.ingressGateways[0].name": "gw", "components.ingressGateways[0].enabled": "true"}),
    ({"values": {"pilot": {"replicaCount": 2}}}, {"values.pilot.replicaCount": "2"}),
    ({}, {}),
])
def test_values_flatten_to_set_keys(values, flat):
    assert ic.flatten_values(values) == flat


@pytest.mark.parametrize("changes, expected", [
    (dict(revision="Canary"), "revision='Canary' is invalid"),
    (dict(revision="default"), "other than 'default'"),
    (dict(version="1.27"), "version='1.27' is invalid"),
    (dict(set_values={"profile": "demo"}), "use the profile option"),
    (dict(set_values={"a b": 1}), "set_values key 'a b'"),
    (dict(set_values={"meshConfig": {}}), "set_values.meshConfig is an empty mapping"),
    (dict(overlay_files=["/no/such/file.yaml"]), "overlay_files entry '/no/such/file.yaml' does not exist"),
    (dict(overlays=[{"kind": "Deployment", "apiVersion": "apps/v1"}]), "overlays[0]={\"apiVersion\": \"apps/v1\""),
    (dict(overlays=["spec: {}"]), "overlays[0]=\"spec: {}\" is invalid: expected an IstioOperator"),
    (dict(wait_timeout=-1), "wait_timeout=-1"),
    (dict(purge=True), "purge=true only applies with state=absent"),
    (dict(istio_namespace="Istio_System"), "istio_namespace='Istio_System'"),
])
def test_bad_input_is_named(changes, expected):
    with pytest.raises(run.IstioctlError) as info:
        ic.validate(params(**changes))
    assert expected in str(info.value)


def test_version_json_with_a_line_before_it():
    text = ('Istio is not present in the cluster: no running Istio pods in namespace "istio-system"\n'
            '{\n  "clientVersion": {"version": "1.24.2", "revision": "abc", "status": "Clean"}\n}\n')
    assert run.parse_version_json(text) == {"client": "1.24.2", "mesh": []}
    mesh = '{"clientVersion": {"version": "1.27.3"}, "meshVersion": [{"Component": "istiod", ' \
           '"Info": {"version": "1.26.1"}}]}'
    assert run.parse_version_json(mesh) == {"client": "1.27.3", "mesh": ["1.26.1"]}
    with pytest.raises(run.IstioctlError):
        run.parse_version_json("command not found")


def test_precheck_findings_and_not_ready_components():
    out = "Error [IST0136] (Cluster) The Kubernetes version v1.25 is lower than 1.28\nWarning [IST0150] x\n"
    assert ic.precheck_findings(out, "") == ["Error [IST0136] (Cluster) The Kubernetes version v1.25 is lower "
                                             "than 1.28", "Warning [IST0150] x"]
    # on a terminal the real command colours its findings; its success line goes to stderr
    coloured = "\x1b[31mError [IST0142] (Cluster) too old\x1b[0m\n\x1b[33mWarning [IST0165] x\x1b[0m\n"
    assert ic.precheck_findings(coloured, "") == ["Error [IST0142] (Cluster) too old", "Warning [IST0165] x"]
    assert ic.blocking_findings(ic.precheck_findings(coloured, "")) == ["Error [IST0142] (Cluster) too old"]
    assert ic.blocking_findings(["Warning [IST0165] x", "Info [IST0102] y"]) == []
    err = ("resources not ready after 5m0s\n  Deployment/istio-system/istio-ingressgateway (container failed)\n"
           "  Deployment/istio-system/istiod (x)\n")
    assert ic.not_ready_components(err) == ["istio-system/istio-ingressgateway", "istio-system/istiod"]


def test_commands_and_masking():
    flat = {"values.global.imagePullSecrets[0]": "regcred", "values.pilot.env.TOKEN": "s3cr3t"}
    command = ic.install_command("/bin/istioctl", params(revision="canary"), flat, ["--context", "demo"], 120)
    assert command[:6] == ["/bin/istioctl", "install", "-y", "--set", "profile=demo", "--revision"]
    assert "--readiness-timeout" in command and "120s" in command and command[-2:] == ["--context", "demo"]
    shown = ic.masked(command, flat)
    assert "values.pilot.env.TOKEN=********" in shown and "s3cr3t" not in " ".join(shown)
    assert ic.uninstall_command("istioctl", params(state="absent", purge=True), []) == [
        "istioctl", "uninstall", "-y", "--purge"]
    assert ic.uninstall_command("istioctl", params(state="absent"), []) == [
        "istioctl", "uninstall", "-y", "--revision", "default"]


LB_OVERLAY = {"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator",
              "spec": {"components": {"ingressGateways": [{"name": "istio-ingressgateway", "enabled": True, "k8s": {
                  "service": {"type": "LoadBalancer", "loadBalancerSourceRanges": ["203.0.113.0/24"]}}}]}}}


def test_inline_overlays_are_written_privately_passed_after_the_files_and_recorded(tmp_path):
    user_file = tmp_path / "user.yaml"
    user_file.write_text("apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec: {}\n")
    workdir = tmp_path / "work"
    workdir.mkdir()
    written = ic.write_overlays([LB_OVERLAY], str(workdir))
    assert len(written) == 1 and (os.stat(written[0]).st_mode & 0o777) == 0o600
    with open(written[0]) as handle:
        assert yaml.safe_load(handle) == LB_OVERLAY  # what istioctl reads back is the mapping given
    both = params(overlay_files=[str(user_file)], overlays=[LB_OVERLAY])
    command = ic.install_command("istioctl", both, {}, [], 60, written)
    files = [command[i + 1] for i, part in enumerate(command) if part == "-f"]
    assert files == [str(user_file), written[0]]
    # the recorded spec changes with the inline overlay's content, and only with it
    spec = ic.desired_spec(both, {}, "1.30.3")
    assert spec == ic.desired_spec(params(overlay_files=[str(user_file)], overlays=[json.loads(json.dumps(
        LB_OVERLAY))]), {}, "1.30.3")
    wider = json.loads(json.dumps(LB_OVERLAY))
    wider["spec"]["components"]["ingressGateways"][0]["k8s"]["service"]["loadBalancerSourceRanges"] = ["10.0.0.0/8"]
    assert ic.desired_spec(params(overlay_files=[str(user_file)], overlays=[wider]), {}, "1.30.3") != spec
    assert ic.desired_spec(params(overlay_files=[str(user_file)]), {}, "1.30.3") != spec
    assert ic.desired_spec(params(), {}, "1.30.3")["overlays_sha256"] == ""


def deployment(name, component, ready=1, desired=1, rev="default", image="docker.io/istio/pilot:1.27.3"):
    return {"metadata": {"name": name, "generation": 1,
                         "labels": {cp.COMPONENT_LABEL: component, "istio.io/rev": rev}},
            "spec": {"replicas": desired, "template": {"spec": {"containers": [{"image": image}]}}},
            "status": {"observedGeneration": 1, "readyReplicas": ready, "availableReplicas": ready}}


def test_plan():
    desired = ic.desired_spec(params(), {}, "1.27.3")
    healthy = cp.component_health([deployment("istiod", "Pilot"), deployment("istio-ingressgateway",
                                                                             "IngressGateways")], "default")
    assert ic.plan(desired, None, [], [])[0] == "install"
    assert ic.plan(desired, None, [], healthy)[0] == "upgrade"
    assert ic.plan(desired, dict(desired), ["istiod", "istio-ingressgateway"], healthy) == ("none", [])
    changed = dict(desired, profile="default")
    action, reasons = ic.plan(desired, changed, ["istiod"], healthy)
    assert action == "upgrade" and reasons == ["profile changed from 'default' to 'demo'"]
    sick = cp.component_health([deployment("istiod", "Pilot", ready=0)], "default")
    action, reasons = ic.plan(desired, dict(desired), ["istiod", "istio-egressgateway"], sick)
    assert reasons == ["component istiod is not healthy (0/1 ready)", "component istio-egressgateway is missing"]
    assert cp.control_plane_version([deployment("istiod", "Pilot")], "default") == "1.27.3"


def test_a_gateway_another_revision_took_over_is_installed_again():
    """A gateway is not revisioned: a canary revision's install takes it over in place, and installing the first
    revision again (a rollback) must give it back."""
    desired = ic.desired_spec(params(), {}, "1.27.3")
    taken = cp.component_health([deployment("istiod", "Pilot"), deployment("istiod-canary", "Pilot", rev="canary"),
                                 deployment("istio-ingressgateway", "IngressGateways", rev="canary")], "default")
    assert [c["name"] for c in taken] == ["istio-ingressgateway", "istiod"]  # the other istiod is not this one's
    action, reasons = ic.plan(desired, dict(desired), ["istiod", "istio-ingressgateway"], taken)
    assert action == "upgrade" and reasons == ["component istio-ingressgateway runs with revision canary"]


def test_annotation_names_keep_their_dots_in_set_paths():
    # istioctl splits a --set path on dots that are not escaped (../shared/upstream/README.md)
    flat = ic.flatten_values({"components": {"ingressGateways": [{"k8s": {"serviceAnnotations": {
        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}}}]}, "values.global.hub": "r.example/istio"})
    key = [k for k in flat if k.startswith("components")][0]
    assert re.split(r"(?<!\\)\.", key) == ["components", "ingressGateways[0]", "k8s", "serviceAnnotations",
                                           "service\\.beta\\.kubernetes\\.io/aws-load-balancer-scheme"]
    assert flat["values.global.hub"] == "r.example/istio"
    assert ic.validate(dict(BASE, set_values={"components": {"ingressGateways": [{"k8s": {"serviceAnnotations": {
        "service.beta.kubernetes.io/aws-load-balancer-internal": "true"}}}]}}))


@pytest.mark.parametrize("current, target, refused", [
    (None, "1.30.3", False),            # nothing installed yet
    ("1.30.3", "1.30.3", False),
    ("1.29.6", "1.30.3", False),        # one minor release up
    ("1.30.3", "1.29.6", False),        # one down
    ("1.28.10", "1.30.3", True),        # two up: through 1.29 first, or a canary revision
    ("1.30.3", "1.28.10", True),
    ("1.27.3", "2.0.0", True),
    ("latest", "1.30.3", False),        # an image tag that is no release: nothing to judge
])
def test_upgrade_paths_istio_supports(current, target, refused):
    error = ic.upgrade_path_error(current, target)
    assert (error is not None) == refused
    if refused:
        assert current in error and target in error and "canary" in error


def test_the_path_named_is_the_next_minor_release():
    assert "go through 1.29.x first" in ic.upgrade_path_error("1.28.10", "1.30.3")
    assert "go through 1.29.x first" in ic.upgrade_path_error("1.30.3", "1.28.10")


def test_releases_outside_the_tested_list_are_named_with_the_list():
    assert ic.untested_warning("1.30.3") is None
    warning = ic.untested_warning("1.31.0")
    assert "1.31.0" in warning and "1.28.10, 1.29.6, 1.30.3" in warning


def test_install_may_take_the_readiness_timeout_per_component():
    # demo: base, pilot, ingress and egress gateways, each awaited with the full timeout
    assert ic.install_timeout("demo", 300) == 4 * 300 + 120
    assert ic.install_timeout("minimal", 60) == 2 * 60 + 120


def test_only_what_is_still_not_ready_is_named():
    text = ("  Deployment/istio-system/istiod (container failed to start)\n"
            "  Deployment/istio-system/istio-ingressgateway (container failed to start)\n")
    health = [{"name": "istiod", "healthy": True}, {"name": "istio-ingressgateway", "healthy": False}]
    assert ic.still_not_ready(text, health, "istio-system") == ["istio-system/istio-ingressgateway"]
    assert ic.still_not_ready(text, [], "istio-system") == ["istio-system/istio-ingressgateway",
                                                            "istio-system/istiod"]


def test_the_control_plane_namespace_reaches_istioctl():
    command = ic.install_command("istioctl", params(istio_namespace="istio-control"), {}, [], 60)
    assert "values.global.istioNamespace=istio-control" in command
    assert run.connection_flags(None, None, "istio-control") == ["--istioNamespace", "istio-control"]
    assert run.connection_flags(None, None, "istio-system") == []
    with pytest.raises(run.IstioctlError, match="values.global.istioNamespace='other' differs"):
        ic.validate(params(istio_namespace="istio-control",
                           set_values={"values": {"global": {"istioNamespace": "other"}}}))


# ---------------------------------------------------------------- running istioctl through the module

def _module(**args):
    """The module object the istioctl module's engine gets: the collection's Kubernetes module class."""
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_module import MeshK8sModule, k8s_argument_spec
    with patch_module_args(args):
        return MeshK8sModule(argument_spec=k8s_argument_spec({}), supports_check_mode=True, check_k8s=False,
                             check_pyyaml=False)


def _script(tmp_path, body):
    path = tmp_path / "istioctl"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def test_runner_returns_what_istioctl_printed_and_its_exit_code(tmp_path):
    binary = _script(tmp_path, 'echo "out $1"; echo "err $2" >&2; exit 3')
    rc, out, err = run.IstioctlRunner(_module(), binary).run([binary, "install", "-y"], timeout=30)
    assert (rc, out, err) == (3, "out install\n", "err -y\n")


def test_runner_stops_an_istioctl_that_outlives_its_timeout(tmp_path):
    binary = _script(tmp_path, "echo started; exec sleep 60")
    with pytest.raises(run.IstioctlError) as failure:
        run.IstioctlRunner(_module(), binary).run([binary, "install"], timeout=1)
    assert "install did not finish within 1 s" in failure.value.args[0]
    assert failure.value.details["stdout_lines"] == ["started"]


def test_runner_names_a_binary_that_cannot_run(tmp_path):
    missing = str(tmp_path / "istioctl")
    with pytest.raises(run.IstioctlError, match="cannot run .*istioctl.*download it from"):
        run.IstioctlRunner(_module(), missing).run([missing, "version"], timeout=30)


def test_istioctl_acts_as_the_identity_and_through_the_proxy_the_module_uses(tmp_path, monkeypatch):
    monkeypatch.delenv("K8S_AUTH_IMPERSONATE_USER", raising=False)
    monkeypatch.delenv("K8S_AUTH_IMPERSONATE_GROUPS", raising=False)
    module = _module(impersonate_user="mesh-operator", impersonate_groups=["platform", "auditors"],
                     proxy="http://proxy.internal:3128", no_proxy="169.254.169.254",
                     proxy_headers={"proxy_basic_auth": "alice:s3cret"})
    assert run.impersonation_flags(module.params) == ["--as", "mesh-operator", "--as-group", "platform",
                                                      "--as-group", "auditors"]
    binary = _script(tmp_path, 'echo "$HTTPS_PROXY $NO_PROXY"')
    rc, out, dummy = run.IstioctlRunner(module, binary).run([binary, "version"], timeout=30)
    assert rc == 0 and out == "http://alice:s3cret@proxy.internal:3128 169.254.169.254\n"
    # kubernetes.core's environment variables, when the options are not given
    monkeypatch.setenv("K8S_AUTH_IMPERSONATE_USER", "ci")
    monkeypatch.setenv("K8S_AUTH_IMPERSONATE_GROUPS", "a,b")
    assert run.impersonation_flags(_module().params) == ["--as", "ci", "--as-group", "a", "--as-group", "b"]
    assert run.proxy_environment(_module().params) == {}
    with pytest.raises(run.IstioctlError, match="proxy_headers.user_agent is not supported with istioctl"):
        run.proxy_environment(_module(proxy="http://p:1", proxy_headers={"user_agent": "x"}).params)
