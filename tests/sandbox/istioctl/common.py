"""What every part of the istioctl stand-in shares: its release, the control-plane namespace it acts on (set once per
run by cli.main from --istioNamespace or values.global.istioNamespace), its field managers and labels."""

import os

from .. import upstream


VERSION = os.environ.get("SANDBOX_ISTIO_VERSION", upstream.TESTED[-1])
NAMESPACE = "istio-system"
FIELD_MANAGER = "istio-operator"
TAG_FIELD_MANAGER = "istio-ci"
ANALYZE_FAILED = 79
OWNER_LABEL = "install.operator.istio.io/owning-resource"
COMPONENT_LABEL = "operator.istio.io/component"
# manifests/profiles at 1.30 (../shared/upstream/istio/1.30.3/profiles): what each enables is read from the files
PROFILES = ("ambient", "default", "demo", "empty", "minimal", "openshift", "openshift-ambient", "preview", "remote",
            "stable")


class Failure(Exception):
    def __init__(self, message, code=1):
        Exception.__init__(self, message)
        self.code = code
