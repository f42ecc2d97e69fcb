"""The read-only commands: `version`, `x precheck`, `analyze`, `proxy-status`, `proxy-config`."""

import json
import sys

from .. import yamlio as yaml

from . import common
from .common import ANALYZE_FAILED, Failure, VERSION
from .kube import list_items


def control_plane(kube):
    listing = kube.get("/api/v1/namespaces/%s/pods" % common.NAMESPACE, labelSelector="app=istiod") or {}
    running = [p for p in listing.get("items", []) if (p.get("status") or {}).get("phase") == "Running"]
    out = []
    for pod in running:
        image = pod["spec"]["containers"][0]["image"]
        out.append({"Component": "istiod", "Revision": pod["metadata"]["labels"].get("istio.io/rev", "default"),
                    "Info": {"version": image.rsplit(":", 1)[-1], "revision": "sandbox", "golang_version": "go1.24",
                             "status": "Clean", "tag": image.rsplit(":", 1)[-1]}})
    return out


def data_plane(kube):
    listing = kube.get("/api/v1/pods") or {}
    out = []
    for pod in listing.get("items", []):
        spec = pod.get("spec") or {}
        proxies = [c for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
                   if c.get("name") == "istio-proxy" or (
                       "proxyv2" in c.get("image", "") and pod["metadata"]["namespace"] == common.NAMESPACE)]
        if proxies and (pod.get("status") or {}).get("phase") == "Running":
            meta = pod["metadata"]
            # the revision whose istiod the proxy dials: its injector's (annotation) or, for a gateway, its own label
            revision = (meta.get("annotations") or {}).get("istio.io/rev") or \
                (meta.get("labels") or {}).get("istio.io/rev") or "default"
            out.append({"ID": "%s.%s" % (meta["name"], meta["namespace"]),
                        "IstioVersion": proxies[0]["image"].rsplit(":", 1)[-1], "Revision": revision})
    return out


def istiod_pods(kube):
    """{revision: [running istiod pod names]} in the Istio namespace."""
    out = {}
    for pod in list_items(kube, "/api/v1/namespaces/%s/pods" % common.NAMESPACE, labelSelector="app=istiod"):
        if (pod.get("status") or {}).get("phase") == "Running":
            rev = (pod["metadata"].get("labels") or {}).get("istio.io/rev") or "default"
            out.setdefault(rev, []).append(pod["metadata"]["name"])
    return dict((rev, sorted(names)) for rev, names in out.items())


def cmd_version(args, kube):
    client = {"version": VERSION, "revision": "sandbox", "golang_version": "go1.24", "status": "Clean",
              "tag": VERSION}
    result = {"clientVersion": client}
    mesh = []
    if args.remote:
        mesh = control_plane(kube)
        if mesh:
            result["meshVersion"] = mesh
            result["dataPlaneVersion"] = data_plane(kube)
        else:
            # the real tool says so on stdout, before the JSON, when no control plane runs
            print('Istio is not present in the cluster: no running Istio pods in namespace "%s"' % common.NAMESPACE)
    if args.output == "json":
        print(json.dumps(result, indent=2))
    elif args.output == "yaml":
        print(yaml.safe_dump(result), end="")
    elif args.short or args.output == "short":
        print(VERSION)
    else:
        print("client version: %s" % VERSION)
        if mesh:
            print("control plane version: %s" % ", ".join(sorted(set(m["Info"]["version"] for m in mesh))))
            planes = result.get("dataPlaneVersion") or []
            versions = sorted(set(p["IstioVersion"] for p in planes))
            counts = ["%s (%d proxies)" % (v, sum(1 for p in planes if p["IstioVersion"] == v)) for v in versions]
            print("data plane version: %s" % (", ".join(counts) or "none"))
    return 0


# The Kubernetes minimum `istioctl x precheck` enforces, by Istio minor release (finding IST0142, an Error): the
# constant MinK8SVersion of each release's source (istioctl/pkg/install/k8sversion/version.go) - 29 at 1.27
# (../shared/upstream/README.md), 30 at 1.28.10 and at 1.29.6, 32 at 1.30.3. It is a floor only: istio.io's
# support status gives each release a supported range (1.28: 1.30-1.34, 1.29: 1.31-1.35, 1.30: 1.32-1.36).
K8S_MINIMUM = ((30, 32), (28, 30), (27, 29))
RED, YELLOW, RESET = "\033[31m", "\033[33m", "\033[0m"


def k8s_minimum(version=None):
    minor = int((version or VERSION).split(".")[1])
    return next((k for istio, k in K8S_MINIMUM if minor >= istio), 28)


def cmd_precheck(args, kube):
    """As the real command: findings on stdout (coloured when stdout is a terminal), exit 1 for any finding of
    Warning or worse; the success line on stderr, exit 0 (../shared/upstream/README.md)."""
    version = kube.get("/version") or {}
    minor = int("".join(ch for ch in str(version.get("minor", "0")) if ch.isdigit()) or 0)
    problems = list(kube.faults().get("precheck_findings") or [])
    minimum = k8s_minimum()
    if minor and minor < minimum:
        problems.append("Error [IST0142] (Cluster) The Kubernetes version v1.%d is lower than the minimum version "
                        "1.%d supported by Istio %s." % (minor, minimum, VERSION))
    if problems:
        colour = sys.stdout.isatty()
        for line in problems:
            tint = RED if line.startswith("Error") else YELLOW
            print(tint + line + RESET if colour else line)
        return 1
    sys.stderr.write("\u2714 No issues found when checking the cluster. Istio is safe to install or upgrade!\n"
                     "  To get started, check out https://istio.io/latest/docs/setup/getting-started/.\n")
    return 0


def _list_all(kube, path, namespace=None):
    if namespace:
        parts = path.split("/")
        path = "/".join(parts[:-1]) + "/namespaces/%s/%s" % (namespace, parts[-1])
    listing = kube.get(path) or {}
    return listing.get("items", [])


def cmd_analyze(args, kube):
    namespace = None if args.all_namespaces else (args.namespace or "default")
    messages = []
    gateways = {}
    for version in ("v1", "v1beta1", "v1alpha3"):
        items = _list_all(kube, "/apis/networking.istio.io/%s/gateways" % version)
        if items:
            gateways = {"%s/%s" % (g["metadata"]["namespace"], g["metadata"]["name"]): g for g in items}
            break
    services = {"%s/%s" % (s["metadata"]["namespace"], s["metadata"]["name"])
                for s in _list_all(kube, "/api/v1/services")}
    for version in ("v1", "v1beta1", "v1alpha3"):
        vss = _list_all(kube, "/apis/networking.istio.io/%s/virtualservices" % version, namespace)
        if vss:
            break
    for vs in vss:
        ns = vs["metadata"]["namespace"]
        origin = "VirtualService %s/%s" % (ns, vs["metadata"]["name"])
        for ref in (vs.get("spec") or {}).get("gateways") or []:
            if ref == "mesh":
                continue
            key = ref if "/" in ref else "%s/%s" % (ns, ref)
            if key not in gateways:
                messages.append({"code": "IST0101", "level": "Error", "origin": origin,
                                 "message": 'Referenced gateway not found: "%s"' % ref})
        for route in (vs.get("spec") or {}).get("http") or []:
            for dest in route.get("route") or []:
                host = (dest.get("destination") or {}).get("host", "")
                pieces = host.split(".")
                key = "%s/%s" % (pieces[1] if len(pieces) > 1 else ns, pieces[0])
                if "." not in host.replace(".svc.cluster.local", "").split(".", 1)[-1] and key not in services:
                    messages.append({"code": "IST0101", "level": "Error", "origin": origin,
                                     "message": 'Referenced host not found: "%s"' % host})
    for ns in _list_all(kube, "/api/v1/namespaces"):
        name = ns["metadata"]["name"]
        labels = ns["metadata"].get("labels") or {}
        if namespace and name != namespace:
            continue
        if name in ("kube-system", "kube-public", "kube-node-lease", common.NAMESPACE):
            continue
        if "istio-injection" not in labels and "istio.io/rev" not in labels:
            if _list_all(kube, "/api/v1/pods", name):
                messages.append({"code": "IST0102", "level": "Info", "origin": "Namespace %s" % name,
                                 "message": 'The namespace is not enabled for Istio injection. Run \'kubectl label '
                                            'namespace %s istio-injection=enabled\' to enable it, or \'kubectl label '
                                            'namespace %s istio-injection=disabled\' to explicitly mark it as not '
                                            'needing injection.' % (name, name)})
    for message in messages:
        message["documentationUrl"] = "https://istio.io/v%s/docs/reference/config/analysis/%s/" % (
            ".".join(VERSION.split(".")[:2]), message["code"].lower())
    if args.output == "json":
        print(json.dumps(messages, indent=2))
    elif args.output == "yaml":
        print(yaml.safe_dump(messages), end="")
    elif messages:
        for message in messages:
            print("%s [%s] (%s) %s" % (message["level"], message["code"], message["origin"], message["message"]))
    else:
        print("\u2714 No validation issues found when analyzing %s." % (
            "all namespaces" if namespace is None else "namespace: %s" % namespace))
    if any(m["level"] == "Error" for m in messages):
        if args.output not in ("json", "yaml"):
            sys.stderr.write("Error: Analyzers found issues when analyzing %s.\nSee https://istio.io/v%s/docs/"
                             "reference/config/analysis for more information about causes and resolutions.\n" % (
                                 "all namespaces" if namespace is None else "namespace: %s" % namespace,
                                 ".".join(VERSION.split(".")[:2])))
        return ANALYZE_FAILED
    return 0


def cmd_proxy_status(args, kube):
    """istioctl proxy-status: every proxy connected to a control plane, with the istiod pod it is connected to (the
    ISTIOD column: a pod of the revision the proxy was injected by - its discovery address is that revision's
    istiod Service - not the revision's name); a proxy whose revision has no running istiod is connected to none and
    not listed. common.NAMESPACE narrows the list to one namespace."""
    rows = []
    pods = istiod_pods(kube)
    for plane in data_plane(kube):
        if args.namespace and not plane["ID"].endswith("." + args.namespace):
            continue
        names = pods.get(plane["Revision"])
        if names:
            # a proxy stays on the istiod replica it dialled; spread over the replicas by its name
            rows.append((plane["ID"], names[sum(map(ord, plane["ID"])) % len(names)], plane["IstioVersion"]))
    width = [max([len("NAME")] + [len(r[0]) for r in rows]) + 3, max([len("ISTIOD")] + [len(r[1]) for r in rows]) + 3]
    print("%-*s%-15s%-11s%-11s%-11s%-11s%-13s%-*s%s" % (width[0], "NAME", "CLUSTER", "CDS", "LDS", "EDS", "RDS",
                                                        "ECDS", width[1], "ISTIOD", "VERSION"))
    for name, istiod, version in sorted(rows):
        print("%-*s%-15s%-11s%-11s%-11s%-11s%-13s%-*s%s" % (width[0], name, "Kubernetes", "SYNCED", "SYNCED", "SYNCED",
                                                            "SYNCED", "NOT SENT", width[1], istiod, version))
    return 0


def _camel(name):
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def proto_json(value, keep_keys=False):
    """An Envoy admin dump (snake_case field names) as istioctl prints its messages: protojson, lowerCamelCase field
    names (istioctl/pkg/util/proto/messageslice.go, protomarshal.Marshal); the keys of a map field such as
    filter_metadata, and of the Structs in it, are data and stay as they are."""
    if isinstance(value, list):
        return [proto_json(item, keep_keys) for item in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key == "@type":
            continue  # the dumped route configs are unpacked from their Any
        name = key if keep_keys else _camel(key)
        if key == "filter_metadata" and not keep_keys:
            out[name] = {k: proto_json(v, True) for k, v in item.items()}
        else:
            out[name] = proto_json(item, keep_keys)
    return out


def _proxy_pod(kube, target, namespace):
    """The pod a proxy-config argument names (istioctl's InferPodInfoFromTypedResource): POD, POD.NAMESPACE, or
    TYPE/NAME for a Deployment (deploy, deployment, deployments), whose first running pod is taken."""
    kind, dummy, name = target.rpartition("/")
    if "." in name:
        name, namespace = name.split(".", 1)
    if not kind:
        return name, namespace
    if kind not in ("deploy", "deployment", "deployments"):
        raise Failure("Error: unsupported resource type %s" % kind)
    deployment = kube.get("/apis/apps/v1/namespaces/%s/deployments/%s" % (namespace, name))
    if deployment is None:
        raise Failure('Error: deployments.apps "%s" not found' % name)
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    pods = kube.get("/api/v1/namespaces/%s/pods" % namespace,
                    labelSelector=",".join("%s=%s" % item for item in sorted(labels.items()))) or {}
    running = sorted(p["metadata"]["name"] for p in pods.get("items", [])
                     if (p.get("status") or {}).get("phase") == "Running")
    if not running:
        raise Failure("Error: no running pods for deployment %s" % name)
    return running[0], namespace


def cmd_proxy_config(args, kube):
    """istioctl proxy-config routes: the route configuration the proxy's Envoy holds, read from its admin port through
    a port-forward (istioctl/pkg/writer/envoy/configdump/route.go): -o json prints the RouteConfigurations, the
    dynamic ones first; the default table lists each route with its virtual host, match and VirtualService."""
    name, namespace = _proxy_pod(kube, args.target, args.namespace or "default")
    if kube.get("/api/v1/namespaces/%s/pods/%s" % (namespace, name)) is None:
        raise Failure('Error: pods "%s" not found' % name)
    dump = kube.get("/sandbox/portforward/%s/%s/15000/config_dump" % (namespace, name))
    if dump is None:
        raise Failure("Error: failed to execute command on sidecar: config_dump not found")
    routes = []
    for section in dump.get("configs") or []:
        routes.extend(entry["route_config"] for entry in section.get("dynamic_route_configs") or [])
        routes.extend(entry["route_config"] for entry in section.get("static_route_configs") or [])
    if args.name:
        routes = [r for r in routes if r.get("name") == args.name]
    if args.output in ("json", "yaml"):
        out = proto_json(routes)
        print(json.dumps(out, indent=4) if args.output == "json" else yaml.safe_dump(out, default_flow_style=False))
        return 0
    rows = [("NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE")]
    for route in routes:
        for host in route.get("virtual_hosts") or []:
            for entry in host.get("routes") or []:
                match = entry.get("match") or {}
                described = ("PathPrefix:" + match["path_separated_prefix"] if "path_separated_prefix" in match
                             else match.get("path") or (match.get("prefix", "/") + "*"))
                config = ((entry.get("metadata") or {}).get("filter_metadata") or {}).get("istio", {}).get("config", "")
                pieces = config.split("/")
                rows.append((route.get("name", ""), host.get("name", ""), ", ".join(host.get("domains") or []),
                             described, "%s.%s" % (pieces[7], pieces[5]) if len(pieces) == 8 else ""))
    widths = [max(len(r[i]) for r in rows) + 5 for i in range(4)]
    for row in rows:
        print("".join(cell.ljust(width) for cell, width in zip(row, widths)) + row[4])
    return 0
