"""istio_demo.mesh.istioctl on the sandbox, from a playbook."""

import json
import subprocess
import time

import pytest

from playbook import option_ids, refusal, run_cases, run_playbook
from sandbox import upstream

pytestmark = pytest.mark.minutes(3)


RELEASE = upstream.TESTED[-1]  # the sandbox's istioctl reports the default release


def task(name, **options):
    return {"name": name, "register": name.replace(" ", "_"), "istio_demo.mesh.istioctl": options}


def play(sandbox, tmp_path, tasks, extra=(), env=None):
    return run_playbook(tmp_path, tasks, extra_args=list(extra), env=dict(sandbox.env, **(env or {})))


def writes(sandbox, since):
    return [e for e in sandbox.requests(since) if e["verb"] in ("POST", "PUT", "PATCH", "DELETE")
            and not e["dry_run"]]


def without_istio(sandbox):
    sandbox.faults(istioctl_fail_install=False, never_ready=[], precheck_findings=[])
    subprocess.run(["istioctl", "uninstall", "-y", "--purge"], env=sandbox.env, capture_output=True, check=False,
                   timeout=120)
    sandbox.kubectl("delete", "configmap", "-n", "istio-system", "-l", "istio-demo-mesh/record", "--ignore-not-found",
                    check=False)


@pytest.fixture
def clean(sandbox):
    """Each test starts and ends without Istio (the suite's shared sandbox may hold one from a file that ran
    before on the same worker)."""
    without_istio(sandbox)
    yield
    without_istio(sandbox)


def test_install_rerun_upgrade_check_mode_and_uninstall(sandbox, tmp_path, clean):
    first = play(sandbox, tmp_path, [task("install", version=RELEASE, wait_timeout=60)])
    assert first.rc == 0, first.stdout[-3000:]
    installed = first.result("install")
    assert installed["changed"] is True and installed["operation"] == "install"
    assert installed["client_version"] == RELEASE
    assert installed["command"][1:5] == ["install", "-y", "--set", "profile=demo"]
    assert "Installation complete" in "\n".join(installed["stdout_lines"])
    plane = installed["control_plane"]
    assert plane["version"] == RELEASE
    names = sorted(c["name"] for c in plane["components"])
    assert names == ["istio-egressgateway", "istio-ingressgateway", "istiod"]
    assert all(c["healthy"] and c["ready"] == c["desired"] == 1 for c in plane["components"])
    record = json.loads(sandbox.kubectl("get", "configmap", "istio-demo-mesh-installed-spec", "-n", "istio-system",
                                        "-o", "json").stdout)
    assert json.loads(record["data"]["spec"])["profile"] == "demo"

    before = time.time()
    again = play(sandbox, tmp_path, [task("again", version=RELEASE, wait_timeout=60)])
    assert again.rc == 0
    assert again.result("again")["changed"] is False and again.result("again")["command"] == []
    assert writes(sandbox, before) == []

    values = {"meshConfig": {"accessLogFile": "/dev/stdout"}, "values": {"global": {"proxy": {"privileged": False}}}}
    before = time.time()
    checked = play(sandbox, tmp_path, [task("check", set_values=values)], extra=["--check", "--diff"])
    assert checked.rc == 0
    result = checked.result("check")
    assert result["changed"] is True and result["operation"] == "upgrade"
    assert "values changed" in result["reasons"][0]
    assert "meshConfig.accessLogFile" in result["diff"]["after"]
    assert writes(sandbox, before) == []

    upgraded = play(sandbox, tmp_path, [task("upgrade", set_values=values, wait_timeout=60)])
    assert upgraded.rc == 0, upgraded.stdout[-3000:]
    command = upgraded.result("upgrade")["command"]
    assert "meshConfig.accessLogFile=/dev/stdout" in command and "values.global.proxy.privileged=false" in command
    assert upgraded.result("upgrade")["changed"] is True

    removed = play(sandbox, tmp_path, [task("remove", state="absent", purge=True),
                                       task("remove again", state="absent", purge=True)])
    assert removed.rc == 0, removed.stdout[-3000:]
    assert removed.result("remove")["changed"] is True
    assert removed.result("remove again")["changed"] is False
    assert json.loads(sandbox.kubectl("get", "deploy", "-n", "istio-system", "-o", "json").stdout)["items"] == []


def test_missing_component_is_repaired(sandbox, tmp_path, clean):
    assert play(sandbox, tmp_path, [task("install", wait_timeout=60)]).rc == 0
    sandbox.kubectl("delete", "deployment", "istio-egressgateway", "-n", "istio-system")
    repaired = play(sandbox, tmp_path, [task("repair", wait_timeout=60)])
    assert repaired.rc == 0
    assert repaired.result("repair")["changed"] is True
    assert "component istio-egressgateway is missing" in repaired.result("repair")["reasons"]
    sandbox.kubectl("get", "deployment", "istio-egressgateway", "-n", "istio-system")


def test_half_failed_install_fails_with_istioctls_words_and_the_next_run_repairs(sandbox, tmp_path, clean):
    sandbox.faults(istioctl_fail_install=True)
    failed = play(sandbox, tmp_path, [task("install", wait_timeout=30)])
    sandbox.faults(istioctl_fail_install=False)
    assert failed.rc != 0
    message = failed.result("install")["msg"]
    assert "istioctl install failed" in message and "istio-system/istio-ingressgateway" in message
    assert "Traceback" not in message
    repaired = play(sandbox, tmp_path, [task("install", wait_timeout=60)])
    assert repaired.rc == 0, repaired.stdout[-3000:]
    result = repaired.result("install")
    assert result["operation"] == "upgrade" and "no record of its spec" in result["reasons"][0]
    assert sorted(c["name"] for c in result["control_plane"]["components"] if c["healthy"]) == [
        "istio-egressgateway", "istio-ingressgateway", "istiod"]


def test_component_that_never_gets_ready_is_named(sandbox, tmp_path, clean):
    sandbox.faults(never_ready=["istio-system/istio-ingressgateway-*"])
    failed = play(sandbox, tmp_path, [task("install", wait_timeout=3)])
    assert failed.rc != 0
    message = failed.result("install")["msg"]
    assert "not ready within 3 s" in message and "istio-system/istio-ingressgateway" in message


def test_precheck_findings_are_listed(sandbox, tmp_path, clean):
    sandbox.faults(precheck_findings=["Error [IST0134] (ServiceAccount default/x) ServiceAccount is not ready"])
    failed = play(sandbox, tmp_path, [task("install")])
    assert failed.rc != 0
    result = failed.result("install")
    assert "precheck found 1 issue" in result["msg"] and "IST0134" in result["msg"]
    assert json.loads(sandbox.kubectl("get", "deploy", "-n", "istio-system", "-o", "json").stdout)["items"] == []


def test_istioctl_acts_as_the_identity_the_module_impersonates(sandbox, tmp_path, clean):
    # the module's own reads and istioctl's requests alike carry Impersonate-User (and the groups): one identity
    sandbox.faults(precheck_findings=["Error [IST0134] (ServiceAccount default/x) ServiceAccount is not ready"])
    before = time.time()
    failed = play(sandbox, tmp_path, [task("install", impersonate_user="mesh-admin",
                                           impersonate_groups=["platform", "system:masters"])])
    assert "precheck found 1 issue" in failed.result("install")["msg"]
    requests = sandbox.requests(before)
    by_istioctl = [e for e in requests if e["user_agent"].startswith("istioctl/")]
    assert by_istioctl and all(e["impersonated_user"] == "mesh-admin" and e["status"] < 400 for e in by_istioctl)
    assert all(e["impersonated_user"] == "mesh-admin" for e in requests if e["path"].startswith("/api"))


BAD_INPUT = [
    (dict(version="1.20.0"), ["version %s" % RELEASE, "version=1.20.0"]),
    (dict(istioctl_path="/nonexistent/istioctl"), ["istioctl_path='/nonexistent/istioctl' does not exist",
                                                   "istio_install role"]),
    (dict(profile="galaxy"), ["profile", "galaxy", "demo"]),
    (dict(revision="Canary_1"), ["revision='Canary_1'", "DNS label"]),
    (dict(set_values={"bad key!": 1}), ["set_values key 'bad key!'"]),
    (dict(overlay_files=["/nonexistent/overlay.yaml"]), ["overlay_files entry '/nonexistent/overlay.yaml'"]),
    (dict(version="latest"), ["version='latest'", RELEASE]),
    (dict(wait_timeout=0), ["wait_timeout=0"]),
]


@pytest.fixture(scope="module")
def bad_input_outcomes(sandbox, tmp_path_factory):
    """Every BAD_INPUT case in one play (run_cases): (outcomes, run, the API server's writes meanwhile)."""
    before = time.time()
    outcomes, run = run_cases(tmp_path_factory.mktemp("bad-input"), [task("bad", **o) for o, dummy in BAD_INPUT],
                              env=dict(sandbox.env))
    return outcomes, run, writes(sandbox, before)


@pytest.mark.parametrize("index", range(len(BAD_INPUT)), ids=option_ids(BAD_INPUT))
def test_bad_input_is_refused_before_anything_runs(bad_input_outcomes, index):
    outcomes, run, written = bad_input_outcomes
    message = refusal(outcomes, run, index)
    for text in BAD_INPUT[index][1]:
        assert text in message, message
    assert written == []  # no case wrote anything


def test_unreachable_cluster_is_named(sandbox, tmp_path):
    kubeconfig = tmp_path / "dead.kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "dead",
        "clusters": [{"name": "dead", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "u"}}]}))
    failed = play(sandbox, tmp_path, [task("dead", kubeconfig=str(kubeconfig))])
    assert failed.rc != 0
    message = failed.result("dead")["msg"]
    assert "cannot" in message and ("connect" in message or "read the Istio control plane" in message)
    assert "Traceback" not in message


def test_precheck_warnings_are_said_and_the_install_goes_on(sandbox, tmp_path, clean):
    # istioctl x precheck exits 1 for warnings as for errors; only errors block
    sandbox.faults(precheck_findings=["Warning [IST0165] (Cluster) a warning an operator should read"])
    run = play(sandbox, tmp_path, [task("install")])
    assert run.rc == 0, run.stdout[-3000:]
    result = run.result("install")
    assert result["changed"] and result["precheck_warnings"] == [
        "Warning [IST0165] (Cluster) a warning an operator should read"]
    assert any("IST0165" in w for w in result.get("warnings", []))


def istioctl_of(sandbox, tmp_path, version):
    """The sandbox's istioctl, reporting and installing another release."""
    path = tmp_path / ("istioctl-" + version)
    path.write_text("#!/bin/sh\nSANDBOX_ISTIO_VERSION=%s exec %s/bin/istioctl \"$@\"\n" % (version, sandbox.state_dir))
    path.chmod(0o755)
    return str(path)


def istiod_image(sandbox, namespace="istio-system", name="istiod"):
    deploy = json.loads(sandbox.kubectl("get", "deploy", name, "-n", namespace, "-o", "json").stdout)
    return deploy["spec"]["template"]["spec"]["containers"][0]["image"]


def test_a_jump_of_two_minor_releases_is_refused_before_any_change(sandbox, tmp_path, clean):
    old = upstream.TESTED[0]
    installed = play(sandbox, tmp_path, [task("old", version=old, profile="minimal", wait_timeout=60,
                                              istioctl_path=istioctl_of(sandbox, tmp_path, old))])
    assert installed.rc == 0, installed.stdout[-3000:]
    assert istiod_image(sandbox).endswith(":" + old)
    before = time.time()
    jumped = play(sandbox, tmp_path, [task("jump", version=RELEASE, profile="minimal", wait_timeout=60)])
    assert jumped.rc != 0
    message = jumped.result("jump")["msg"]
    step = ".".join(old.split(".")[:1] + [str(int(old.split(".")[1]) + 1)])
    assert "from Istio %s to %s" % (old, RELEASE) in message and "go through %s.x first" % step in message
    assert "canary" in message
    assert writes(sandbox, before) == []
    assert istiod_image(sandbox).endswith(":" + old)


def test_an_untested_release_is_warned_about(sandbox, tmp_path, clean):
    installed = play(sandbox, tmp_path, [task("other", version="1.30.0", profile="minimal", wait_timeout=60,
                                              istioctl_path=istioctl_of(sandbox, tmp_path, "1.30.0"))])
    assert installed.rc == 0, installed.stdout[-3000:]
    warnings = " ".join(installed.result("other").get("warnings", []))
    assert "Istio 1.30.0 is not one of the releases" in warnings and ", ".join(upstream.TESTED) in warnings


def test_removing_a_revision_whose_webhook_is_gone_converges(sandbox, tmp_path, clean):
    installed = play(sandbox, tmp_path, [task("canary", profile="minimal", revision="canary", wait_timeout=60)])
    assert installed.rc == 0, installed.stdout[-3000:]
    # every webhook configuration of the revision: its injector's, and the default tag its install made
    sandbox.kubectl("delete", "mutatingwebhookconfiguration", "-l", "istio.io/rev=canary")
    gone = subprocess.run(["istioctl", "uninstall", "-y", "--revision", "canary"], env=sandbox.env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert gone.returncode != 0 and "could not find target revision" in gone.stderr  # what the module meets
    removed = play(sandbox, tmp_path, [task("remove", state="absent", revision="canary"),
                                       task("again", state="absent", revision="canary")])
    assert removed.rc == 0, removed.stdout[-3000:]
    result = removed.result("remove")
    assert result["changed"] is True and "Deployment/istiod-canary" in result["removed_leftovers"]
    assert any("could not find target revision" in w for w in result["warnings"])
    assert removed.result("again")["changed"] is False
    left = sandbox.kubectl("get", "deploy,svc,configmap,validatingwebhookconfiguration", "-A", "-l",
                           "istio.io/rev=canary", "-o", "name").stdout
    assert left.strip() == ""


def test_the_control_plane_goes_where_istio_namespace_says(sandbox, tmp_path, clean):
    options = dict(profile="minimal", istio_namespace="istio-control", wait_timeout=60)
    installed = play(sandbox, tmp_path, [task("install", **options), task("again", **options)])
    try:
        assert installed.rc == 0, installed.stdout[-3000:]
        assert "values.global.istioNamespace=istio-control" in installed.result("install")["command"]
        assert [c["name"] for c in installed.result("install")["control_plane"]["components"]] == ["istiod"]
        assert installed.result("again")["changed"] is False
        istiod_image(sandbox, "istio-control")
        sandbox.kubectl("get", "configmap", "istio-demo-mesh-installed-spec", "-n", "istio-control")
        assert "istiod" not in sandbox.kubectl("get", "deploy", "-n", "istio-system", "-o", "name").stdout
    finally:
        removed = play(sandbox, tmp_path, [task("remove", state="absent", purge=True, **{
            k: v for k, v in options.items() if k != "profile"})])
    assert removed.rc == 0, removed.stdout[-3000:]
    assert sandbox.kubectl("get", "deploy", "-n", "istio-control", "-o", "name").stdout.strip() == ""
