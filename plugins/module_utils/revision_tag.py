# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The revision_tag module's engine: read a revision tag and the control-plane revisions from the cluster, and
move or remove the tag with ``istioctl tag set`` / ``istioctl tag remove`` only when it must change.

What Istio calls a revision tag (istioctl/pkg/tag, the istiod chart's revision-tags templates): a
MutatingWebhookConfiguration labelled ``istio.io/tag=TAG`` and ``istio.io/rev=REVISION`` that sends pods of
namespaces labelled ``istio.io/rev=TAG`` to that revision's injector, and a Service ``istiod-revision-tag-TAG``.
A revision is known by its own injector configuration (``istio.io/rev=REVISION`` without ``istio.io/tag``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shutil

from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError
from ansible_collections.istio_demo.mesh.plugins.module_utils.istioctl_run import (
    IstioctlError, IstioctlRunner, find_binary, istioctl_connection, last_lines)
from ansible_collections.istio_demo.mesh.plugins.module_utils.k8s_connection import (
    K8sConnectionError, connect, read_json)
from ansible_collections.istio_demo.mesh.plugins.module_utils.names import dns_label

WEBHOOKS = ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration")
TAG_TIMEOUT = 120


class TagInputError(MeshError, ValueError):
    """A tag or revision the module refuses before it reads or changes anything."""


def validate(params):
    tag = params["tag"]
    if not dns_label(tag):
        raise TagInputError("tag=%r is invalid: expected a DNS label (lower-case letters, digits and '-', at most 63 "
                            "characters), the value namespaces carry as istio.io/rev" % (tag,))
    revision = params.get("revision")
    if params["state"] == "present":  # the argument spec requires revision then
        if revision != "default" and not dns_label(revision):
            raise TagInputError("revision=%r is invalid: expected a DNS label, or default" % (revision,))
        if revision == tag:
            raise TagInputError("tag=%r names the revision it points to: a tag needs a name of its own" % (tag,))


def revisions_from(webhooks):
    """{revision: webhook configuration name} of the control planes' own injector configurations."""
    out = {}
    for item in webhooks:
        labels = item["metadata"].get("labels") or {}
        if "istio.io/rev" in labels and "istio.io/tag" not in labels:
            out[labels["istio.io/rev"]] = item["metadata"]["name"]
    return out


def tags_from(webhooks):
    """{tag: revision} of the revision tags' configurations."""
    out = {}
    for item in webhooks:
        labels = item["metadata"].get("labels") or {}
        if labels.get("istio.io/tag"):
            out[labels["istio.io/tag"]] = labels.get("istio.io/rev", "default")
    return out


class TagCluster(object):
    """The module's reads, through kubernetes.core's client (retrying as the collection's client does)."""

    def __init__(self, client):
        self.client = client
        self.webhooks = client.resource(WEBHOOKS[1], WEBHOOKS[0])
        self.namespaces = client.resource("Namespace", "v1")

    def injector_webhooks(self):
        return read_json(self.client, self.webhooks, label_selector="istio.io/rev").get("items") or []

    def namespaces_with(self, tag):
        listing = read_json(self.client, self.namespaces, label_selector="istio.io/rev=%s" % tag)
        return sorted(item["metadata"]["name"] for item in listing.get("items") or [])


def read_state(cluster, tag):
    try:
        webhooks = cluster.injector_webhooks()
        namespaces = cluster.namespaces_with(tag)
    except Exception as exc:  # the first API calls: a cluster that does not answer lands here
        raise K8sConnectionError("cannot read Istio's injector webhook configurations: %s" % exc)
    return revisions_from(webhooks), tags_from(webhooks), namespaces


def run_module(module):
    params = module.params
    validate(params)
    tag, state, revision = params["tag"], params["state"], params.get("revision")
    cluster = TagCluster(connect(module))
    revisions, tags, namespaces = read_state(cluster, tag)
    current = tags.get(tag)
    result = {"changed": False, "tag": tag, "revision": current, "previous_revision": current,
              "namespaces": namespaces, "revisions": sorted(revisions), "command": [], "stdout_lines": [],
              "stderr_lines": []}
    if state == "present":
        if revision not in revisions:
            raise IstioctlError(
                "revision=%r has no control plane: no injector MutatingWebhookConfiguration labelled istio.io/rev=%s "
                "(installed revisions: %s)" % (revision, revision, ", ".join(sorted(revisions)) or "none"),
                **result)
        if current == revision:
            return result
        args = ["tag", "set", tag, "--revision", revision, "--overwrite", "--skip-confirmation"]
        result["revision"] = revision
    else:
        if current is None:
            return result
        args = ["tag", "remove", tag, "--skip-confirmation"]
        result["revision"] = None
        if namespaces:
            module.warn("namespaces %s still carry istio.io/rev=%s: pods made there from now on get no sidecar "
                        "until they are labelled for another revision or tag" % (", ".join(namespaces), tag))
    result["changed"] = True
    if module.check_mode:
        return result
    binary = find_binary(params.get("istioctl_path"), shutil.which)
    runner = IstioctlRunner(module, binary)
    with istioctl_connection(module, cluster.client) as connection:
        command = [binary] + args + connection
        rc, out, err = runner.run(command, TAG_TIMEOUT)
    result.update(command=command, stdout_lines=out.splitlines(), stderr_lines=err.splitlines())
    if rc != 0:
        raise IstioctlError("istioctl %s failed (exit %d): %s" % (" ".join(args[:2]), rc, last_lines(err or out)),
                            **result)
    return result
