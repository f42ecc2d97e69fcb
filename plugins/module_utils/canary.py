# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The canary upgrade's plan: from what the mesh is now (the istiod Deployments, the revision tag and the default
tag, the namespaces to move, the record of the last move), what the move installs, tags, relabels and removes -
or why it is refused. Pure: it reads the results the role's reads registered and returns a dict."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.istio_demo.mesh.plugins.module_utils.releases import deployment_version

BLANK = {"previous_revision": "", "previous_version": "", "rolled_back_from_revision": "",
         "rolled_back_from_version": ""}
ENTRIES = ("upgrade", "rollback", "verify")


def _labels(obj):
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def _tag_revision(hooks):
    """The revision a tag's MutatingWebhookConfiguration points at ('' when there is none)."""
    return _labels(hooks[0]).get("istio.io/rev", "") if hooks else ""


def revisions_of(istiods):
    """{revision: release} of the istiod Deployments (the release read from the image tag, a registry port aside)."""
    return dict((_labels(dep).get("istio.io/rev", "default"), deployment_version(dep) or "") for dep in istiods)


def _version(text):
    try:
        return [int(part) for part in text.split("-")[0].split(".")]
    except ValueError:
        return None


def plan(entry, istiods, tag, tag_hooks, default_tag_hooks, namespaces, record, version="", revision="",
         remove_previous=True, record_name="", wanted_namespaces=()):
    """The move. ``namespaces``: {name: labels} of the namespaces found (``wanted_namespaces`` those asked for);
    ``record``: the data of the last move's ConfigMap ({} when none)."""
    if entry not in ENTRIES:
        raise ValueError("entry=%r: expected one of %s" % (entry, ", ".join(ENTRIES)))
    revisions = revisions_of(istiods)
    tag_rev = _tag_revision(tag_hooks)
    # istio-injection=enabled namespaces are injected by the default tag's revision (without a default tag, by the
    # revision installed without a name); it wins over istio.io/rev (the default tag's namespace selector)
    default_rev = _tag_revision(default_tag_hooks)
    record = record or {}
    errors = []
    uses = {}
    for name, labels in namespaces.items():
        rev_label = labels.get("istio.io/rev", "")
        if labels.get("istio-injection") == "enabled":
            uses[name] = default_rev or "default"
        elif rev_label == tag:
            uses[name] = tag_rev or "missing-tag"
        elif rev_label in revisions:
            uses[name] = rev_label
        else:
            uses[name] = ""
    if not revisions:
        errors.append("no Istio control plane in istio-system (no istiod Deployment): install Istio first")
    for name in wanted_namespaces:
        if name not in namespaces:
            errors.append("canary_upgrade_namespaces names %s, which does not exist: expected namespaces of the mesh"
                          % name)
    for name, used in uses.items():
        if used == "":
            errors.append("namespace %s is not in the mesh through a revision this run knows (no istio-injection="
                          "enabled, no istio.io/rev of an installed revision or of tag %s)" % (name, tag))
        elif used == "missing-tag":
            errors.append("namespace %s is not in the mesh through a revision this run knows (istio.io/rev=%s but "
                          "the tag does not exist)" % (name, tag))
    if tag in revisions:
        errors.append("canary_upgrade_tag=%s is the name of an installed revision: expected a tag name of its own"
                      % tag)
    in_use = sorted(set(u for u in uses.values() if u not in ("", "missing-tag")))
    from_rev = tag_rev or (in_use[0] if in_use else "")
    if not tag_rev and len(in_use) > 1:
        errors.append("the namespaces use different revisions (%s): move them one revision at a time"
                      % ", ".join(in_use))
    from_version = revisions.get(from_rev, "")
    if from_rev and from_rev not in revisions and not errors:
        errors.append("tag %s points at revision %s, which has no control plane (installed: %s): point it at an "
                      "installed revision with istio_demo.mesh.revision_tag first"
                      % (tag, from_rev, ", ".join(revisions)))
    relabel = [name for name, labels in namespaces.items()
               if labels.get("istio.io/rev") != tag or "istio-injection" in labels]
    converged, left, new_record = False, "", {}
    to_rev, to_version = "", ""
    if entry == "upgrade":
        to_version = version
        to_rev = revision or version.replace(".", "-")
        upgraded = record.get("current_revision", "") == to_rev and record.get("previous_version", "") != ""
        if not errors and from_rev == to_rev and upgraded:
            # done, or left half way: resume it (the revision before, as the record names it, goes)
            converged, left, new_record = True, record.get("previous_revision", ""), record
        elif not errors:
            have = _version(from_version) if from_version else [0, 0, 0]
            want = _version(to_version) or [0, 0, 0]
            if want == have:
                errors.append("canary_upgrade_version=%s is the release the mesh runs (revision %s): expected a "
                              "newer release" % (to_version, from_rev))
            elif want < have:
                errors.append("canary_upgrade_version=%s is older than the release the mesh runs (%s, revision %s): "
                              "expected a newer release; to go back, roll back (playbooks/rollback.yml)"
                              % (to_version, from_version, from_rev))
            elif want[0] != have[0] or want[1] - have[1] > 2:
                errors.append("canary_upgrade_version=%s is more than two minor releases above %s: Istio supports "
                              "canary upgrades across at most two minor releases (istio.io/latest/docs/setup/"
                              "upgrade/canary); upgrade to %d.%d.x first" % (to_version, from_version, have[0],
                                                                             have[1] + 2))
            elif to_rev in revisions and revisions[to_rev] != to_version:
                errors.append("canary_upgrade_revision=%s is an installed revision running %s: expected a new "
                              "revision name for %s" % (to_rev, revisions[to_rev], to_version))
            left = from_rev
            new_record = dict(BLANK, tag=tag, current_revision=to_rev, current_version=to_version,
                              previous_revision=from_rev, previous_version=from_version)
    elif entry == "verify":
        to_rev, to_version = record.get("current_revision", ""), record.get("current_version", "")
        if not record:
            errors.append("no canary upgrade of tag %s is recorded (ConfigMap istio-system/%s)" % (tag, record_name))
        elif tag_rev != to_rev:
            errors.append("tag %s points at revision %s, not at %s as recorded" % (tag, tag_rev or "nothing", to_rev))
        elif revisions.get(to_rev) != to_version:
            errors.append("revision %s runs %s, not %s as recorded"
                          % (to_rev, revisions.get(to_rev) or "nothing", to_version))
        converged, new_record = True, record
    else:
        to_rev, to_version = record.get("current_revision", ""), record.get("current_version", "")
        if record.get("previous_version"):
            to_version = record["previous_version"]
            to_rev = record["previous_revision"] if revisions.get(record["previous_revision"]) == to_version \
                else to_version.replace(".", "-")
            left = record.get("current_revision", "")
            new_record = dict(BLANK, tag=tag, current_revision=to_rev, current_version=to_version,
                              rolled_back_from_revision=record.get("current_revision", ""),
                              rolled_back_from_version=record.get("current_version", ""))
        elif record.get("rolled_back_from_version"):
            # rolled back already, or left half way: resume (the revision rolled back from goes)
            converged, left, new_record = True, record.get("rolled_back_from_revision", ""), record
        else:
            errors.append("nothing to roll back to: no canary upgrade of tag %s is recorded (ConfigMap istio-system/"
                          "%s); a rollback follows playbooks/upgrade.yml" % (tag, record_name))
        if version and to_version and version != to_version:
            errors.append("canary_upgrade_version=%s is not the release to roll back to: the last upgrade of tag %s "
                          "came from %s (leave canary_upgrade_version empty)" % (version, tag, to_version))
    install = to_rev not in revisions
    leave = [left] if remove_previous and left and left in revisions and left != to_rev else []
    # the default tag follows the move when it is missing, or points at the revision left behind or at none
    # installed (istio.io canary upgrades, "Default tag")
    default_to = to_rev if (tag != "default" and to_rev and not errors and default_rev != to_rev and (
        not default_rev or default_rev == left or default_rev not in revisions)) else ""
    summary = "%s of tag %s: %s (%s) -> %s (%s)%s%s" % (
        entry, tag, from_rev or "none", from_version or "-", to_rev or "none", to_version or "-",
        "; installs " + to_rev if install else "", "; then removes " + ", ".join(leave) if leave else "")
    return {"error": "; ".join(errors), "from": {"revision": from_rev, "version": from_version},
            "to": {"revision": to_rev, "version": to_version}, "revisions": revisions, "tag_revision": tag_rev,
            "default_tag_revision": default_rev, "default_tag_to": default_to,
            "tag_first": "" if tag_rev else from_rev, "relabel": relabel, "install": install, "leave": leave,
            "converged": converged, "record": new_record, "summary": summary}
