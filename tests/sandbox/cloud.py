"""What EKS's load-balancer controllers do for a Service of type LoadBalancer, against the sandbox's moto.

Three modes, chosen at ``up --lb-mode`` (facts and sources in ../shared/REAL_EKS.md):

- ``in-tree``: the AWS cloud provider built into the control plane (cloud-provider-aws
  ``pkg/providers/v1/aws.go``, ``aws_loadbalancer.go``, ``tags.go``) handles Services without a
  ``loadBalancerClass``: a Classic ELB named ``a`` + the Service's UID without dashes (32 characters,
  k8s.io/cloud-provider ``DefaultLoadBalancerName``), a security group ``k8s-elb-<name>`` tagged
  ``kubernetes.io/cluster/<cluster>=owned`` that lets ``loadBalancerSourceRanges`` (default ``0.0.0.0/0``) in on
  each port, an all-traffic rule from that group on each node's one tagged group (``findSecurityGroupForInstance``:
  the tagged group, else the single untagged one), internet-facing unless annotated
  ``service.beta.kubernetes.io/aws-load-balancer-internal``. The service controller
  (k8s.io/cloud-provider ``controllers/service``) puts the finalizer ``service.kubernetes.io/load-balancer-cleanup``
  on the Service first and takes it off once the load balancer is deleted.
- ``aws-lb-controller``: the AWS Load Balancer Controller 2.5+. Its webhook sets ``loadBalancerClass:
  service.k8s.aws/nlb`` on new LoadBalancer Services; it makes an NLB that is internal unless annotated
  ``service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing``, a frontend security group
  ``k8s-<ns>-<name>-<hash>`` tagged ``elbv2.k8s.aws/cluster`` and ``service.k8s.aws/stack``, and holds the Service
  with the finalizer ``service.k8s.aws/resources``; the NLB's network interfaces are released asynchronously
  after it is deleted. Per Service port it makes a target group (moto's elbv2) and a ``TargetGroupBinding``
  (``elbv2.k8s.aws/v1beta1``) of the same name in the Service's namespace, labelled with the stack
  (``service.k8s.aws/stack-namespace``, ``service.k8s.aws/stack-name``) and held by the finalizer
  ``elbv2.k8s.aws/resources`` (LBC ``pkg/service/model_build_target_group.go``, ``pkg/deploy/tracking/provider.go``,
  ``controllers/elbv2/targetgroupbinding_controller.go``); the nodes' groups admit the target port from the
  cluster's shared backend group ``k8s-traffic-<cluster>-<hash>`` (``pkg/networking/backend_sg_provider.go``),
  made with the first such load balancer and deleted with the last. On deletion it releases the bindings, target
  groups, node rules and groups before the Service.
- ``auto-mode``: EKS Auto Mode, the same with class ``eks.amazonaws.com/nlb`` set by default
  (docs.aws.amazon.com/eks/latest/userguide/auto-configure-nlb.html). The finalizer name
  ``service.eks.amazonaws.com/resources`` is this sandbox's assumption, modelled on the controller's.

A load balancer's DNS name does not resolve at once and its targets take time to pass health checks: for
``lb_ready_delay`` seconds (a fault knob) after it is made, its listener here drops connections for the first half
(a name that does not resolve yet) and answers 503 for the second (no healthy targets). The listener admits only
clients inside the Service's source ranges (the sandbox's clients come from 127.0.0.1); an internal load balancer
gets no listener at all (its private addresses are not reachable from outside the VPC). ``stuck_finalizers`` (a
fault knob) makes the controllers never release a Service, as when the controller is missing (aws-load-balancer-
controller #2200).
"""

import hashlib
import ipaddress
import sys
import threading
import time

from .selection import label_matches, selector_from_match

IN_TREE_FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
CLASSES = {"service.k8s.aws/nlb": ("aws-lb-controller", "service.k8s.aws/resources"),
           "eks.amazonaws.com/nlb": ("auto-mode", "service.eks.amazonaws.com/resources")}
DEFAULT_CLASS = {"aws-lb-controller": "service.k8s.aws/nlb", "auto-mode": "eks.amazonaws.com/nlb"}
MODES = ("in-tree", "aws-lb-controller", "auto-mode")
# The AWS Load Balancer Controller's release the sandbox runs (up --lbc-version). Its NLBs get a managed frontend
# security group from v2.6.0 (feature gate NLBSecurityGroup, on by default); before, or with the gate off, an NLB
# has none and admits every source: loadBalancerSourceRanges then hold only through the nodes' groups for instance
# targets that preserve client IPs, never for ip targets (LBC docs "NLB security groups", model_build_target_group.go)
LBC_VERSION = "v2.13.0"
LBC_IMAGE = "public.ecr.aws/eks/aws-load-balancer-controller"
INTERNAL = "service.beta.kubernetes.io/aws-load-balancer-internal"
SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"
TGB_FINALIZER = "elbv2.k8s.aws/resources"
SERVICE_WEBHOOK = "mservice.elbv2.k8s.aws"
TARGET_TYPE = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"
# the description LBC gives the rules it manages on the nodes' groups (pkg/targetgroupbinding/networking_manager.go)
TGB_RULE = "elbv2.k8s.aws/targetGroupBinding=shared"


def _alnum(text):
    return "".join(c for c in text if c.isalnum())


def _crd(group, kind, plural, version, scope="Namespaced", columns=()):
    """A CRD reduced to what the sandbox serves (its schema is not modelled: any object of the kind is kept)."""
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "%s.%s" % (plural, group)},
            "spec": {"group": group, "scope": scope,
                     "names": {"kind": kind, "listKind": kind + "List", "plural": plural, "singular": kind.lower()},
                     "versions": [{"name": version, "served": True, "storage": True, "subresources": {"status": {}},
                                   "additionalPrinterColumns": list(columns),
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}]}}


def binding_crd():
    """The TargetGroupBinding CRD the controller's chart installs."""
    return _crd("elbv2.k8s.aws", "TargetGroupBinding", "targetgroupbindings", "v1beta1", columns=[
        {"name": "SERVICE-NAME", "type": "string", "jsonPath": ".spec.serviceRef.name"},
        {"name": "SERVICE-PORT", "type": "string", "jsonPath": ".spec.serviceRef.port"},
        {"name": "TARGET-TYPE", "type": "string", "jsonPath": ".spec.targetType"},
        {"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"}])


def auto_mode_objects():
    """What an EKS Auto Mode cluster holds in the cluster (EKS user guide: create-node-class, create-node-pool,
    set-builtin-node-pools): its CRDs - NodeClass (eks.amazonaws.com/v1, cluster-scoped), Karpenter's NodePool and
    NodeClaim (karpenter.sh/v1) - then the built-in NodeClass ``default`` and NodePools ``general-purpose`` and
    ``system``. Returns (crds, [(plural group/version, object)])."""
    crds = [_crd("eks.amazonaws.com", "NodeClass", "nodeclasses", "v1", "Cluster"),
            _crd("karpenter.sh", "NodePool", "nodepools", "v1", "Cluster"),
            _crd("karpenter.sh", "NodeClaim", "nodeclaims", "v1", "Cluster")]
    node_class = {"apiVersion": "eks.amazonaws.com/v1", "kind": "NodeClass", "metadata": {"name": "default"},
                  "spec": {"role": "AmazonEKSAutoNodeRole", "ephemeralStorage": {"size": "80Gi"},
                           "networkPolicy": "DefaultAllow", "snatPolicy": "Random"}}
    pools = []
    for name, extra in (("general-purpose", []), ("system", [
            {"key": "CriticalAddonsOnly", "effect": "NoSchedule"}])):
        template = {"spec": {"nodeClassRef": {"group": "eks.amazonaws.com", "kind": "NodeClass", "name": "default"},
                             "requirements": [
                                 {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                                 {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}],
                             "expireAfter": "336h"}}
        if extra:
            template["spec"]["taints"] = extra
        pools.append({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": name},
                      "spec": {"template": template, "disruption": {
                          "consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "30s"}}})
    return crds, [("eks.amazonaws.com/v1 nodeclasses", node_class)] + \
        [("karpenter.sh/v1 nodepools", pool) for pool in pools]


class Cloud(object):
    def __init__(self, api, faults, endpoint, access_key, secret_key, region, cluster, vpc_id, vpc_cidr, subnets,
                 nodes, mode="in-tree", lbc_version=None):
        import boto3  # pylint: disable=import-outside-toplevel
        if mode not in MODES:
            raise ValueError("lb mode %r: expected one of %s" % (mode, ", ".join(MODES)))
        session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                        region_name=region)
        self.ec2 = session.client("ec2", endpoint_url=endpoint)
        self.elbv2 = session.client("elbv2", endpoint_url=endpoint)
        self.elb = session.client("elb", endpoint_url=endpoint)
        self.backend_group = None  # the AWS Load Balancer Controller's shared backend group, while one is in use
        self.api = api
        self.faults = faults
        self.region = region
        self.cluster = cluster
        self.vpc_id = vpc_id
        self.vpc_cidr = vpc_cidr
        self.subnets = subnets
        self.nodes = nodes
        self.mode = mode
        self.lbc_version = lbc_version or LBC_VERSION
        numbers = tuple(int(n) for n in self.lbc_version.lstrip("v").split(".")[:2])
        self.nlb_groups = numbers >= (2, 6)
        self.lock = threading.RLock()
        self.balancers = {}  # service uid -> record

    def controller_deployment(self):
        """The AWS Load Balancer Controller as its Helm chart deploys it in kube-system (the image names its
        release; --feature-gates would switch NLBSecurityGroup off)."""
        labels = {"app.kubernetes.io/name": "aws-load-balancer-controller",
                  "app.kubernetes.io/instance": "aws-load-balancer-controller"}
        return {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "aws-load-balancer-controller", "namespace": "kube-system", "labels": labels},
                "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels}, "spec": {
                             "serviceAccountName": "aws-load-balancer-controller",
                             "containers": [{"name": "aws-load-balancer-controller",
                                             "image": "%s:%s" % (LBC_IMAGE, self.lbc_version),
                                             "args": ["--cluster-name=%s" % self.cluster, "--ingress-class=alb"],
                                             "ports": [{"name": "webhook-server", "containerPort": 9443}]}]}}}}

    # ------------------------------------------------------------ admission (the controllers' webhooks)

    def admission_hook(self, api, kind, obj, old, dry_run):
        """A class on new LoadBalancer Services without one: Auto Mode's control plane makes its class the cluster's
        default (EKS user guide, auto-configure-nlb: "automatically set as the cluster default"); the AWS Load
        Balancer Controller does it from its webhook ``mservice.elbv2.k8s.aws`` (LBC pkg/service/mutator), so only
        while that webhook is registered (Helm value ``enableServiceMutatorWebhook``, on by default) and its
        selectors match."""
        if kind.kind != "Service" or old is not None or self.mode == "in-tree":
            return
        spec = obj.get("spec") or {}
        if spec.get("type") != "LoadBalancer" or spec.get("loadBalancerClass"):
            return
        if self.mode == "aws-lb-controller" and not self._service_webhook_matches(api, obj):
            return
        spec["loadBalancerClass"] = DEFAULT_CLASS[self.mode]

    @staticmethod
    def _service_webhook_matches(api, svc):
        """Whether a registered ``mservice.elbv2.k8s.aws`` webhook takes this Service on CREATE."""
        configs, dummy = api.list(api.registry.find("admissionregistration.k8s.io", "v1",
                                                    "mutatingwebhookconfigurations"))
        namespace = api.find(api.registry.find("", "v1", "namespaces"), None, svc["metadata"].get("namespace"))
        ns_labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
        for config in configs:
            for hook in config.get("webhooks") or []:
                if hook.get("name") != SERVICE_WEBHOOK:
                    continue
                creates = any("services" in (rule.get("resources") or []) and
                              {"CREATE", "*"} & set(rule.get("operations") or []) for rule in hook.get("rules") or [])
                if creates and label_matches(selector_from_match(hook.get("namespaceSelector")), ns_labels) and \
                        label_matches(selector_from_match(hook.get("objectSelector")),
                                      svc["metadata"].get("labels") or {}):
                    return True
        return False

    def webhook_configuration(self):
        """The controller's MutatingWebhookConfiguration as its Helm chart (eks-charts
        stable/aws-load-balancer-controller, templates/webhook.yaml) registers it with the default values: the pod
        readiness-gate webhook and the Service webhook that gives new LoadBalancer Services its class."""
        service = {"name": "aws-load-balancer-webhook-service", "namespace": "kube-system"}
        not_itself = {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "NotIn",
                                            "values": ["aws-load-balancer-controller"]}]}
        return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
                "metadata": {"name": "aws-load-balancer-webhook", "labels": {
                    "app.kubernetes.io/name": "aws-load-balancer-controller",
                    "app.kubernetes.io/instance": "aws-load-balancer-controller",
                    "app.kubernetes.io/managed-by": "Helm"}},
                "webhooks": [
                    {"name": "mpod.elbv2.k8s.aws", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                     "failurePolicy": "Ignore",
                     "clientConfig": {"service": dict(service, path="/mutate-v1-pod")},
                     "namespaceSelector": {"matchExpressions": [{
                         "key": "elbv2.k8s.aws/pod-readiness-gate-inject", "operator": "In", "values": ["enabled"]}]},
                     "objectSelector": not_itself,
                     "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                                "resources": ["pods"]}]},
                    {"name": SERVICE_WEBHOOK, "admissionReviewVersions": ["v1"], "sideEffects": "None",
                     "failurePolicy": "Fail",
                     "clientConfig": {"service": dict(service, path="/mutate-v1-service")},
                     "objectSelector": not_itself,
                     "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                                "resources": ["services"]}]}]}

    # ------------------------------------------------------------ which controller handles a Service

    def handler(self, svc):
        """(controller, finalizer) for this Service, or (None, None) when no controller here takes it."""
        cls = (svc.get("spec") or {}).get("loadBalancerClass")
        if not cls:
            return "in-tree", IN_TREE_FINALIZER
        controller, finalizer = CLASSES.get(cls, (None, None))
        if controller != self.mode:
            return None, None
        return controller, finalizer

    def reconcile(self, services_kind, namespace, name, dataplane):
        """Bring one Service's load balancer in line; called by the controllers on every Service event. Returns
        (controller, why) when the controller refuses to make it, for the Warning event it records."""
        svc = self.api.find(services_kind, namespace, name)
        if svc is None:
            return
        meta = svc["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        owned = [f for f in finalizers if f == IN_TREE_FINALIZER or f in [v[1] for v in CLASSES.values()]]
        wants_lb = (svc.get("spec") or {}).get("type") == "LoadBalancer" and not meta.get("deletionTimestamp")
        controller, finalizer = self.handler(svc) if wants_lb else (None, None)
        if not wants_lb:
            if not owned:
                return
            if meta.get("deletionTimestamp") and self.faults.stuck_finalizers:
                return  # the controller that would release it is "missing"
            self.delete(meta["uid"], dataplane, namespace, name)
            self._set_finalizers(services_kind, namespace, name, [f for f in finalizers if f not in owned])
            return
        if controller is None:
            return  # a class nobody here serves: it stays pending, as on a cluster without that controller
        if finalizer not in finalizers:
            self._set_finalizers(services_kind, namespace, name, finalizers + [finalizer])
            return  # the update comes back as an event
        refused = self.refusal(svc, controller)
        if refused:
            return refused  # the controller fails to sync it: no load balancer, no address (it retries, in vain)
        record = self.ensure(svc, controller)
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if not ingress or ingress[0].get("hostname") != record["hostname"]:
            self.api.replace(services_kind, namespace, name,
                             dict(svc, status={"loadBalancer": {"ingress": [{"hostname": record["hostname"]}]}}),
                             subresource="status")
            return
        if dataplane is not None:
            if record["scheme"] == "internal":
                dataplane.remove_load_balancer(namespace, name)
            else:
                dataplane.ensure_load_balancer(svc, gate=self.gate(meta["uid"]))

    def _set_finalizers(self, kind, namespace, name, finalizers):
        current = self.api.find(kind, namespace, name)
        if current is None:
            return
        meta = dict(current["metadata"])
        if finalizers:
            meta["finalizers"] = finalizers
        else:
            meta.pop("finalizers", None)
        self.api.replace(kind, namespace, name, dict(current, metadata=meta))

    # ------------------------------------------------------------ AWS resources

    def ensure(self, svc, controller):
        uid = svc["metadata"]["uid"]
        with self.lock:
            record = self.balancers.get(uid)
            if record is not None:
                self._update_ranges(record, svc)
                return record
            meta, spec = svc["metadata"], svc.get("spec") or {}
            annotations = meta.get("annotations") or {}
            ports = [p["port"] for p in spec.get("ports") or []]
            digest = hashlib.sha256(uid.encode()).hexdigest()
            number = int(digest[32:40], 16) % 10 ** 10
            if controller == "in-tree":
                lb_name = ("a" + uid.replace("-", ""))[:32]
                internal = str(annotations.get(INTERNAL, "")).lower() not in ("", "false")
                scheme = "internal" if internal else "internet-facing"
                hostname = "%s%s-%d.%s.elb.amazonaws.com" % ("internal-" if internal else "", lb_name, number,
                                                             self.region)
                group_name = "k8s-elb-%s" % lb_name
                tags = {"kubernetes.io/cluster/%s" % self.cluster: "owned",
                        "kubernetes.io/service-name": "%s/%s" % (meta["namespace"], meta["name"])}
                description = "Security group for Kubernetes ELB %s (%s/%s)" % (
                    lb_name, meta["namespace"], meta["name"])
                eni_description = "ELB %s" % lb_name
            else:
                # k8s-<namespace:8>-<name:8>-<hash:10> of the alphanumerics (LBC model_build_load_balancer.go and
                # model_build_managed_sg.go name the NLB and its frontend group alike)
                lb_name = "k8s-%.8s-%.8s-%.10s" % (_alnum(meta["namespace"]), _alnum(meta["name"]), digest)
                scheme = "internet-facing" if annotations.get(SCHEME) == "internet-facing" else "internal"
                hostname = "%s-%s.elb.%s.amazonaws.com" % (lb_name, digest[10:26], self.region)
                group_name = lb_name
                tags = {"elbv2.k8s.aws/cluster": self.cluster, "service.k8s.aws/resource": "ManagedLBSecurityGroup",
                        "service.k8s.aws/stack": "%s/%s" % (meta["namespace"], meta["name"])}
                description = "[k8s] Managed SecurityGroup for LoadBalancer"
                eni_description = "ELB net/%s/%s" % (lb_name, digest[26:42])
            group = None
            if controller != "aws-lb-controller" or self.nlb_groups:
                group = self.ec2.create_security_group(GroupName=group_name, VpcId=self.vpc_id,
                                                       Description=description)["GroupId"]
                self.ec2.create_tags(Resources=[group], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
            record = {"uid": uid, "controller": controller, "name": lb_name, "scheme": scheme, "hostname": hostname,
                      "group_id": group, "ports": ports, "ranges": [], "node_rules": [], "enis": [],
                      "ready_at": time.time() + float(self.faults.lb_ready_delay or 0),
                      "made_at": time.time(), "unready": int(self.faults.lb_unready_connections or 0),
                      "connections": 0}
            record["bindings"], record["target_groups"] = [], []
            self._update_ranges(record, svc)
            if controller == "aws-lb-controller":
                self._bind_targets(record, svc)
            else:
                # the rule on each node's group that lets the load balancer reach the nodes
                for group_id in self._node_groups():
                    perm = {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group}]}
                    self.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[perm])
                    record["node_rules"].append((group_id, perm))
            self._make_balancer(record, svc)
            for subnet in self.subnets:
                eni = self.ec2.create_network_interface(SubnetId=subnet, Description=eni_description)
                record["enis"].append(eni["NetworkInterface"]["NetworkInterfaceId"])
            self.balancers[uid] = record
            return record

    def _make_balancer(self, record, svc):
        """The load balancer itself, in moto's elb / elbv2 where the product reads it back: a Classic ELB with a TCP
        listener per port to its node port and the k8s-elb-* group (cloud-provider-aws aws_loadbalancer.go), or an
        NLB with the frontend group (and LBC's backend group) and a listener per port forwarding to its target
        group. The Service's hostname keeps the form AWS gives (moto names its own DNS differently); the name is
        what both have in common."""
        ports = (svc.get("spec") or {}).get("ports") or []
        if record["controller"] == "in-tree":
            listeners = [{"Protocol": "TCP", "LoadBalancerPort": p["port"], "InstanceProtocol": "TCP",
                          "InstancePort": p.get("nodePort") or p["port"]} for p in ports]
            self.elb.create_load_balancer(LoadBalancerName=record["name"], Listeners=listeners,
                                          Subnets=list(self.subnets), SecurityGroups=[record["group_id"]],
                                          Scheme=record["scheme"])
            return
        groups = [g for g in (record["group_id"], self.backend_group if self.nlb_groups else None) if g]
        made = dict(Name=record["name"], Subnets=list(self.subnets), Scheme=record["scheme"], Type="network")
        if groups:
            made["SecurityGroups"] = groups
        arn = self.elbv2.create_load_balancer(**made)["LoadBalancers"][0]["LoadBalancerArn"]
        record["arn"] = arn
        if not record["target_groups"]:
            # EKS Auto Mode: target groups for its listeners too (no binding objects are modelled in the cluster)
            for port in ports:
                self._target_group(record, svc, port, "instance")
        for port, group_arn in zip(ports, record["target_groups"]):
            self.elbv2.create_listener(LoadBalancerArn=arn, Protocol="TCP", Port=port["port"],
                                       DefaultActions=[{"Type": "forward", "TargetGroupArn": group_arn}])

    def _node_groups(self):
        return sorted(set(self._node_group(node) for node in self.nodes) - {None})

    def _bind_targets(self, record, svc):
        """The AWS Load Balancer Controller's target groups, TargetGroupBindings and backend rules (see above)."""
        meta, spec = svc["metadata"], svc.get("spec") or {}
        bindings = self.api.registry.find("elbv2.k8s.aws", "v1beta1", "targetgroupbindings")
        target_type = "ip" if (meta.get("annotations") or {}).get(TARGET_TYPE) == "ip" else "instance"
        backend = self._backend_group() if self.nlb_groups else None
        for port in spec.get("ports") or []:
            name, arn, tg_port = self._target_group(record, svc, port, target_type)
            for group_id in self._node_groups():
                perm = {"IpProtocol": "tcp", "FromPort": int(tg_port), "ToPort": int(tg_port),
                        "UserIdGroupPairs": [{"GroupId": backend, "Description": TGB_RULE}]}
                if backend is None:
                    # no NLB group to name: the legacy rules admit the load balancer's subnets (the VPC here)
                    perm = {"IpProtocol": "tcp", "FromPort": int(tg_port), "ToPort": int(tg_port),
                            "IpRanges": [{"CidrIp": self.vpc_cidr, "Description": TGB_RULE}]}
                if (group_id, perm) not in record["node_rules"]:
                    self.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[perm])
                    record["node_rules"].append((group_id, perm))
            if bindings is None:
                sys.stderr.write("cloud: no TargetGroupBinding kind served; %s unbound\n" % name)
                continue
            self.api.create(bindings, meta["namespace"], {
                "apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding",
                "metadata": {"name": name, "namespace": meta["namespace"], "finalizers": [TGB_FINALIZER],
                             "labels": {"service.k8s.aws/stack-namespace": meta["namespace"],
                                        "service.k8s.aws/stack-name": meta["name"]}},
                "spec": {"targetGroupARN": arn, "targetType": target_type, "ipAddressType": "ipv4",
                         "vpcID": self.vpc_id, "serviceRef": {"name": meta["name"], "port": port["port"]},
                         "networking": {"ingress": [{"from": [{"securityGroup": {"groupID": backend}} if backend
                                                              else {"ipBlock": {"cidr": self.vpc_cidr}}],
                                                     "ports": [{"protocol": "TCP", "port": tg_port}]}]}}})
            record["bindings"].append((meta["namespace"], name))

    def _target_group(self, record, svc, port, target_type):
        """One port's target group in moto's elbv2: (name, ARN, its port - the node port for instance targets)."""
        meta = svc["metadata"]
        target = port.get("targetPort", port["port"])
        tg_port = port.get("nodePort") if target_type == "instance" else (target if isinstance(target, int) else 1)
        # k8s-<namespace:8>-<name:8>-<hash:10>, the hash over the cluster, the Service and the port's settings
        tg_hash = hashlib.sha256(("%s%s%s%s%s" % (self.cluster, meta["uid"], tg_port, port["port"], target_type))
                                 .encode()).hexdigest()
        name = "k8s-%.8s-%.8s-%.10s" % (_alnum(meta["namespace"]), _alnum(meta["name"]), tg_hash)
        arn = self.elbv2.create_target_group(
            Name=name, Protocol="TCP", Port=int(tg_port), VpcId=self.vpc_id, TargetType=target_type,
            Tags=[{"Key": "elbv2.k8s.aws/cluster", "Value": self.cluster},
                  {"Key": "service.k8s.aws/stack", "Value": "%s/%s" % (meta["namespace"], meta["name"])},
                  {"Key": "service.k8s.aws/resource",
                   "Value": "%s/%s:%s" % (meta["namespace"], meta["name"], port["port"])}],
        )["TargetGroups"][0]["TargetGroupArn"]
        record["target_groups"].append(arn)
        return name, arn, tg_port

    def _backend_group(self):
        """The shared backend group, made when the first load balancer needs it: k8s-traffic-<cluster>-<hash>."""
        if self.backend_group is None:
            name = "k8s-traffic-%.232s-%.10s" % ("".join(c for c in self.cluster if c.isalnum() or c == "-"),
                                                 hashlib.sha256(self.cluster.encode()).hexdigest())
            self.backend_group = self.ec2.create_security_group(
                GroupName=name, VpcId=self.vpc_id,
                Description="[k8s] Shared Backend SecurityGroup for LoadBalancer")["GroupId"]
            self.ec2.create_tags(Resources=[self.backend_group],
                                 Tags=[{"Key": "elbv2.k8s.aws/cluster", "Value": self.cluster},
                                       {"Key": "elbv2.k8s.aws/resource", "Value": "backend-sg"}])
        return self.backend_group

    def release_binding(self, kind, namespace, name):
        """A TargetGroupBinding being deleted: the controller deregisters its targets and lets it go (never while
        the controller is "missing")."""
        binding = self.api.find(kind, namespace, name)
        if binding is None or not binding["metadata"].get("deletionTimestamp") or self.faults.stuck_finalizers:
            return
        finalizers = [f for f in binding["metadata"].get("finalizers") or [] if f != TGB_FINALIZER]
        self._set_finalizers(kind, namespace, name, finalizers)

    @staticmethod
    def source_ranges(svc, controller):
        """The ranges a controller reads: the field, else the annotation (k8s.io/cloud-provider service helpers
        GetLoadBalancerSourceRanges, which cloud-provider-aws uses; the AWS Load Balancer Controller reads both too).
        EKS Auto Mode reads the field only: its migration table says the annotation
        service.beta.kubernetes.io/load-balancer-source-ranges is not supported, use spec.loadBalancerSourceRanges
        (the EKS user guide, Auto Mode: its table of what migrates from the AWS Load Balancer Controller)."""
        ranges = list((svc.get("spec") or {}).get("loadBalancerSourceRanges") or [])
        if not ranges and controller != "auto-mode":
            annotation = (svc["metadata"].get("annotations") or {}).get(
                "service.beta.kubernetes.io/load-balancer-source-ranges") or ""
            ranges = [r.strip() for r in annotation.split(",") if r.strip()]
        return ranges

    def refusal(self, svc, controller):
        """Why the controller cannot make this Service's load balancer, or None. IPv6 source ranges: the in-tree
        provider writes every range as an IPv4 permission (cloud-provider-aws aws.go, IpRanges/CidrIp), which EC2
        refuses; the AWS Load Balancer Controller refuses them unless the NLB is dualstack (model_build_
        load_balancer.go: "unsupported v6 cidr ..., when lb is not dualstack"); Auto Mode the same here."""
        # the in-tree provider picks each node's group as it makes the ELB (findSecurityGroupForInstance); two groups
        # tagged for the cluster on one instance fail it (REAL_EKS.md)
        if controller == "in-tree" and svc["metadata"]["uid"] not in self.balancers:
            for node in self.nodes:
                why = self._find_group(node)[1]
                if why:
                    return controller, why
        v6 = [r for r in self.source_ranges(svc, controller) if ":" in r]
        dualstack = (svc["metadata"].get("annotations") or {}).get(
            "service.beta.kubernetes.io/aws-load-balancer-ip-address-type") == "dualstack"
        if v6 and (controller == "in-tree" or not dualstack):
            return controller, "unsupported v6 cidr %s" % v6[0]
        return None

    def _update_ranges(self, record, svc):
        """The frontend group lets the source ranges in on each port; without one, every source is let in."""
        if record["group_id"] is None:
            record["ranges"] = ["0.0.0.0/0"]
            return
        # no ranges: the world, on either path and whatever the scheme - the in-tree provider's default, and LBC's
        # managed frontend group of an internal NLB too (model_build_managed_sg.go: 0.0.0.0/0 unless ranges or
        # prefix lists are given; the NLB is unreachable from outside the VPC, not its group)
        ranges = self.source_ranges(svc, record["controller"]) or ["0.0.0.0/0"]
        if ranges == record["ranges"]:
            return
        if record["ranges"]:
            self.ec2.revoke_security_group_ingress(GroupId=record["group_id"],
                                                   IpPermissions=self._frontend(record["ports"], record["ranges"]))
        self.ec2.authorize_security_group_ingress(GroupId=record["group_id"],
                                                  IpPermissions=self._frontend(record["ports"], ranges))
        record["ranges"] = ranges

    @staticmethod
    def _frontend(ports, ranges):
        v4 = [{"CidrIp": r} for r in ranges if ":" not in r]
        v6 = [{"CidrIpv6": r} for r in ranges if ":" in r]
        return [dict({"IpProtocol": "tcp", "FromPort": p, "ToPort": p}, IpRanges=v4, Ipv6Ranges=v6)
                for p in ports]

    def _node_group(self, node):
        return self._find_group(node)[0]

    def _find_group(self, node):
        """cloud-provider-aws findSecurityGroupForInstance: (the one group tagged for the cluster, else the one
        untagged group, None) - or (None, why) when there are several of either, in the provider's words."""
        if not node.get("instance_id"):
            return None, None  # a Fargate node: no instance, no group of its own (the ELB cannot target it either)
        tag = "kubernetes.io/cluster/%s" % self.cluster
        groups = self.ec2.describe_security_groups(GroupIds=node["security_group_ids"])["SecurityGroups"]
        tagged = [g for g in groups if any(t["Key"] == tag for t in g.get("Tags") or [])]
        untagged = [g for g in groups if g not in tagged]
        if len(tagged) > 1:
            return None, ("Multiple tagged security groups found for instance %s; ensure only the k8s security group "
                          "is tagged; the tagged groups were %s" % (node["instance_id"], "".join(
                              "%s(%s) " % (g["GroupId"], g["GroupName"]) for g in tagged)))
        if tagged:
            return tagged[0]["GroupId"], None
        if len(untagged) > 1:
            return None, ("Multiple untagged security groups found for instance %s; ensure the k8s security group "
                          "is tagged" % node["instance_id"])
        return (untagged[0]["GroupId"] if untagged else None), None

    def delete(self, uid, dataplane, namespace, name):
        with self.lock:
            record = self.balancers.pop(uid, None)
        if dataplane is not None:
            dataplane.remove_load_balancer(namespace, name)
        if record is None:
            return
        for group_id, perm in record["node_rules"]:
            try:
                self.ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[perm])
            except Exception as exc:  # pylint: disable=broad-except
                sys.stderr.write("cloud: revoke on %s: %s\n" % (group_id, exc))
        bindings = self.api.registry.find("elbv2.k8s.aws", "v1beta1", "targetgroupbindings")
        for binding_namespace, binding in record.get("bindings") or []:
            if self.api.find(bindings, binding_namespace, binding) is not None:
                self._set_finalizers(bindings, binding_namespace, binding, [])
                self.api.delete(bindings, binding_namespace, binding)
        if record.get("arn"):
            self.elbv2.delete_load_balancer(LoadBalancerArn=record["arn"])
        elif record["controller"] == "in-tree":
            self.elb.delete_load_balancer(LoadBalancerName=record["name"])
        for arn in record.get("target_groups") or []:
            self.elbv2.delete_target_group(TargetGroupArn=arn)
        if record["group_id"]:
            self.ec2.delete_security_group(GroupId=record["group_id"])
        with self.lock:
            last = self.backend_group is not None and not any(
                r["controller"] == "aws-lb-controller" for r in self.balancers.values())
            backend, self.backend_group = (self.backend_group, None) if last else (None, self.backend_group)
        if backend:
            self.ec2.delete_security_group(GroupId=backend)
        # the network interfaces go a moment after the load balancer, as AWS releases them
        delay = float(self.faults.lb_release_delay or 0)
        timer = threading.Timer(delay, self._release_enis, args=(record["enis"],))
        timer.daemon = True
        timer.start()

    def _release_enis(self, enis):
        for eni in enis:
            try:
                self.ec2.delete_network_interface(NetworkInterfaceId=eni)
            except Exception as exc:  # pylint: disable=broad-except
                sys.stderr.write("cloud: delete %s: %s\n" % (eni, exc))

    # ------------------------------------------------------------ the data plane's gate

    def gate(self, uid):
        """For the load balancer's listener: None to serve, "drop" or "unhealthy" otherwise."""
        def check(client_ip):
            with self.lock:
                record = self.balancers.get(uid)
            if record is None:
                return "drop"
            now = time.time()
            with self.lock:
                record["connections"] += 1
                seen = record["connections"]
            if seen <= record["unready"]:
                return "drop" if seen <= record["unready"] / 2.0 else "unhealthy"
            if now < record["ready_at"]:
                halfway = record["made_at"] + (record["ready_at"] - record["made_at"]) / 2.0
                return "drop" if now < halfway else "unhealthy"
            address = ipaddress.ip_address(client_ip)
            if not any(address in ipaddress.ip_network(r, strict=False) for r in record["ranges"]):
                return "drop"  # the security group does not let this client in
            return None
        return check
