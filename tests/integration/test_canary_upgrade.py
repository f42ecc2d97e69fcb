"""playbooks/upgrade.yml and rollback.yml on the demo as site.yml left it at Istio 1.29.6: 1.29.6 -> 1.30.3 by
canary revision with no failed probe request through the move, rollback, upgrade again, each rerun changing
nothing; what Istio does not support, or a rollback with nothing to roll back to, refused before any change;
check mode writes nothing; teardown leaves no revision, tag or record behind."""

import json
import os
import time

import pytest
import sandboxrun

from playbook import PlaybookRun, collection_playbook, run_playbook, verify_report

pytestmark = pytest.mark.minutes(8)


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INVENTORY = os.path.join(ROOT, "inventories", "sandbox")
OLD, NEW = "1.29.6", "1.30.3"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    """Its own sandbox, with the demo installed at Istio 1.29.6 (default revision, istio-injection=enabled)."""
    state_dir = str(tmp_path_factory.mktemp("canary") / "state")
    cluster = sandboxrun.start(state_dir, "--istio-version", OLD)
    try:
        rc, stats, proc = collection_playbook(cluster, tmp_path_factory.mktemp("site"), "site.yml",
                                              "-e", "istio_install_version=" + OLD)
        assert rc == 0, PlaybookRun(proc).outline()
        yield cluster
    finally:
        sandboxrun.stop(state_dir)


def play(cluster, tmp_path, name, *extra):
    rc, stats, proc = collection_playbook(cluster, tmp_path, name, *extra)
    return rc, stats, PlaybookRun(proc)


def proxies(cluster, namespace):
    """The proxy release of every pod of the namespace (None for a pod without one)."""
    pods = json.loads(cluster.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
    found = set()
    for pod in pods:
        images = [c["image"] for c in pod["spec"]["containers"] if c["name"] == "istio-proxy"]
        if pod["metadata"]["labels"].get("app") == "istio-ingressgateway":
            images = [pod["spec"]["containers"][0]["image"]]
        found.add(images[0].rsplit(":", 1)[1] if images else None)
    return found


def istiods(cluster):
    """{istiod Deployment: release} in istio-system (one being deleted - istioctl deletes in the foreground and
    does not wait for its pods to stop - is on its way out and not counted)."""
    deps = json.loads(cluster.kubectl("get", "deploy", "-n", "istio-system", "-l", "app=istiod", "-o",
                                      "json").stdout)["items"]
    return dict((d["metadata"]["name"], d["spec"]["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[1])
                for d in deps if not d["metadata"].get("deletionTimestamp"))


def gateway(cluster):
    dep = json.loads(cluster.kubectl("get", "deploy", "istio-ingressgateway", "-n", "istio-system", "-o",
                                     "json").stdout)
    return dep["spec"]["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[1], \
        dep["metadata"]["labels"]["istio.io/rev"]


def probe_report(run):
    """What the background probes saw, as the role noted it."""
    facts = [r["ansible_facts"]["canary_upgrade_probe_report"] for r in run.results().values()
             if "canary_upgrade_probe_report" in (r.get("ansible_facts") or {})]
    assert facts, run.outline()
    return facts[-1]


def assert_moved(cluster, run, release, revision):
    report = probe_report(run)
    # the probes' stop file, and the private file it is named after, are gone with the move
    made = [r["path"] for name, r in run.results().items() if name.endswith("Make the file the stop file is named after")]
    assert made and not [p for p in made + [m + ".stop" for m in made] if os.path.exists(p)], made
    assert sorted(p["url"].rsplit("/", 1)[1] for p in report) == ["v1", "v2"]
    # both routes watched by one background probe (one module process), side by side
    jobs = [r for name, r in run.results().items() if name.endswith("Probe the routes in the background")]
    assert jobs and [len(j["results"]) for j in jobs] == [1] * len(jobs), jobs
    # the routes kept answering all through the move: every request of every probe
    assert all(p["requests"] > 20 and p["failed"] == 0 for p in report), report
    assert proxies(cluster, "my-app") == {release}
    assert istiods(cluster) == {"istiod-" + revision: release}
    assert gateway(cluster) == (release, revision)  # upgraded in place by the revision's install
    labels = json.loads(cluster.kubectl("get", "ns", "my-app", "-o", "json").stdout)["metadata"]["labels"]
    assert labels.get("istio.io/rev") == "prod-stable" and "istio-injection" not in labels
    tag = json.loads(cluster.kubectl("get", "mutatingwebhookconfiguration", "istio-revision-tag-prod-stable",
                                     "-o", "json").stdout)
    assert tag["metadata"]["labels"]["istio.io/rev"] == revision


REFUSED = [
    ("the running release", "main.yml", {"canary_upgrade_version": OLD},
     ["canary_upgrade_version=1.29.6 is the release the mesh runs (revision default)", "newer release"]),
    ("an older release", "main.yml", {"canary_upgrade_version": "1.28.10"},
     ["canary_upgrade_version=1.28.10 is older than the release the mesh runs (1.29.6", "roll back"]),
    ("three minor releases up", "main.yml", {"canary_upgrade_version": "1.32.0"},
     ["more than two minor releases above 1.29.6", "upgrade to 1.31.x first"]),
    ("a tag that is not a DNS label", "main.yml", {"canary_upgrade_version": NEW, "canary_upgrade_tag": "Prod_Stable"},
     ['canary_upgrade_tag="Prod_Stable"', "DNS label"]),
    ("a namespace that does not exist", "main.yml", {"canary_upgrade_version": NEW,
                                                     "canary_upgrade_namespaces": ["my-app", "shop"]},
     ["canary_upgrade_namespaces names shop, which does not exist"]),
    ("a rollback before any upgrade", "rollback.yml", {},
     ["nothing to roll back to: no canary upgrade of tag prod-stable is recorded"]),
]


def test_what_istio_does_not_support_is_refused_before_any_change(mesh, tmp_path):
    start = time.time()
    role = "istio_demo.mesh.canary_upgrade"
    # each case in a block of its own: its first failure ends that case (rescued), the next case runs
    tasks = [{"name": case, "block": [{"name": "run " + case, "vars": variables,
                                       "ansible.builtin.include_role": {"name": role, "tasks_from": entry}}],
              "rescue": [{"name": "rescued " + case, "ansible.builtin.debug": {"msg": "refused"}}]}
             for case, entry, variables, dummy in REFUSED]
    run = run_playbook(tmp_path, tasks, extra_args=["-i", INVENTORY], env=mesh.inventory_env())
    # every case's play fails at its own refusal: the failed tasks, in order, one per case
    results = [r for play in run.data["plays"] for task in play["tasks"] for r in task["hosts"].values()
               if r.get("failed")]
    failed = []
    for result in results:
        items = [str(i.get("msg", "")) for i in result.get("results", []) if i.get("failed")]
        failed.append(" ".join(" ".join([str(result.get("msg", ""))] + items).split()))
    assert len(failed) == len(REFUSED), run.outline()
    for (case, dummy_entry, dummy_vars, expected), message in zip(REFUSED, failed):
        for text in expected:
            assert text in message, (case, message)
    assert [e for e in mesh.writes(start) if not e["dry_run"]] == []


def test_revision_tag_module_moves_a_tag_only_when_it_must(mesh, tmp_path):
    istioctl = os.path.join(mesh.state_dir, "bin", "istioctl-" + OLD)

    def tag(**options):
        options = dict(tag="probe-tag", istioctl_path=istioctl, **options)
        return {"name": "tag", "istio_demo.mesh.revision_tag": options, "register": "out", "ignore_errors": True}
    tasks = [dict(tag(revision="default"), name="create"), dict(tag(revision="default"), name="again"),
             dict(tag(revision="1-31-0"), name="unknown revision"),
             dict(tag(state="absent"), name="remove in check mode", check_mode=True),
             dict(tag(state="absent"), name="remove"), dict(tag(state="absent"), name="remove again")]
    run = run_playbook(tmp_path, tasks, extra_args=["-i", INVENTORY], env=mesh.inventory_env())
    results = run.results()
    created = results["create"]
    assert created["changed"] and created["previous_revision"] is None and created["revision"] == "default"
    assert created["command"][1:] == ["tag", "set", "probe-tag", "--revision", "default", "--overwrite",
                                      "--skip-confirmation"] + created["command"][8:]
    assert not results["again"]["changed"] and results["again"]["command"] == []
    unknown = results["unknown revision"]
    assert unknown["failed"] and "revision='1-31-0' has no control plane" in unknown["msg"]
    assert "installed revisions: default" in unknown["msg"]
    assert results["remove in check mode"]["changed"] and results["remove in check mode"]["command"] == []
    assert results["remove"]["changed"] and results["remove"]["revision"] is None
    assert not results["remove again"]["changed"]
    assert mesh.kubectl("get", "mutatingwebhookconfiguration", "-l", "istio.io/tag=probe-tag", "-o",
                        "name").stdout.strip() == ""
    # the default tag istioctl install made is untouched
    assert default_tag(mesh) == "default"


def test_check_mode_writes_nothing(mesh, tmp_path):
    start = time.time()
    rc, stats, run = play(mesh, tmp_path, "upgrade.yml", "-e", "canary_upgrade_version=" + NEW, "--check")
    assert rc == 0, run.outline()
    assert stats["changed"] > 0
    assert [e for e in mesh.writes(start) if not e["dry_run"]] == []
    assert istiods(mesh) == {"istiod": OLD}


def enrolled_pod(cluster, namespace, name):
    """A pod made in ``namespace`` (created, labelled istio-injection=enabled, when missing): the revision that
    injected it (None: no sidecar)."""
    if cluster.kubectl("get", "namespace", namespace, check=False).returncode != 0:
        cluster.kubectl("create", "namespace", namespace)
        cluster.kubectl("label", "namespace", namespace, "istio-injection=enabled")
    made = cluster.kubectl("run", name, "-n", namespace, "--image=gcr.io/google-samples/hello-app:1.0", "-o", "json")
    return (json.loads(made.stdout)["metadata"].get("annotations") or {}).get("istio.io/rev")


def default_tag(cluster):
    hook = cluster.kubectl("get", "mutatingwebhookconfiguration", "istio-revision-tag-default", "-o", "json",
                           check=False)
    return json.loads(hook.stdout)["metadata"]["labels"]["istio.io/rev"] if hook.returncode == 0 else None


def test_upgrade_rollback_and_upgrade_again_with_every_route_answering(mesh, tmp_path):
    upgrade = ("upgrade.yml", "-e", "canary_upgrade_version=" + NEW)
    # a namespace outside the plan, enrolled the usual way: its proxy keeps the old revision from going
    assert default_tag(mesh) == "default" and enrolled_pod(mesh, "shop", "cart") == "default"
    rc, stats, run = play(mesh, tmp_path, *upgrade)
    assert rc != 0
    message = " ".join(str(r.get("msg", "")) for r in run.results().values() if r.get("failed"))
    assert "revision default still serves 1 proxies outside canary_upgrade_namespaces (my-app): shop/cart" in message, \
        message
    assert istiods(mesh) == {"istiod": OLD, "istiod-1-30-3": NEW}  # nothing was removed
    # the default tag moved first: the namespace's next pod gets the new revision, and the rerun goes on
    assert default_tag(mesh) == "1-30-3"
    mesh.kubectl("delete", "pod", "cart", "-n", "shop")
    assert enrolled_pod(mesh, "shop", "cart") == "1-30-3"
    rc, stats, run = play(mesh, tmp_path, *upgrade)
    assert rc == 0, run.outline()
    assert_moved(mesh, run, NEW, "1-30-3")
    # a namespace enrolled the usual way after the upgrade still gets sidecars, from the new revision
    assert enrolled_pod(mesh, "later", "one") == "1-30-3"
    mesh.kubectl("delete", "namespace", "shop", "later")
    rc, stats, run = play(mesh, tmp_path, *upgrade)
    assert rc == 0 and stats["changed"] == 0, run.outline()
    # the control plane's and the apps' checks pass, told the release and revision the mesh runs now
    rc, text, run = verify_report(mesh, tmp_path, "--tags", "istio,apps", "-e", "istio_install_version=" + NEW,
                                  "-e", "istio_install_revision=1-30-3")
    assert rc == 0, run.outline()
    # the report's Revisions section: the one revision left, its tag, the demo's pods on its proxy
    lines = text.splitlines()
    row = lines[lines.index("## Revisions") + 4]
    # (the default tag moved with it)
    assert row.startswith("| 1-30-3 | 1.30.3 | default, prod-stable | my-app/my-app-v1-"), row
    assert "pass | 1-30-3 (1.30.3) tagged default, prod-stable" in "\n".join(lines)

    rc, stats, run = play(mesh, tmp_path, "rollback.yml")
    assert rc == 0, run.outline()
    assert_moved(mesh, run, OLD, "1-29-6")  # the removed release, reinstalled as a revision
    assert default_tag(mesh) == "1-29-6"  # and the default tag back on it
    rc, stats, run = play(mesh, tmp_path, "rollback.yml")
    assert rc == 0 and stats["changed"] == 0, run.outline()

    rc, stats, run = play(mesh, tmp_path, *upgrade)
    assert rc == 0, run.outline()
    assert_moved(mesh, run, NEW, "1-30-3")

    rc, stats, run = play(mesh, tmp_path, "teardown.yml", "-e", "istio_install_version=" + NEW)
    assert rc == 0, run.outline()
    # no webhook of Istio's is left (EKS's own pod-identity-webhook stays)
    assert mesh.kubectl("get", "mutatingwebhookconfiguration,validatingwebhookconfiguration", "-o",
                        "name").stdout.split() == ["mutatingwebhookconfiguration.admissionregistration.k8s.io/"
                                                   "pod-identity-webhook"]
    assert mesh.kubectl("get", "ns", "istio-system", check=False).returncode != 0
