# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""The mesh report, from data the collection already gathers: checks, Markdown, HTML and a Graphviz graph.

Pure functions, no I/O: the mesh_report module feeds them and writes the files.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import html
import os
import re
import tempfile

from ansible.module_utils.common.text.converters import to_bytes
from ansible_collections.istio_demo.mesh.plugins.module_utils.errors import MeshError
from ansible_collections.istio_demo.mesh.plugins.module_utils.names import image_tag

CANONICAL = "service.istio.io/canonical-name"


class ReportInputError(MeshError):
    """An input of the report is malformed."""


def normalize(params):
    """The report's data from the module's options (their types checked by its argument spec); raises
    ReportInputError for what a spec cannot say."""
    control_plane = params.get("control_plane") or {}
    routes = []
    for index, route in enumerate(params.get("routes") or []):
        item = route.get("item") if isinstance(route.get("item"), dict) else {}
        path = route.get("path") or item.get("path")
        if not path:
            raise ReportInputError("routes[%d] is invalid: expected path (or item.path, as a traffic_probe loop "
                                   "registers it)" % index)
        routes.append({
            "entry": route.get("entry") or "ingress gateway",
            "path": path,
            "service": route.get("service") or item.get("service") or "",
            "url": route.get("url") or "",
            "requests": int(route.get("requests") or 0),
            "succeeded": int(route.get("succeeded") or 0),
            "success_ratio": route.get("success_ratio"),
            "min_success_ratio": route.get("min_success_ratio", 1.0),
            "status_codes": dict((str(k), v) for k, v in (route.get("status_codes") or {}).items()),
            "latency_ms": route.get("latency_ms") or {},
            "errors": dict((k, v) for k, v in (route.get("errors") or {}).items() if v),
            "message": route.get("msg") if route.get("failed") else None,
            "passed": bool(route.get("passed")) if "passed" in route else not route.get("failed"),
        })
    addons = []
    for index, addon in enumerate(params.get("addons") or []):
        name = addon.get("name") or addon.get("item")
        if not name:
            raise ReportInputError("addons[%d] is invalid: expected name" % index)
        addons.append({"name": name, "ready": bool(addon.get("ready")), "detail": addon.get("detail") or "",
                       "command": addon.get("command") or ""})
    group = params.get("security_group") or {}
    failures = params.get("failures") or []
    revisions = control_planes(params.get("istiods") or [], params.get("revision_tags") or [])
    split = params.get("traffic_split") or {}
    if split and (not isinstance(split.get("weights"), dict) or not isinstance(split.get("probe"), dict)
                  or "share_checks" not in split["probe"]):
        raise ReportInputError("traffic_split is invalid: expected weights (the route's, by subset) and "
                               "probe (a traffic_probe result with expect_shares)")
    mtls = params.get("mtls") or {}
    if mtls and (mtls.get("mode") not in ("STRICT", "PERMISSIVE") or not isinstance(mtls.get("proof"), list)):
        raise ReportInputError("mtls is invalid: expected mode (STRICT or PERMISSIVE) and proof (the mtls role's "
                               "mtls_proof)")
    return {
        "traffic_split": split,
        "mtls": mtls,
        "revisions": revisions,
        "title": params.get("title") or "Istio service-mesh demo",
        "control_plane": control_plane,
        "pods": params.get("pods") or [],
        "services": params.get("services") or [],
        "routes": routes,
        "addons": addons,
        "security_group": group,
        "failures": [str(f) for f in failures],
    }


def control_planes(istiods, tag_webhooks):
    """[{revision, version, tags}] from the istiod Deployments and the revision tags' webhook configurations, as
    k8s_info returns them (a revision is the istiod Deployment's istio.io/rev label, its release the image's tag;
    a tag is a configuration labelled istio.io/tag and the revision's istio.io/rev)."""
    out = {}
    for index, dep in enumerate(istiods):
        if not isinstance(dep, dict) or not isinstance(dep.get("metadata"), dict):
            raise ReportInputError("istiods[%d] is invalid: expected a Deployment as k8s_info returns it" % index)
        labels = dep["metadata"].get("labels") or {}
        containers = ((dep.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or [{}]
        image = containers[0].get("image") or ""
        revision = labels.get("istio.io/rev", "default")
        out[revision] = {"revision": revision, "version": image_tag(image),
                         "tags": []}
    for index, hook in enumerate(tag_webhooks):
        if not isinstance(hook, dict) or not isinstance(hook.get("metadata"), dict):
            raise ReportInputError("revision_tags[%d] is invalid: expected a MutatingWebhookConfiguration as "
                                   "k8s_info returns it" % index)
        labels = hook["metadata"].get("labels") or {}
        if labels.get("istio.io/tag"):
            revision = labels.get("istio.io/rev", "default")
            out.setdefault(revision, {"revision": revision, "version": None, "tags": []})["tags"].append(
                labels["istio.io/tag"])
    return [out[k] for k in sorted(out)]


def _ratio(route):
    if route["success_ratio"] is not None:
        return float(route["success_ratio"])
    return route["succeeded"] / route["requests"] if route["requests"] else 0.0


def _codes(route):
    return ", ".join("%s x%d" % (k, v) for k, v in sorted(route["status_codes"].items())) or "no answer"


def _ms(value):
    return "-" if value is None else ("%.1f" % value if value >= 10 else "%.2f" % value)


def route_name(route):
    return "%s %s" % (route["entry"], route["path"])


def checks(data):
    """One entry per check, in report order: {name, passed, detail}."""
    out = []
    cp = data["control_plane"]
    if cp:
        components = cp.get("components") or []
        unhealthy = [c for c in components if not c.get("healthy", c.get("ready", 0) >= c.get("desired", 1))]
        out.append({"name": "control plane %s" % (cp.get("version") or "absent"),
                    "passed": bool(components) and not unhealthy,
                    "detail": ("; ".join("%s %s/%s ready" % (c.get("name"), c.get("ready"), c.get("desired"))
                                         for c in unhealthy) if components else "no component found")
                    or "%d components ready" % len(components)})
    by_ns = {}
    for pod in data["pods"]:
        by_ns.setdefault(pod.get("namespace") or "", []).append(pod)
    if data["revisions"]:
        running = dict((r["revision"], r) for r in data["revisions"] if r["version"])
        orphans = [p for p in data["pods"] if p.get("revision") and p["revision"] not in running]
        dangling = [r for r in data["revisions"] if not r["version"]]
        problems = ["pod %s in %s runs the proxy of revision %s, which has no control plane: restart it" % (
            p.get("name"), p.get("namespace"), p["revision"]) for p in orphans]
        problems += ["tag %s points at revision %s, which has no control plane: pods of its namespaces cannot be "
                     "made" % (", ".join(r["tags"]), r["revision"]) for r in dangling]
        out.append({"name": "revisions", "passed": not problems,
                    "detail": "; ".join(problems) or ", ".join(
                        "%s (%s)%s" % (r["revision"], r["version"], " tagged " + ", ".join(r["tags"])
                                       if r["tags"] else "") for r in data["revisions"])})
    if data["traffic_split"]:
        probe = data["traffic_split"]["probe"]
        off = [c for c in probe["share_checks"] if not c.get("passed")]
        out.append({"name": "traffic split", "passed": bool(probe.get("passed")) and not off, "detail": "; ".join(
            "%s measured %.3f, weight says %.3f +/- %.3f" % (c["key"], c["measured"], c["expected"], c["tolerance"])
            for c in off) or "weights %s measured over %d answers: %s" % (
                ", ".join("%s %s" % kv for kv in sorted(data["traffic_split"]["weights"].items())),
                probe.get("succeeded", 0), ", ".join("%s %.3f" % (c["key"], c["measured"])
                                                     for c in probe["share_checks"]))})
    if data["mtls"]:
        wrong = [p for p in data["mtls"]["proof"] if not p.get("as_expected")]
        told = ["the %s client %s %s (curl exit %s)" % (
            p.get("client"), "got an answer from" if p.get("answered") else "was refused by", p.get("target"),
            p.get("exit_code")) for p in wrong]
        fine = "plaintext clients %s, meshed clients answered" % (
            "refused" if data["mtls"]["mode"] == "STRICT" else "answered")
        out.append({"name": "mutual TLS %s" % data["mtls"]["mode"], "passed": not wrong,
                    "detail": "; ".join(told) or fine})
    for namespace in sorted(by_ns):
        pods = by_ns[namespace]
        bad = [p for p in pods if p.get("violations")]
        injected = sum(1 for p in pods if p.get("injected"))
        ambient = sum(1 for p in pods if _ambient(p))
        fine = "%d of %d injected and ready" % (injected, len(pods))
        if ambient:
            fine = "%d of %d in the mesh and ready (%d ambient, %d with a sidecar)" % (
                ambient + injected, len(pods), ambient, injected)
        out.append({"name": "pods in %s" % namespace, "passed": not bad,
                    "detail": "; ".join(v for p in bad for v in p["violations"]) if bad else fine})
    for route in data["routes"]:
        detail = "%d of %d answered as expected (%s), p99 %s ms" % (
            route["succeeded"], route["requests"], _codes(route), _ms(route["latency_ms"].get("p99")))
        if route["errors"]:
            detail += ", errors %s" % ", ".join("%s x%d" % kv for kv in sorted(route["errors"].items()))
        out.append({"name": "route %s" % route_name(route), "passed": route["passed"], "detail": detail})
    for addon in data["addons"]:
        out.append({"name": "addon %s" % addon["name"], "passed": addon["ready"],
                    "detail": addon["detail"] or ("ready" if addon["ready"] else "not ready")})
    group = data["security_group"]
    if "groups" in group:
        missing = group.get("added") or []
        stale = group.get("removed") or []
        if missing or stale:
            detail = "missing %s, stale %s" % (_rule_places(missing), _rule_places(stale))
        elif group.get("rules"):
            detail = "%d Istio rule(s): %s" % (len(group["rules"]), _rule_places(group["rules"]))
        else:
            detail = "no rule needed: the nodes' groups already let the control plane in"
        out.append({"name": "security groups", "passed": not missing and not stale, "detail": detail})
    for failure in data["failures"]:
        out.append({"name": "verify", "passed": False, "detail": failure})
    return out


def _ambient(pod):
    """Whether sidecar_info found the pod enrolled in ambient (no sidecar: its node's ztunnel carries its traffic)."""
    return ((pod.get("ambient") or {}).get("redirection") == "enabled") and not pod.get("injected")


def failures(check_list):
    return ["%s: %s" % (c["name"], c["detail"]) for c in check_list if not c["passed"]]


# ------------------------------------------------------------------ the graph

def _id(prefix, name):
    return "%s_%s" % (prefix, re.sub(r"[^A-Za-z0-9_]", "_", name))


def _dot_text(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"')


def workloads(data):
    """{service name: {name, pods, ready, injected}} from the Services' selectors and the pods' canonical names."""
    found = {}
    for service in data["services"]:
        meta = service.get("metadata") or {}
        name = meta.get("name") or service.get("name")
        selector = (service.get("spec") or {}).get("selector") or service.get("selector") or {}
        app = selector.get("app") or selector.get(CANONICAL)
        if not name or not app:
            continue
        # an injected pod carries its canonical name; one the injector missed is known by its
        # Deployment's naming (APP-<replicaset hash>-<suffix>)
        pods = [p for p in data["pods"] if (p.get("istio_labels") or {}).get(CANONICAL) == app
                or (p.get("labels") or {}).get("app") == app
                or re.match(re.escape(app) + r"-[a-z0-9]+-[a-z0-9]+$", p.get("name") or "")]
        found[name] = {"name": app, "pods": len(pods), "ready": sum(1 for p in pods if p.get("ready")),
                       "injected": sum(1 for p in pods if p.get("injected")),
                       "ambient": sum(1 for p in pods if _ambient(p))}
    return found


def dot(data):
    """The service graph in Graphviz's language: entry points -> Services -> workloads."""
    red, green, grey = "#c62828", "#2e7d32", "#757575"
    lines = ["digraph mesh {", '  rankdir=LR;', '  bgcolor="white";',
             '  node [shape=box, style="rounded,filled", fillcolor="#f5f7fb", fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=10];']
    entries, services = {}, {}
    for route in data["routes"]:
        entries.setdefault(route["entry"], []).append(route)
        if route["service"]:
            services.setdefault(route["service"], []).append(route)
    found = workloads(data)
    for entry, routes in sorted(entries.items()):
        ok = all(r["passed"] for r in routes)
        lines.append('  %s [label="%s", fillcolor="%s"];' % (_id("entry", entry), _dot_text(entry),
                                                             "#e8f5e9" if ok else "#ffebee"))
    for service in sorted(services):
        lines.append('  %s [label="Service\\n%s", shape=ellipse];' % (_id("svc", service), _dot_text(service)))
        workload = found.get(service)
        if workload:
            healthy = workload["pods"] > 0 and workload["ready"] == workload["pods"] and \
                workload["injected"] + workload["ambient"] == workload["pods"]
            lines.append('  %s [label="%s\\n%d/%d pods ready, %s", fillcolor="%s"];' % (
                _id("wl", workload["name"]), _dot_text(workload["name"]), workload["ready"], workload["pods"],
                "%d ambient" % workload["ambient"] if workload["ambient"] else "%d injected" % workload["injected"],
                "#e8f5e9" if healthy else "#ffebee"))
            lines.append('  %s -> %s [color="%s", label="%s"];' % (
                _id("svc", service), _id("wl", workload["name"]), green if healthy else red,
                "%d endpoints" % workload["ready"]))
    for route in data["routes"]:
        target = _id("svc", route["service"]) if route["service"] else _id("path", route["entry"] + route["path"])
        if not route["service"]:
            lines.append('  %s [label="%s", shape=plaintext];' % (target, _dot_text(route["path"])))
        label = "%s\\n%d req, %.0f%% ok, p99 %s ms" % (route["path"], route["requests"], 100 * _ratio(route),
                                                       _ms(route["latency_ms"].get("p99")))
        color = green if route["passed"] else red
        if not route["requests"]:
            color = grey if route["passed"] else red
        lines.append('  %s -> %s [color="%s", fontcolor="%s", penwidth=%s, label="%s"];' % (
            _id("entry", route["entry"]), target, color, color, "1.5" if route["passed"] else "2.5", label))
    lines.append("}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ Markdown and HTML

def _status_line(check_list):
    bad = failures(check_list)
    if bad:
        return "FAILING: %d of %d checks failed" % (len(bad), len(check_list)), bad
    return "PASSING: all %d checks pass" % len(check_list), []


def _md_cell(value):
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_table(headers, rows):
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]
    return out


def sections(data, check_list):
    """(heading, headers, rows) of every table, shared by Markdown and HTML."""
    out = [("Checks", ["check", "result", "detail"],
            [[c["name"], "pass" if c["passed"] else "FAIL", c["detail"]] for c in check_list])]
    cp = data["control_plane"]
    if cp:
        out.append(("Control plane: Istio %s, revision %s" % (cp.get("version") or "-", cp.get("revision") or "-"),
                    ["component", "kind", "ready", "healthy"],
                    [[c.get("name"), c.get("component", ""), "%s/%s" % (c.get("ready"), c.get("desired")),
                      "yes" if c.get("healthy") else "NO"] for c in cp.get("components") or []]))
    if data["revisions"]:
        out.append(("Revisions", ["revision", "release", "tags", "pods on its proxy"],
                    [[r["revision"], r["version"] or "no control plane", ", ".join(r["tags"]) or "-",
                      ", ".join(sorted("%s/%s" % (p.get("namespace"), p.get("name")) for p in data["pods"]
                                       if p.get("revision") == r["revision"])) or "-"]
                     for r in data["revisions"]]))
    if data["traffic_split"]:
        split = data["traffic_split"]
        out.append(("Traffic split: route weights %s" % ", ".join(
            "%s %s" % kv for kv in sorted(split["weights"].items())),
            ["answers", "expected share", "measured share", "tolerance", "answers counted", "result"],
            [[c["key"], "%.3f" % c["expected"], "%.3f" % c["measured"], "+/- %.3f" % c["tolerance"],
              (split["probe"].get("counts") or {}).get(c["key"], 0), "pass" if c.get("passed") else "FAIL"]
             for c in split["probe"]["share_checks"]]))
    if data["mtls"]:
        out.append(("Mutual TLS: %s" % data["mtls"]["mode"], ["client", "target", "curl exit", "answered", "expected"],
                    [[p.get("client"), p.get("target"), p.get("exit_code"), "yes" if p.get("answered") else "no",
                      ("answer" if p.get("expected_answer") else "refusal") + ("" if p.get("as_expected") else " - FAIL")]
                     for p in data["mtls"]["proof"]]))
    by_ns = {}
    for pod in data["pods"]:
        by_ns.setdefault(pod.get("namespace") or "", []).append(pod)
    for namespace in sorted(by_ns):
        out.append(("Pods in %s" % namespace,
                    ["pod", "ready", "injected", "sidecar", "proxy", "init", "violations"],
                    [[p.get("name"), "yes" if p.get("ready") else "NO",
                      "yes" if p.get("injected") else ("ambient" if _ambient(p) else "NO"),
                      p.get("sidecar_mode") or "none", p.get("proxy_version") or "-",
                      (p.get("init") or {}).get("name") or "-", "; ".join(p.get("violations") or []) or "-"]
                     for p in sorted(by_ns[namespace], key=lambda p: p.get("name") or "")]))
    if data["routes"]:
        out.append(("Routes", ["entry", "path", "service", "requests", "status codes", "success", "p50 ms",
                               "p90 ms", "p99 ms", "url"],
                    [[r["entry"], r["path"], r["service"] or "-", r["requests"], _codes(r),
                      "%.0f%%" % (100 * _ratio(r)), _ms(r["latency_ms"].get("p50")), _ms(r["latency_ms"].get("p90")),
                      _ms(r["latency_ms"].get("p99")), r["url"] or "-"] for r in data["routes"]]))
    if data["addons"]:
        out.append(("Addons", ["addon", "ready", "open it with"],
                    [[a["name"], "yes" if a["ready"] else "NO", a["command"] or "-"] for a in data["addons"]]))
    group = data["security_group"]
    if "groups" in group:
        names = dict((g.get("group_id"), g.get("group_name") or "") for g in group.get("groups") or [])
        out.append(("Security-group rules", ["group", "ports", "protocol", "source", "description"],
                    [["%s %s" % (r.get("group_id", ""), names.get(r.get("group_id"), "")),
                      r.get("from_port") if r.get("from_port") == r.get("to_port", r.get("from_port")) else
                      "%s-%s" % (r.get("from_port"), r.get("to_port")), r.get("proto", "tcp"),
                      r.get("source", ""), r.get("description", "")]
                     for r in group.get("rules") or []] or
                    [["-", "-", "-", "-", "none needed: the nodes' groups already let the control plane in"]]))
    return out


def _rule_places(rules):
    return ", ".join("%s on %s" % (r.get("from_port"), r.get("group_id")) for r in rules) or "none"


def markdown(data, check_list, graph_file=None):
    status, bad = _status_line(check_list)
    lines = ["# %s: mesh report" % data["title"], "", "**%s**" % status, ""]
    lines += ["- %s" % b for b in bad]
    if bad:
        lines.append("")
    if graph_file:
        lines += ["## Service graph", "", "![service graph](%s)" % graph_file, ""]
    for heading, headers, rows in sections(data, check_list):
        lines += ["## %s" % heading, ""] + _md_table(headers, rows) + [""]
    return "\n".join(lines)


STYLE = """
body{font-family:Helvetica,Arial,sans-serif;margin:2em;color:#212121;max-width:1200px}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f0f3f8}.fail{color:#b71c1c;font-weight:bold}.pass{color:#1b5e20}
.banner{padding:.8em 1em;border-radius:6px;margin:1em 0}
.banner.bad{background:#ffebee;border:2px solid #c62828}.banner.good{background:#e8f5e9;border:2px solid #2e7d32}
.graph svg{max-width:100%;height:auto}
"""


def html_page(data, check_list, svg=None):
    """A self-contained page: inline style, the graph as inline SVG, nothing fetched from elsewhere."""
    esc = html.escape
    status, bad = _status_line(check_list)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>%s: mesh report</title>" % esc(data["title"]), "<style>%s</style></head><body>" % STYLE,
             "<h1>%s: mesh report</h1>" % esc(data["title"]),
             '<div class="banner %s" id="status"><strong>%s</strong>' % ("bad" if bad else "good", esc(status))]
    if bad:
        parts.append("<ul>%s</ul>" % "".join("<li>%s</li>" % esc(b) for b in bad))
    parts.append("</div>")
    if svg:
        body = svg[svg.find("<svg"):] if "<svg" in svg else ""
        parts.append('<h2>Service graph</h2><div class="graph">%s</div>' % body)
    for heading, headers, rows in sections(data, check_list):
        parts.append("<h2>%s</h2><table><tr>%s</tr>" % (esc(heading), "".join("<th>%s</th>" % esc(h) for h in headers)))
        for row in rows:
            cells = []
            for value in row:
                text = str(value)
                css = ' class="fail"' if text in ("FAIL", "NO") else (' class="pass"' if text == "pass" else "")
                cells.append("<td%s>%s</td>" % (css, esc(text)))
            parts.append("<tr>%s</tr>" % "".join(cells))
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------- the mesh_report module's run: the files, written
# atomically and only when their content differs; the graph drawn by Graphviz's dot through module.run_command

FILES = {"md": "mesh-report.md", "html": "mesh-report.html", "svg": "mesh-graph.svg", "png": "mesh-graph.png",
         "dot": "mesh-graph.dot"}


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


class Writer(object):
    """Writes files atomically, only when their content differs."""

    def __init__(self, module, directory):
        self.module = module
        self.directory = directory
        self.changed = False

    def put(self, name, content):
        path = os.path.join(self.directory, FILES[name])
        content = to_bytes(content)
        if _read(path) == content:
            return path
        self.changed = True
        if not self.module.check_mode:
            fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".%s." % FILES[name])
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.chmod(temp, 0o644)
            self.module.atomic_move(temp, path)
        return path


def render_graph(module, dot_binary, source, fmt):
    rc, out, err = module.run_command([dot_binary, "-T" + fmt], data=source, binary_data=True, encoding=None)
    if rc != 0:
        raise MeshError("Graphviz's dot (%s) could not draw the service graph as %s (exit %d): %s" % (
            dot_binary, fmt, rc, (err or b"").decode("utf-8", "replace").strip()[-500:]))
    return out


def run_module(module):
    """Check the options, draw and write the report; return the module's result or raise ReportInputError."""
    params = module.params
    formats = params["formats"] or []
    data = normalize(params)
    directory = params["output_dir"]
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ReportInputError("output_dir=%s is invalid: expected a directory, and it is a file" % directory)
    dot_binary = None
    if "svg" in formats or "png" in formats:
        dot_binary = params["dot_path"] or module.get_bin_path("dot")
        if not dot_binary or not os.access(dot_binary, os.X_OK):
            missing = ("dot_path=%s is not an executable" % params["dot_path"] if params["dot_path"]
                       else "there is no dot on PATH")
            raise ReportInputError("formats=%s needs Graphviz's dot to draw the service graph, and %s: install "
                                   "Graphviz (Debian: apt-get install graphviz), set dot_path, or leave svg and png "
                                   "out of formats" % (",".join(formats), missing))
    if not module.check_mode and not os.path.isdir(directory):
        try:
            os.makedirs(directory)
        except OSError as exc:
            raise ReportInputError("output_dir=%s cannot be created: %s" % (directory, exc))
    check_list = checks(data)
    writer = Writer(module, directory)
    paths = {}
    source = dot(data)
    svg = None
    if dot_binary:
        graph_unchanged = _read(os.path.join(directory, FILES["dot"])) == to_bytes(source)
        for fmt in ("svg", "png"):
            if fmt not in formats:
                continue
            existing = _read(os.path.join(directory, FILES[fmt]))
            content = existing if graph_unchanged and existing else (
                None if module.check_mode else render_graph(module, dot_binary, source, fmt))
            if content is None:  # check mode with a new graph: it would be drawn
                writer.changed = True
                paths[fmt] = os.path.join(directory, FILES[fmt])
                continue
            paths[fmt] = writer.put(fmt, content)
            if fmt == "svg":
                svg = content.decode("utf-8", "replace")
        writer.put("dot", source)
    if "md" in formats:
        paths["md"] = writer.put("md", markdown(data, check_list, FILES["svg"] if "svg" in formats else None))
    if "html" in formats:
        paths["html"] = writer.put("html", html_page(data, check_list, svg))
    bad = failures(check_list)
    return dict(changed=writer.changed, passed=not bad, checks=check_list, failures=bad, paths=paths)
