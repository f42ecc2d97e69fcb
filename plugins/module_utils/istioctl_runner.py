# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The istioctl module's run: decide from the recorded spec and the control
plane's health, then install, upgrade or uninstall through istioctl."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import os
import shutil
import tempfile
import time

from ansible_collections.istio_demo.mesh.plugins.module_utils import istioctl as ic
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_connection import (
    K8sConnectionError,
    connect,
)

try:
    from kubernetes.dynamic.exceptions import NotFoundError
except ImportError:  # reported by connect() through module.requires
    NotFoundError = Exception

WAIT_POLL_SECONDS = 2


def argument_spec():
    """The module's own options (k8s_module adds the connection and retry options)."""
    spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        profile=dict(type="str", default="demo", choices=list(ic.PROFILES)),
        revision=dict(type="str"),
        set_values=dict(type="dict", default={}),
        overlay_files=dict(type="list", elements="path", default=[]),
        version=dict(type="str"),
        istioctl_path=dict(type="path"),
        precheck=dict(type="bool", default=True),
        purge=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=300),
        istio_namespace=dict(type="str", default="istio-system"),
    )
    return spec


class Cluster(object):
    """The few Kubernetes reads and writes the module makes, through kubernetes.core's client."""

    def __init__(self, client, namespace):
        self.client = client
        self.namespace = namespace
        self.deployments = client.resource("Deployment", "apps/v1")
        self.configmaps = client.resource("ConfigMap", "v1")

    def list_deployments(self):
        try:
            return self.client.get(self.deployments, namespace=self.namespace).to_dict().get("items") or []
        except NotFoundError:
            return []

    def get_record(self, revision):
        try:
            return self.client.get(self.configmaps, name=ic.record_name(revision), namespace=self.namespace).to_dict()
        except NotFoundError:
            return None

    def write_record(self, body, existing):
        if existing is None:
            self.client.create(self.configmaps, body, namespace=self.namespace)
        else:
            body["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
            self.client.replace(self.configmaps, body, name=body["metadata"]["name"], namespace=self.namespace)

    def delete_record(self, revision):
        try:
            self.client.delete(self.configmaps, name=ic.record_name(revision), namespace=self.namespace)
        except NotFoundError:
            pass

    def delete_revision_leftovers(self, revision):
        """Delete the objects of ``revision`` that istioctl installed (namespaced in the control-plane namespace,
        and webhook configurations); return their kind/name."""
        selector = "istio.io/rev=%s,%s" % (revision or "default", ic.COMPONENT_LABEL)
        removed = []
        for api_version, kind, namespaced in ic.REVISION_KINDS:
            resource = self.client.resource(kind, api_version)
            listing = resource.get(namespace=self.namespace if namespaced else None, label_selector=selector)
            for item in listing.to_dict().get("items") or []:
                name = item["metadata"]["name"]
                try:
                    resource.delete(name=name, namespace=self.namespace if namespaced else None)
                except NotFoundError:
                    continue
                removed.append("%s/%s" % (kind, name))
        return removed

    def istio_crds_present(self):
        crds = self.client.resource("CustomResourceDefinition", "apiextensions.k8s.io/v1")
        try:
            self.client.get(crds, name="virtualservices.networking.istio.io")
            return True
        except NotFoundError:
            return False


def connection_for_istioctl(module, client, workdir):
    """--kubeconfig/--context flags that give istioctl the same cluster as the module."""
    params = module.params
    kubeconfig = params.get("kubeconfig") or os.environ.get("K8S_AUTH_KUBECONFIG")
    context = params.get("context") or os.environ.get("K8S_AUTH_CONTEXT")
    namespace = params.get("istio_namespace") or "istio-system"
    if isinstance(kubeconfig, dict):
        path = os.path.join(workdir, "kubeconfig")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
            json.dump(kubeconfig, handle)
        return ic.connection_flags(path, context, namespace)
    if kubeconfig:
        return ic.connection_flags(kubeconfig, context, namespace)
    if params.get("host") or os.environ.get("K8S_AUTH_HOST"):
        return ic.connection_flags(_write_kubeconfig(client.configuration, workdir), None, namespace)
    return ic.connection_flags(None, context, namespace)


@contextlib.contextmanager
def istioctl_connection(module, client):
    """The connection flags for istioctl; any temporary kubeconfig is removed afterwards."""
    workdir = tempfile.mkdtemp(prefix="istioctl-")
    try:
        yield connection_for_istioctl(module, client, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _write_kubeconfig(configuration, workdir):
    """A kubeconfig holding the connection kubernetes.core resolved from host/api_key/cert options."""
    cluster = {"server": configuration.host}
    if configuration.ssl_ca_cert:
        cluster["certificate-authority"] = configuration.ssl_ca_cert
    if not configuration.verify_ssl:
        cluster["insecure-skip-tls-verify"] = True
    user = {}
    for setting in configuration.auth_settings().values():
        if setting.get("key", "").lower() == "authorization" and setting.get("value"):
            user["token"] = setting["value"].split(" ", 1)[-1]
    if configuration.cert_file:
        user["client-certificate"] = configuration.cert_file
        user["client-key"] = configuration.key_file
    if configuration.username and configuration.password:
        user["username"] = configuration.username
        user["password"] = configuration.password
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "module",
           "clusters": [{"name": "module", "cluster": cluster}], "users": [{"name": "module", "user": user}],
           "contexts": [{"name": "module", "context": {"cluster": "module", "user": "module"}}]}
    path = os.path.join(workdir, "kubeconfig")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
        json.dump(doc, handle)
    return path


def _control_plane(deployments, revision):
    health = ic.component_health(deployments, revision)
    return {"version": ic.control_plane_version(deployments, revision), "revision": revision or "default",
            "components": health}


def _wait_healthy(cluster, names, revision, timeout):
    """Poll the control plane until every named Deployment is ready (return the last LIST); name the ones that
    are not."""
    deadline = time.time() + timeout
    while True:
        deployments = cluster.list_deployments()
        health = dict((c["name"], c) for c in ic.component_health(deployments, revision))
        pending = [n for n in names if not health.get(n, {}).get("healthy")]
        if not pending:
            return deployments
        if time.time() >= deadline:
            details = ", ".join("%s (%s)" % (n, "missing" if n not in health else "%d/%d ready" % (
                health[n]["ready"], health[n]["desired"])) for n in pending)
            raise ic.IstioctlError("timed out after %d s waiting for the Istio control plane: %s" % (timeout, details))
        time.sleep(WAIT_POLL_SECONDS)  # polling a condition, bounded by wait_timeout


def run(module, which=shutil.which):
    """Return the module result; raise IstioctlError or K8sConnectionError on failure."""
    params = module.params
    flat = ic.validate(params)
    binary = ic.find_binary(params.get("istioctl_path"), which)
    runner = ic.IstioctlRunner(binary)
    client_version = runner.client_version()
    if params.get("version") and params["version"] != client_version:
        wanted = params["version"]
        raise ic.IstioctlError("istioctl at %s is version %s, but version=%s was asked for: point istioctl_path at "
                               "a %s binary or change version" % (binary, client_version, wanted, wanted))
    if params["state"] == "present" and ic.untested_warning(client_version):
        module.warn(ic.untested_warning(client_version))
    return _run(module, params, flat, binary, runner, client_version, connect(module))


def _run(module, params, flat, binary, runner, client_version, client):
    namespace = params["istio_namespace"]
    revision = params.get("revision") or "default"
    cluster = Cluster(client, namespace)
    try:
        deployments = cluster.list_deployments()
        record = cluster.get_record(revision)
    except Exception as exc:  # the first API calls: a cluster that does not answer lands here
        raise K8sConnectionError("cannot read the Istio control plane in namespace %s: %s" % (namespace, exc))
    recorded, recorded_components = ic.read_record(record)
    result = {"changed": False, "client_version": client_version, "command": [], "stdout_lines": [],
              "stderr_lines": [], "control_plane": _control_plane(deployments, revision)}
    if params["state"] == "absent":
        return _absent(module, cluster, runner, recorded, deployments, revision, result)
    desired = ic.desired_spec(params, flat, client_version)
    jump = ic.upgrade_path_error(result["control_plane"]["version"], client_version)
    if jump:
        raise ic.IstioctlError(jump, control_plane=result["control_plane"])
    action, reasons = ic.plan(desired, recorded, recorded_components, result["control_plane"]["components"])
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
    with istioctl_connection(module, client) as connection:
        if params["precheck"]:
            command = [binary, "x", "precheck"] + connection
            rc, out, err = runner.run(command, timeout=params["wait_timeout"])
            if rc != 0:
                findings = ic.precheck_findings(out, err)
                blocking = ic.blocking_findings(findings)
                if blocking:
                    raise ic.IstioctlError("istioctl x precheck found %d issue(s) that block the install: %s" % (
                        len(blocking), "; ".join(blocking)), findings=findings, stdout_lines=out.splitlines(),
                        stderr_lines=err.splitlines())
                # warnings only: istioctl exits 1 for them too; they are said, and the install goes on
                result["precheck_warnings"] = findings
                for finding in findings:
                    module.warn("istioctl x precheck: %s" % finding)
        command = ic.install_command(binary, params, flat, connection, params["wait_timeout"])
        result["command"] = ic.masked(command, flat)
        rc, out, err = runner.run(command, timeout=ic.install_timeout(params["profile"], params["wait_timeout"]))
    result["stdout_lines"] = out.splitlines()
    result["stderr_lines"] = err.splitlines()
    if rc != 0:
        waiting = ic.still_not_ready(err + out, ic.component_health(cluster.list_deployments(), revision), namespace)
        message = "istioctl install failed (exit %d)" % rc
        if waiting:
            message += "; not ready within %d s: %s" % (params["wait_timeout"], ", ".join(waiting))
        raise ic.IstioctlError("%s: %s" % (message, ic.last_lines(err or out)), command=result["command"],
                               stdout_lines=result["stdout_lines"], stderr_lines=result["stderr_lines"])
    names = [c["name"] for c in ic.component_health(cluster.list_deployments(), revision)]
    deployments = _wait_healthy(cluster, names, revision, params["wait_timeout"])
    cluster.write_record(ic.record_body(namespace, desired, names), cluster.get_record(revision))
    result["control_plane"] = _control_plane(deployments, revision)
    verb = "installed" if action == "install" else "upgraded"
    result["msg"] = "%s Istio %s (%s)" % (verb, client_version, params["profile"])
    return result


def _absent(module, cluster, runner, recorded, deployments, revision, result):
    params = module.params
    present = recorded is not None or any(c["component"] == "Pilot" for c in ic.component_health(
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
        command = ic.uninstall_command(runner.binary, params, connection)
        result["command"] = command
        rc, out, err = runner.run(command, timeout=params["wait_timeout"] + 120)
    result["stdout_lines"] = out.splitlines()
    result["stderr_lines"] = err.splitlines()
    if rc != 0 and ic.REVISION_GONE in err + out and not params["purge"]:
        # istioctl finds a revision by its injector webhook; with that gone it refuses, so what is left of the
        # revision (labelled istio.io/rev and with an operator component) is removed here
        result["removed_leftovers"] = cluster.delete_revision_leftovers(revision)
        module.warn("istioctl uninstall --revision %s: %s; removed what was left of the revision instead: %s"
                    % (revision, ic.REVISION_GONE, ", ".join(result["removed_leftovers"]) or "nothing"))
        rc = 0
    if rc != 0:
        raise ic.IstioctlError("istioctl uninstall failed (exit %d): %s" % (rc, ic.last_lines(err or out)),
                               command=command, stdout_lines=result["stdout_lines"],
                               stderr_lines=result["stderr_lines"])
    cluster.delete_record(revision)
    result["control_plane"] = _control_plane(cluster.list_deployments(), revision)
    result["msg"] = "uninstalled Istio"
    return result
