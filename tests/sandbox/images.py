"""The images the sandbox's registries hold, and what the kubelet's pull of any other says.

No image is pulled here; what a pull would find is modelled instead. A reference is read as the container runtime
reads it (github.com/distribution/reference: a first component with a dot or a colon, or ``localhost``, is the
registry, else docker.io; a single name is under ``library/``; no tag is ``latest``; a digest is taken to exist in
a repository that does). The registries hold the repositories below, each with the tags its project publishes, as
a pattern of its release scheme (nginx's are 1.MINOR[.PATCH], Istio's 1.MINOR.PATCH, ...). Any other repository is
unknown to the registry; any other tag is not found. The runtime's words for each (containerd's CRI, as the
kubelet reports them in the container's waiting state and in its events):

- a malformed reference: InvalidImageName, 'Failed to apply default image tag "REF": couldn't parse image name
  "REF": invalid reference format';
- an unknown repository: ErrImagePull, '... pull access denied, repository does not exist or may require
  authorization: server message: insufficient_scope: authorization failed';
- an unknown tag: ErrImagePull, '... REF: not found';

then ImagePullBackOff 'Back-off pulling image "REF"' while the kubelet retries
(kubernetes.io/docs/concepts/containers/images/#imagepullbackoff).
"""

import re

# repository (a pattern, for registries with an account or region in their name) -> tag pattern
_VERSION = r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}"
CATALOGUE = [
    (r"docker\.io/library/nginx", r"latest|stable|mainline|alpine|(stable|mainline)-alpine|"
                                  r"1\.([0-9]|[12][0-9])(\.[0-9]{1,2})?(-alpine|-perl|-alpine-slim)?"),
    (r"docker\.io/library/busybox", r"latest|stable|musl|glibc|uclibc|1\.[1-3][0-9](\.[0-9])?(-(musl|glibc|uclibc))?"),
    (r"docker\.io/library/alpine", r"latest|edge|3(\.[0-9]{1,2}){0,2}"),
    (r"docker\.io/library/postgres", r"latest|alpine|(9\.[0-6]|1[0-8])(\.[0-9]{1,2})?(-alpine|-bookworm)?"),
    (r"docker\.io/curlimages/curl", r"latest|[78]\.[0-9]{1,2}\.[0-9]{1,2}"),
    (r"docker\.io/library/python", r"latest|alpine|slim|3(\.[0-9]{1,2}){0,2}(-alpine|-slim|-bookworm|-bullseye)?"),
    (r"docker\.io/library/redis", r"latest|alpine|[5-8](\.[0-9]{1,2}){0,2}(-alpine|-bookworm)?"),
    (r"docker\.io/prom/node-exporter", r"latest|v1\.[0-9]{1,2}\.[0-9]{1,2}"),
    (r"docker\.io/ansible/galaxy-elasticsearch", r"2\.4\.6"),
    # the Kubernetes e2e images' nginx-slim, on the old and the new registry
    (r"(k8s\.gcr\.io|registry\.k8s\.io)/nginx-slim", r"0\.([5-9]|1[0-9]|2[0-9])"),
    # the deprecated official OpenJDK images (their last tags: 17, 17-jdk, 17.0.2, 18-ea-..., ...)
    (r"docker\.io/library/openjdk", r"latest|(8|11|1[6-9]|2[0-2])(\.[0-9]+(\.[0-9]+)?)?(-jdk|-jre|-slim|-oracle)*"),
    (r"gcr\.io/google-samples/hello-app", r"1\.0|2\.0"),
    (r"us-docker\.pkg\.dev/google-samples/containers/gke/hello-app", r"1\.0|2\.0"),
    # (kuard's releases: the numbered and coloured tags, and v0.10.0-COLOUR)
    (r"gcr\.io/kuar-demo/kuard-amd64", r"[1-3]|blue|green|purple|v0\.10\.0-(blue|green|purple)"),
    (r"quay\.io/fluentd_elasticsearch/fluentd", r"v[0-9]\.[0-9]{1,2}\.[0-9]{1,2}"),
    # Istio's images, one tag per release (and its distroless and debug variants)
    (r"docker\.io/istio/(proxyv2|pilot|install-cni|ztunnel|operator)", r"1\.[0-9]{1,2}\.[0-9]{1,2}(-distroless|-debug)?"),
    # Istio's addons (samples/addons) and the AWS Load Balancer Controller's chart
    (r"docker\.io/grafana/grafana", _VERSION),
    (r"docker\.io/grafana/loki", _VERSION),
    (r"docker\.io/jaegertracing/(jaeger|all-in-one)", _VERSION),
    (r"docker\.io/prom/prometheus", "v" + _VERSION),
    (r"docker\.io/kiwigrid/k8s-sidecar", _VERSION),
    (r"ghcr\.io/prometheus-operator/prometheus-config-reloader", "v" + _VERSION),
    (r"quay\.io/kiali/kiali", r"v[0-9]\.[0-9]{1,2}(\.[0-9]{1,2})?"),
    (r"public\.ecr\.aws/eks/aws-load-balancer-controller", "v" + _VERSION),
    (r"[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/amazon-k8s-cni(-init)?", r"v" + _VERSION +
     r"(-eksbuild\.[0-9]+)?"),
]
# github.com/distribution/reference's grammar, reduced to what tells a valid name from an invalid one
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(r"^(?:(?P<domain>(?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+(?::[0-9]+)?)/)?"
                        r"(?P<path>%s(?:/%s)*)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
                        % (_COMPONENT, _COMPONENT))


def normalize(reference):
    """(repository, tag or None, digest or None) as the runtime reads ``reference``; None when it is malformed."""
    match = _REFERENCE.match(reference or "")
    if not match:
        return None
    domain, path = match.group("domain"), match.group("path")
    if domain is not None and "." not in domain and ":" not in domain and domain != "localhost":
        path, domain = domain.lower() + "/" + path, None
        if not re.match(r"^%s(?:/%s)*$" % (_COMPONENT, _COMPONENT), path):
            return None
    if domain is None or domain == "index.docker.io":
        domain = "docker.io"
    if domain == "docker.io" and "/" not in path:
        path = "library/" + path  # (docker.io/nginx is docker.io/library/nginx, as nginx is)
    tag, digest = match.group("tag"), match.group("digest")
    if tag is None and digest is None:
        tag = "latest"
    return "%s/%s" % (domain, path), tag, digest


def pull(reference):
    """None when the registries hold ``reference``; else (reason, message) as the kubelet reports the failure."""
    parsed = normalize(reference)
    if parsed is None:
        return "InvalidImageName", ('Failed to apply default image tag "%s": couldn\'t parse image name "%s": '
                                    'invalid reference format' % (reference, reference))
    repository, tag, digest = parsed
    full = "%s%s" % (repository, ":" + tag if tag else "@" + digest)
    unknown = 'rpc error: code = %s desc = failed to pull and unpack image "%s": failed to resolve reference "%s": '
    for name, tags in CATALOGUE:
        if re.fullmatch(name, repository):
            if tag is None or re.fullmatch(tags, tag):
                return None
            return "ErrImagePull", (unknown % ("NotFound", full, full)) + "%s: not found" % full
    return "ErrImagePull", (unknown % ("Unknown", full, full)) + (
        "pull access denied, repository does not exist or may require authorization: server message: "
        "insufficient_scope: authorization failed")


# Programs an image lacks, of those the sandbox's shell runs (sandbox/shell.py PROGRAMS; BusyBox holds them all,
# and so do the Debian- and Alpine-based images above). The OpenJDK images are Oracle Linux slim builds without
# findutils: kubernetes.core's k8s_copy target checks that `find` fails there before it copies out by `echo`.
_LACKING = [(r"docker\.io/library/openjdk", ("find",))]


def programs(reference, known):
    """Those of ``known`` (program names) that the image ``reference`` holds."""
    parsed = normalize(reference)
    lacking = set()
    for name, absent in _LACKING:
        if parsed is not None and re.fullmatch(name, parsed[0]):
            lacking.update(absent)
    return tuple(p for p in known if p not in lacking)
