# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The canary_plan filter: the canary upgrade's plan (module_utils/canary.py) from the reads the role registered."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.istio_demo.mesh.plugins.module_utils.canary import ENTRIES, plan

REQUIRED = ("entry", "istiods", "tag")


def canary_plan(reads):
    """The plan from ``reads``: entry, tag, istiods / tag_hooks / default_tag_hooks / record (k8s_info results or
    their resources), namespace_reads (one k8s_info result a namespace: of its queries, or of a loop), version, revision,
    remove_previous, record_name."""
    if not isinstance(reads, dict) or any(key not in reads for key in REQUIRED):
        raise AnsibleFilterError("canary_plan expects a dict with %s, got %r" % (", ".join(REQUIRED), reads))
    if reads["entry"] not in ENTRIES:
        raise AnsibleFilterError("canary_plan: entry=%r, expected one of %s" % (reads["entry"], ", ".join(ENTRIES)))

    def resources(value):
        return (value or {}).get("resources") or [] if isinstance(value, dict) else list(value or [])
    namespaces, wanted = {}, []
    for read in reads.get("namespace_reads") or []:
        name = (read.get("query") or {}).get("name") if "query" in read else read.get("item")
        wanted.append(name)
        found = read.get("resources") or []
        if found:
            namespaces[name] = (found[0].get("metadata") or {}).get("labels") or {}
    record = resources(reads.get("record"))
    return plan(reads["entry"], resources(reads["istiods"]), reads["tag"], resources(reads.get("tag_hooks")),
                resources(reads.get("default_tag_hooks")), namespaces, (record[0].get("data") or {}) if record else {},
                version=reads.get("version") or "", revision=reads.get("revision") or "",
                remove_previous=bool(reads.get("remove_previous", True)), record_name=reads.get("record_name") or "",
                wanted_namespaces=wanted)


class FilterModule(object):
    def filters(self):
        return {"canary_plan": canary_plan}
