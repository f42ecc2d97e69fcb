"""kubernetes.core's own integration targets, run against the sandbox as ``ansible-test integration`` runs them.

The targets are read from ../shared/upstream/kubernetes.core/VERSION/tests/integration/targets (the release the
collection installs); nothing of them is copied into the project. ansible-test runs each target's ``runme.sh`` from
the target's directory inside an ``ansible_collections/kubernetes/core`` tree (so a playbook there resolves the
short names ``k8s``, ``k8s_info`` ... and the collection's action plugins as kubernetes.core's own), with the
cluster in the kubeconfig. This does the same: a scratch tree under build/k8s-core-targets (not in git) whose
``plugins`` and metadata are the installed kubernetes.core's (symbolic links) and whose ``tests/integration/targets``
is a fresh copy of the upstream directory, one fresh sandbox per target, and the target's output in build/k8s-core-targets/logs/TARGET.log.

    python tests/k8s_core_targets/run.py [--jobs N] [TARGET ...]

Prints one line per target (passed / FAILED / skipped and why) and its time; exits non-zero if any failed.
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

import sandboxrun  # noqa: E402  pylint: disable=wrong-import-position

UPSTREAM = os.path.join(os.path.dirname(ROOT), "shared", "upstream", "kubernetes.core")
WORK = os.path.join(ROOT, "build", "k8s-core-targets")

# Targets that cannot pass on any machine of this kind, whatever the cluster: the reason is outside the sandbox.
# (Helm's targets need the helm binary and chart repositories on the internet; they are not kubernetes.core's
# Kubernetes API surface and are not run.)
NOT_HERE = {
    "k8s_manifest_url": "applies manifests fetched from raw.githubusercontent.com; this machine has no internet",
    "k8s_info": "its discovery part applies KubeVirt's release manifests from github.com; this machine has no "
                "internet",
    "lookup_kustomize": "installs kustomize with a script from raw.githubusercontent.com; this machine has no "
                        "internet",
}

# targets that need another kubernetes client release than the venv's, and why
CLIENT_RELEASE = {
    # kubernetes.core 6.2.0's k8s_cp runs its probes with `command="find"` (a string); the client's 37 releases
    # validate their arguments (pydantic) and refuse it ("Input should be a valid list"), whatever the cluster
    "k8s_copy": "36.0.3",
}


def client_release(version):
    """A directory holding that release of the kubernetes client, installed once, put first on the target's path."""
    where = os.path.join(WORK, "clients", version)
    if not os.path.isdir(os.path.join(where, "kubernetes")):
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", where,
                        "kubernetes==" + version], check=True)
    return where


def installed_collection():
    """The kubernetes.core the project's venv holds (the ``ansible`` package's) and its version."""
    from ansible_collections.kubernetes import core  # pylint: disable=import-outside-toplevel
    path = os.path.dirname(core.__file__) if getattr(core, "__file__", None) else list(core.__path__)[0]
    with open(os.path.join(path, "MANIFEST.json")) as handle:
        return path, json.load(handle)["collection_info"]["version"]


def installed_root():
    """The directory holding the venv's ansible_collections."""
    return os.path.dirname(os.path.dirname(os.path.dirname(installed_collection()[0])))


def build_tree(version):
    """build/k8s-core-targets/collections/ansible_collections/kubernetes/core: the installed collection's files (by
    symbolic link) and the upstream targets."""
    installed, dummy = installed_collection()
    core = os.path.join(WORK, "collections", "ansible_collections", "kubernetes", "core")
    if os.path.isdir(core):
        shutil.rmtree(core)
    os.makedirs(os.path.join(core, "tests", "integration"))
    for entry in os.listdir(installed):
        if entry != "tests":
            os.symlink(os.path.join(installed, entry), os.path.join(core, entry))
    targets = os.path.join(UPSTREAM, version, "tests", "integration", "targets")
    if not os.path.isdir(targets):
        raise SystemExit("kubernetes.core %s's targets are not in %s" % (version, targets))
    # a copy in the scratch tree, not a link: ansible-core resolves a playbook's real path, and only a path inside
    # ansible_collections/kubernetes/core gives the targets' playbooks the collection's context
    shutil.copytree(targets, os.path.join(core, "tests", "integration", "targets"), symlinks=True)
    return core


def all_targets(core):
    """The targets ansible-test would run for the Kubernetes modules: those with a runme.sh, not disabled, helm's
    left out."""
    found = []
    targets = os.path.join(core, "tests", "integration", "targets")
    for name in sorted(os.listdir(targets)):
        aliases = os.path.join(targets, name, "aliases")
        words = open(aliases).read().split() if os.path.exists(aliases) else []
        if name.startswith(("helm", "install_helm", "push_to_helm", "setup_")) or "disabled" in words:
            continue
        if os.path.exists(os.path.join(targets, name, "runme.sh")):
            found.append(name)
    return found


def run_target(core, name, timeout):
    """Run one target against a sandbox of its own: (name, status, seconds, detail)."""
    if name in NOT_HERE:
        return name, "skipped", 0.0, NOT_HERE[name]
    state_dir = os.path.join(WORK, "sandboxes", name)
    shutil.rmtree(state_dir, ignore_errors=True)
    log_path = os.path.join(WORK, "logs", name + ".log")
    start = time.time()
    try:
        running = sandboxrun.start(state_dir)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        sandboxrun.stop(state_dir)
        return name, "FAILED", time.time() - start, "the sandbox did not start: %s" % exc
    try:
        env = dict(running.env)
        env.update({
            # the scratch tree first (kubernetes.core as ansible-test lays it out), then the collections the venv's
            # ansible package holds (community.general and the others a target's playbook uses, as ansible-test
            # installs a collection's test dependencies)
            "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join([os.path.join(WORK, "collections"), installed_root()]),
            "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
            "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            # ansible-test's own integration environment
            "ANSIBLE_TEST_PYTHON_INTERPRETER": sys.executable, "OUTPUT_DIR": os.path.join(WORK, "output", name),
        })
        # the cluster in ~/.kube/config, as the targets expect it (setup_kubeconfig, lookup_k8s read it there)
        home = os.path.join(WORK, "home", name)
        shutil.rmtree(home, ignore_errors=True)
        os.makedirs(os.path.join(home, ".kube"))
        # (with a client certificate, as the kind cluster of kubernetes.core's CI gives it: setup_kubeconfig copies
        # the certificate and key out of it)
        shutil.copy(os.path.join(state_dir, "kubeconfig-admin-cert"), os.path.join(home, ".kube", "config"))
        env["HOME"] = home
        # and nowhere else: ansible-test's environment names no kubeconfig (k8s_full checks that a missing
        # ~/.kube/config makes the module fail)
        for variable in [v for v in env if v == "KUBECONFIG" or v.startswith("K8S_AUTH_")]:
            del env[variable]
        env.pop("PYTHONPATH", None)
        if name in CLIENT_RELEASE:
            env["PYTHONPATH"] = client_release(CLIENT_RELEASE[name])
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
        os.makedirs(env["OUTPUT_DIR"], exist_ok=True)
        target_dir = os.path.join(core, "tests", "integration", "targets", name)
        with open(log_path, "w") as log:
            try:
                proc = subprocess.run(["bash", "./runme.sh"],
                                      cwd=target_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                      timeout=timeout, check=False)
                status = "passed" if proc.returncode == 0 else "FAILED"
                detail = "" if proc.returncode == 0 else "exit %d, see %s" % (proc.returncode, log_path)
            except subprocess.TimeoutExpired:
                status, detail = "FAILED", "no end within %d s, see %s" % (timeout, log_path)
    finally:
        sandboxrun.stop(state_dir)
    return name, status, time.time() - start, detail


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help="targets to run (default: all of the Kubernetes modules')")
    parser.add_argument("--jobs", type=int, default=2, help="targets at a time, each with its own sandbox")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds a target may take")
    args = parser.parse_args(argv)
    dummy, version = installed_collection()
    core = build_tree(version)
    os.makedirs(os.path.join(WORK, "logs"), exist_ok=True)
    names = args.targets or all_targets(core)
    started = time.time()
    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for name, status, seconds, detail in pool.map(lambda n: run_target(core, n, args.timeout), names):
            results.append({"target": name, "status": status, "seconds": round(seconds, 1), "detail": detail})
            print("%-28s %-8s %6.1f s  %s" % (name, status, seconds, detail), flush=True)
    with open(os.path.join(WORK, "results.json"), "w") as handle:
        json.dump({"kubernetes.core": version, "seconds": round(time.time() - started, 1), "targets": results},
                  handle, indent=2)
    failed = [r["target"] for r in results if r["status"] == "FAILED"]
    summary = (version, len(results), len(failed), time.time() - started)
    print("kubernetes.core %s: %d targets, %d failed, %.0f s" % summary)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
