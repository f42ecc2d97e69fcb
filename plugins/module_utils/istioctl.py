# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The istioctl module's decisions: input checks, command lines, what precheck and install print, the comparison
of the desired spec with the recorded one, and the module's run (install, upgrade or uninstall).

Running the binary is in ``istioctl_run``; the control plane's health and the record are in ``control_plane``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import shutil

from ansible_collections.istio_demo.mesh.plugins.module_utils.control_plane import (
    Cluster,
    component_health,
    control_plane_state,
    read_record,
    record_body,
    wait_healthy,
)
from ansible_collections.istio_demo.mesh.plugins.module_utils.istioctl_run import (
    IstioctlError,
    IstioctlRunner,
    find_binary,
    istioctl_connection,
    istioctl_workdir,
    last_lines,
)
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_connection import K8sConnectionError, connect
from ansible_collections.istio_demo.mesh.plugins.module_utils.names import dns_label
from ansible_collections.istio_demo.mesh.plugins.module_utils.releases import VERSION_RE

PROFILES = ("ambient", "default", "demo", "empty", "minimal", "openshift", "openshift-ambient", "preview", "remote",
            "stable")
SECRET_WORDS = re.compile(r"(password|passwd|secret|token|credential|private|apikey|api_key|key$)", re.I)
# a --set path: names joined by dots; a name may hold escaped dots (\.), '-' and '/' (an annotation name such as
# service\.beta\.kubernetes\.io/aws-load-balancer-scheme), and end in a list index
SET_NAME = r"(?:[A-Za-z0-9_/-]|\\\.)+(?:\[(?:\d+|[A-Za-z0-9_-]+:[A-Za-z0-9_.-]+)\])?"
SET_KEY = re.compile(r"^%s(?:\.%s)*$" % (SET_NAME, SET_NAME))
NOT_READY = re.compile(r"(Deployment|DaemonSet|StatefulSet)/([a-z0-9.-]+)/([a-z0-9.-]+)")
# The Istio releases this collection is tested with (README "Supported Istio releases").
TESTED_RELEASES = ("1.28.10", "1.29.6", "1.30.3")
# Components `istioctl install` waits for, one after the other, each with the full --readiness-timeout
# (Istio's operator/pkg/install/install.go and wait.go), by profile (manifests/profiles at 1.30).
PROFILE_COMPONENTS = {"ambient": 4, "default": 3, "demo": 4, "empty": 1, "minimal": 2, "openshift": 4,
                      "openshift-ambient": 4, "preview": 3, "remote": 2, "stable": 3}
# what `istioctl uninstall --revision R` says when R's injector webhook is gone (Istio's operator/cmd/mesh/uninstall.go)
REVISION_GONE = "could not find target revision"


# ---------------------------------------------------------------- input

def flatten_values(values, prefix=""):
    """{'a': {'b': 1}} -> {'a.b': '1'}: the keys istioctl's --set takes."""
    flat = {}
    for key, value in (values or {}).items():
        # a top-level key is a --set path as written (values.global.hub); a key of a nested mapping is one name,
        # and istioctl splits paths on dots, so its dots (an annotation name) are escaped as \.
        path = "%s.%s" % (prefix, str(key).replace(".", "\\.")) if prefix else str(key)
        if isinstance(value, dict):
            if not value:
                raise IstioctlError("set_values.%s is an empty mapping: expected a value or nested keys" % path)
            flat.update(flatten_values(value, path))
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    flat.update(flatten_values(item, "%s[%d]" % (path, index)))
                else:
                    flat["%s[%d]" % (path, index)] = render_value(item)
        else:
            flat[path] = render_value(value)
    return flat


def render_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def validate(params):
    """Check what the argument spec cannot say (its types and choices come first) before anything runs; raise
    IstioctlError naming option, value, expectation."""
    state = params.get("state") or "present"
    revision = params.get("revision")
    if revision and (not dns_label(revision) or revision == "default"):
        raise IstioctlError("revision=%r is invalid: expected a DNS label (lower-case letters, digits and '-', at "
                            "most 63 characters) other than 'default'; leave it unset for the default revision"
                            % (revision,))
    version = params.get("version")
    if version and not VERSION_RE.match(str(version)):
        raise IstioctlError("version=%r is invalid: expected an Istio release such as 1.30.3" % (version,))
    flat = flatten_values(params.get("set_values") or {})
    for key in flat:
        if not SET_KEY.match(key):
            raise IstioctlError("set_values key %r is invalid: expected dotted names such as "
                                "values.global.proxy.resources.requests.cpu" % (key,))
        if key == "profile":
            raise IstioctlError("set_values.profile is not allowed: use the profile option")
        if key == "revision":
            raise IstioctlError("set_values.revision is not allowed: use the revision option")
    for path in params.get("overlay_files") or []:
        if not os.path.isfile(path):
            raise IstioctlError("overlay_files entry %r does not exist: expected a readable IstioOperator YAML file"
                                % (path,))
        if not os.access(path, os.R_OK):
            raise IstioctlError("overlay_files entry %r is not readable" % (path,))
    for index, overlay in enumerate(params.get("overlays") or []):
        if not isinstance(overlay, dict) or overlay.get("kind") != "IstioOperator" or \
                not str(overlay.get("apiVersion", "")).startswith("install.istio.io/"):
            raise IstioctlError("overlays[%d]=%s is invalid: expected an IstioOperator (apiVersion "
                                "install.istio.io/v1alpha1, kind IstioOperator) given as a mapping"
                                % (index, json.dumps(overlay, sort_keys=True)[:200]))
    timeout = params.get("wait_timeout")
    if timeout is not None and timeout <= 0:
        raise IstioctlError("wait_timeout=%r is invalid: expected a number of seconds > 0" % (timeout,))
    if params.get("purge") and state != "absent":
        raise IstioctlError("purge=true only applies with state=absent")
    namespace = params.get("istio_namespace") or "istio-system"
    if not dns_label(namespace):
        raise IstioctlError("istio_namespace=%r is invalid: expected a Kubernetes namespace name" % (namespace,))
    if flat.get("values.global.istioNamespace", namespace) != namespace:
        raise IstioctlError("set_values values.global.istioNamespace=%r differs from istio_namespace=%r: set only "
                            "istio_namespace" % (flat["values.global.istioNamespace"], namespace))
    return flat


def _minor(version):
    parts = str(version).split("-", 1)[0].split(".")
    return int(parts[0]), int(parts[1])


def upgrade_path_error(current, target):
    """Why an in-place move from ``current`` to ``target`` is not a path Istio supports, or None.

    istio.io/latest/docs/setup/upgrade/in-place: the installed version must be no more than one minor version
    below the target (1.6.x before 1.7.x); a downgrade likewise goes one minor version at a time."""
    if not current or not target or not VERSION_RE.match(str(current)) or not VERSION_RE.match(str(target)):
        return None
    (cur_major, cur_minor), (new_major, new_minor) = _minor(current), _minor(target)
    if cur_major == new_major and abs(new_minor - cur_minor) <= 1:
        return None
    step = cur_minor + (1 if new_minor > cur_minor else -1)
    return ("moving the control plane from Istio %s to %s in place is not a path Istio supports (one minor release "
            "at a time, istio.io/latest/docs/setup/upgrade/in-place): go through %d.%d.x first, or install %s as a "
            "new revision beside %s (a canary upgrade)" % (current, target, cur_major, step, target, current))


def untested_warning(version):
    if version in TESTED_RELEASES:
        return None
    return ("Istio %s is not one of the releases istio_demo.mesh is tested with (%s): it may work, but nothing here "
            "has proved it" % (version, ", ".join(TESTED_RELEASES)))


def install_timeout(profile, wait_timeout):
    """The longest a healthy install may take: istioctl waits for each component with the full timeout."""
    return PROFILE_COMPONENTS.get(profile, 4) * int(wait_timeout) + 120


def overlay_text(overlay):
    """An inline overlay as istioctl reads it from a file (JSON is YAML), the same text for the same mapping."""
    return json.dumps(overlay, sort_keys=True, indent=2) + "\n"


def overlays_digest(paths, overlays=None):
    """One hash of every overlay's content, the files' first then the inline ones, in order."""
    digest = hashlib.sha256()
    for path in paths or []:
        with open(path, "rb") as handle:
            digest.update(hashlib.sha256(handle.read()).hexdigest().encode())
    for overlay in overlays or []:
        digest.update(hashlib.sha256(overlay_text(overlay).encode()).hexdigest().encode())
    return digest.hexdigest() if paths or overlays else ""


def write_overlays(overlays, workdir):
    """Each inline overlay written to a private file in ``workdir`` (removed with it); their paths, in order."""
    paths = []
    for index, overlay in enumerate(overlays or []):
        path = os.path.join(workdir, "overlay-%d.yaml" % index)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
            handle.write(overlay_text(overlay))
        paths.append(path)
    return paths


def desired_spec(params, flat_values, client_version):
    return {
        "version": client_version,
        "profile": params.get("profile"),
        "revision": params.get("revision") or "default",
        "values": dict(sorted(flat_values.items())),
        "overlays_sha256": overlays_digest(params.get("overlay_files"), params.get("overlays")),
    }


def mask_values(flat_values):
    return {k: ("********" if SECRET_WORDS.search(k.split(".")[-1]) else v) for k, v in flat_values.items()}


# ---------------------------------------------------------------- commands


def install_command(binary, params, flat_values, connection, wait_timeout, overlay_paths=()):
    """``overlay_paths``: the inline overlays' files (write_overlays), passed after overlay_files."""
    command = [binary, "install", "-y", "--set", "profile=%s" % params["profile"]]
    if params.get("revision"):
        command += ["--revision", params["revision"]]
    for key, value in sorted(flat_values.items()):
        command += ["--set", "%s=%s" % (key, value)]
    namespace = params.get("istio_namespace") or "istio-system"
    if namespace != "istio-system" and "values.global.istioNamespace" not in flat_values:
        # where the control plane goes; istioctl reads other namespaces' installs through --istioNamespace
        command += ["--set", "values.global.istioNamespace=%s" % namespace]
    for path in list(params.get("overlay_files") or []) + list(overlay_paths):
        command += ["-f", path]
    command += ["--readiness-timeout", "%ds" % int(wait_timeout)]
    return command + connection


def uninstall_command(binary, params, connection):
    command = [binary, "uninstall", "-y"]
    if params.get("purge"):
        command.append("--purge")
    else:
        command += ["--revision", params.get("revision") or "default"]
    return command + connection


def masked(command, flat_values):
    """The command as it may be shown: secret-looking --set values hidden."""
    secret = set(k for k, v in mask_values(flat_values).items() if v == "********")
    out = []
    for part in command:
        key = part.split("=", 1)[0]
        out.append("%s=********" % key if "=" in part and key in secret else part)
    return out


# ---------------------------------------------------------------- parsing


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def precheck_findings(stdout, stderr):
    """The lines of ``istioctl x precheck`` that name a problem, without terminal colours.

    The real command prints findings on stdout (coloured on a terminal) and exits 1 for any finding of Warning or
    worse; its success line goes to stderr."""
    text = ANSI.sub("", (stdout or "") + "\n" + (stderr or ""))
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    findings = [l for l in lines if re.match(r"^(Error|Warning|Warn|Info)\b", l) or "[IST" in l]
    return findings or [l for l in lines if not l.startswith("\u2714")]


def blocking_findings(findings):
    """Findings that stop an install: errors, and anything that is not plainly a warning or an info."""
    return [f for f in findings if not re.match(r"^(Warning|Warn|Info)\b", f)]


def not_ready_components(text):
    return sorted(set("%s/%s" % (m.group(2), m.group(3)) for m in NOT_READY.finditer(text or "")))


def still_not_ready(text, health, namespace):
    """The NAMESPACE/NAME workloads istioctl named as not ready that are still not ready now (istioctl names what
    was not ready when each component's wait ended; a component may have become ready since)."""
    healthy = set(c["name"] for c in health if c["healthy"])
    return [w for w in not_ready_components(text)
            if not (w.split("/", 1)[0] == namespace and w.split("/", 1)[1] in healthy)]


# ---------------------------------------------------------------- the plan: the desired spec against the record


def plan(desired, recorded, recorded_components, health):
    """('none' | 'install' | 'upgrade', reasons) for state=present."""
    if recorded is None:
        if any(c["component"] == "Pilot" for c in health):
            return "upgrade", ["Istio runs but was not installed by this module: no record of its spec"]
        return "install", ["Istio is not installed"]
    reasons = []
    for key in ("version", "profile", "revision", "values", "overlays_sha256"):
        if recorded.get(key) != desired.get(key):
            reasons.append("%s changed from %r to %r" % (key, recorded.get(key), desired.get(key)))
    by_name = dict((c["name"], c) for c in health)
    for name in recorded_components:
        if name not in by_name:
            reasons.append("component %s is missing" % name)
        elif not by_name[name]["healthy"]:
            reasons.append("component %s is not healthy (%d/%d ready)" % (
                name, by_name[name]["ready"], by_name[name]["desired"]))
        elif by_name[name].get("revision", desired.get("revision")) != desired.get("revision"):
            # a gateway is not revisioned: another revision's install took it over in place (Istio's canary
            # upgrade docs); installing this revision again gives it back
            reasons.append("component %s runs with revision %s" % (name, by_name[name]["revision"]))
    return ("upgrade" if reasons else "none"), reasons


# ---------------------------------------------------------------- the module's run: decide from the recorded spec
# and the control plane's health, then install, upgrade or uninstall through istioctl

def run_module(module, which=shutil.which):
    """Return the module result; raise IstioctlError or K8sConnectionError on failure."""
    params = module.params
    flat = validate(params)
    binary = find_binary(params.get("istioctl_path"), which)
    runner = IstioctlRunner(module, binary)
    client_version = runner.client_version()
    if params.get("version") and params["version"] != client_version:
        wanted = params["version"]
        raise IstioctlError("istioctl at %s is version %s, but version=%s was asked for: point istioctl_path at "
                            "a %s binary or change version" % (binary, client_version, wanted, wanted))
    if params["state"] == "present" and untested_warning(client_version):
        module.warn(untested_warning(client_version))
    namespace = params["istio_namespace"]
    revision = params.get("revision") or "default"
    cluster = Cluster(connect(module), namespace)
    try:
        deployments = cluster.list_deployments()
        record = cluster.get_record(revision)
    except Exception as exc:  # the first API calls: a cluster that does not answer lands here
        raise K8sConnectionError("cannot read the Istio control plane in namespace %s: %s" % (namespace, exc))
    recorded, recorded_components = read_record(record)
    result = {"changed": False, "client_version": client_version, "command": [], "stdout_lines": [],
              "stderr_lines": [], "control_plane": control_plane_state(deployments, revision)}
    if params["state"] == "absent":
        return _absent(module, cluster, runner, recorded, deployments, revision, result)
    return _present(module, cluster, runner, flat, recorded, recorded_components, revision, result)


def _present(module, cluster, runner, flat, recorded, recorded_components, revision, result):
    params = module.params
    client_version = result["client_version"]
    desired = desired_spec(params, flat, client_version)
    jump = upgrade_path_error(result["control_plane"]["version"], client_version)
    if jump:
        raise IstioctlError(jump, control_plane=result["control_plane"])
    action, reasons = plan(desired, recorded, recorded_components, result["control_plane"]["components"])
    result["operation"] = action
    result["reasons"] = reasons
    if module._diff:
        result["diff"] = {"before": json.dumps(recorded, indent=2, sort_keys=True) + "\n" if recorded else "",
                          "after": json.dumps(desired, indent=2, sort_keys=True) + "\n",
                          "before_header": "recorded Istio spec", "after_header": "desired Istio spec"}
    if action == "none":
        return result
    result["changed"] = True
    if module.check_mode:
        result["msg"] = "would %s Istio %s (%s): %s" % (action, client_version, params["profile"], "; ".join(reasons))
        return result
    with istioctl_workdir(module, cluster.client) as (workdir, connection):
        if params["precheck"]:
            _precheck(module, runner, connection, result)
        command = install_command(runner.binary, params, flat, connection, params["wait_timeout"],
                                  write_overlays(params.get("overlays"), workdir))
        result["command"] = masked(command, flat)
        rc, out, err = runner.run(command, timeout=install_timeout(params["profile"], params["wait_timeout"]))
    result["stdout_lines"] = out.splitlines()
    result["stderr_lines"] = err.splitlines()
    if rc != 0:
        waiting = still_not_ready(err + out, component_health(cluster.list_deployments(), revision),
                                  cluster.namespace)
        message = "istioctl install failed (exit %d)" % rc
        if waiting:
            message += "; not ready within %d s: %s" % (params["wait_timeout"], ", ".join(waiting))
        raise IstioctlError("%s: %s" % (message, last_lines(err or out)), command=result["command"],
                            stdout_lines=result["stdout_lines"], stderr_lines=result["stderr_lines"])
    names = [c["name"] for c in component_health(cluster.list_deployments(), revision)]
    deployments = wait_healthy(cluster, names, revision, params["wait_timeout"])
    cluster.write_record(record_body(cluster.namespace, desired, names), cluster.get_record(revision))
    result["control_plane"] = control_plane_state(deployments, revision)
    verb = "installed" if action == "install" else "upgraded"
    result["msg"] = "%s Istio %s (%s)" % (verb, client_version, params["profile"])
    return result


def _precheck(module, runner, connection, result):
    """``istioctl x precheck``: errors stop the install; warnings (it exits 1 for them too) are said, and the install
    goes on."""
    rc, out, err = runner.run([runner.binary, "x", "precheck"] + connection, timeout=module.params["wait_timeout"])
    if rc == 0:
        return
    findings = precheck_findings(out, err)
    blocking = blocking_findings(findings)
    if blocking:
        raise IstioctlError("istioctl x precheck found %d issue(s) that block the install: %s" % (
            len(blocking), "; ".join(blocking)), findings=findings, stdout_lines=out.splitlines(),
            stderr_lines=err.splitlines())
    result["precheck_warnings"] = findings
    for finding in findings:
        module.warn("istioctl x precheck: %s" % finding)


def _absent(module, cluster, runner, recorded, deployments, revision, result):
    params = module.params
    present = recorded is not None or any(c["component"] == "Pilot" for c in component_health(
        deployments, revision)) or (params["purge"] and cluster.istio_crds_present())
    if not present:
        result["msg"] = "Istio is not installed"
        return result
    result["changed"] = True
    if module._diff:
        result["diff"] = {"before": json.dumps(recorded, indent=2, sort_keys=True) + "\n" if recorded else "",
                          "after": ""}
    if module.check_mode:
        result["msg"] = "would uninstall Istio%s" % (" and purge its CRDs" if params["purge"] else "")
        return result
    with istioctl_connection(module, cluster.client) as connection:
        command = uninstall_command(runner.binary, params, connection)
        result["command"] = command
        rc, out, err = runner.run(command, timeout=params["wait_timeout"] + 120)
    result["stdout_lines"] = out.splitlines()
    result["stderr_lines"] = err.splitlines()
    if rc != 0 and REVISION_GONE in err + out and not params["purge"]:
        # istioctl finds a revision by its injector webhook; with that gone it refuses, so what is left of the
        # revision (labelled istio.io/rev and with an operator component) is removed here
        result["removed_leftovers"] = cluster.delete_revision_leftovers(revision)
        module.warn("istioctl uninstall --revision %s: %s; removed what was left of the revision instead: %s"
                    % (revision, REVISION_GONE, ", ".join(result["removed_leftovers"]) or "nothing"))
        rc = 0
    if rc != 0:
        raise IstioctlError("istioctl uninstall failed (exit %d): %s" % (rc, last_lines(err or out)),
                            command=command, stdout_lines=result["stdout_lines"],
                            stderr_lines=result["stderr_lines"])
    cluster.delete_record(revision)
    result["control_plane"] = control_plane_state(cluster.list_deployments(), revision)
    result["msg"] = "uninstalled Istio"
    return result
