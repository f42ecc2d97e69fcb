"""TLS and authentication as on EKS: the API server answers HTTPS under the sandbox's own CA, and takes the token
`aws eks get-token` makes (here its stand-in, run by the kubeconfig's exec plugin) only when it is signed with the
sandbox's AWS key for this cluster; anything else is refused as a real server refuses it."""

import base64
import json
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest

from sandbox import eksauth


def kubeconfig_with(sandbox, tmp_path, cluster=None, user=None):
    with open(sandbox.kubeconfig) as handle:
        config = json.load(handle)
    if cluster is not None:
        config["clusters"][0]["cluster"] = dict(cluster, server=sandbox.api)
    if user is not None:
        config["users"][0]["user"] = user
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    return str(path)


def kubectl(sandbox, kubeconfig, *args, env=None):
    return subprocess.run(["kubectl", "--kubeconfig", kubeconfig] + list(args), env=dict(sandbox.env, **(env or {})),
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_kubeconfig_is_what_aws_eks_update_kubeconfig_writes(sandbox):
    with open(sandbox.kubeconfig) as handle:
        config = json.load(handle)
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"].startswith("https://")
    ca = base64.b64decode(cluster["certificate-authority-data"])
    assert ca.startswith(b"-----BEGIN CERTIFICATE-----")
    plugin = config["users"][0]["user"]["exec"]
    assert plugin["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert plugin["args"][plugin["args"].index("--cluster-name") + 1] == "demo"
    credential = json.loads(subprocess.run([plugin["command"]] + plugin["args"], env=sandbox.env,
                                           capture_output=True, text=True, timeout=60, check=True).stdout)
    assert credential["kind"] == "ExecCredential"
    assert credential["status"]["token"].startswith("k8s-aws-v1.")
    assert credential["status"]["expirationTimestamp"].endswith("Z")


def test_kubectl_and_the_python_client_connect_with_tls_and_the_exec_token(sandbox):
    assert sandbox.kubectl("get", "namespaces", "-o", "name").stdout
    import kubernetes  # pylint: disable=import-outside-toplevel
    # this process holds no AWS identity: the exec plugin is given one in its env, as --profile does
    client = kubernetes.config.new_client_from_config(config_file=sandbox.identity_kubeconfig())
    names = [n.metadata.name for n in kubernetes.client.CoreV1Api(client).list_namespace().items]
    assert "kube-system" in names


def test_a_client_that_does_not_trust_the_ca_is_refused(sandbox, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    foreign_ca = eksauth.make_certificates(str(other))
    config = kubeconfig_with(sandbox, tmp_path, cluster={
        "certificate-authority-data": base64.b64encode(foreign_ca).decode()})
    refused = kubectl(sandbox, config, "get", "namespaces")
    assert refused.returncode != 0 and "certificate signed by unknown authority" in refused.stderr
    skipped = kubeconfig_with(sandbox, tmp_path, cluster={"insecure-skip-tls-verify": True})
    assert kubectl(sandbox, skipped, "get", "namespaces").returncode == 0


@pytest.mark.parametrize("env, args", [
    ({"AWS_SECRET_ACCESS_KEY": "not-the-sandbox-secret"}, None),
    ({"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE"}, None),
    ({}, ["--region", "us-east-1", "--cluster-name", "another-cluster"]),
], ids=["wrong-secret", "unknown-key", "other-cluster"])
def test_a_token_not_signed_for_this_cluster_by_its_key_is_unauthorized(sandbox, tmp_path, env, args):
    with open(sandbox.kubeconfig) as handle:
        plugin = json.load(handle)["users"][0]["user"]["exec"]
    config = kubeconfig_with(sandbox, tmp_path, user={"exec": dict(plugin, args=args or plugin["args"])})
    refused = kubectl(sandbox, config, "get", "namespaces", env=env)
    assert refused.returncode != 0
    assert "You must be logged in to the server" in refused.stderr and "Unauthorized" in refused.stderr


def test_anonymous_requests_see_only_health_and_version(sandbox):
    for path in ("/version", "/readyz"):
        with sandbox.open(sandbox.api + path) as response:
            assert response.status == 200
    with pytest.raises(urllib.error.HTTPError) as refused:
        sandbox.open(sandbox.api + "/api/v1/namespaces")
    assert refused.value.code == 401
    assert json.loads(refused.value.read())["reason"] == "Unauthorized"
    assert urllib.request  # the same request with the cluster's token is served
    assert sandbox.api_get("/api/v1/namespaces")[0] == 200
    assert os.path.exists(os.path.join(sandbox.state_dir, "ca.crt"))


def token_query(credential):
    """The presigned request's parameters inside an ExecCredential's token, without its time and signature."""
    encoded = credential["status"]["token"][len(eksauth.PREFIX):]
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    return dict((k, v) for k, v in query.items() if k not in ("X-Amz-Date", "X-Amz-Signature"))


@pytest.mark.parametrize("session_token", [None, "FQoGZXIvYXdzEPT//////////wEaDEXAMPLE"])
def test_keys_from_the_environment_sign_the_token_as_botocore_signs_it(sandbox, tmp_path, monkeypatch, session_token):
    """The stand-in signs with the environment's keys itself and with botocore otherwise (a profile): both tokens
    are the same request, and the API server's check (botocore's SigV4) takes both."""
    key, secret, cluster = (sandbox.state["aws"][k] for k in ("access_key", "secret_key", "cluster"))
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    if session_token:
        monkeypatch.setenv("AWS_SESSION_TOKEN", session_token)
    from_env = eksauth.get_token(cluster, "us-east-1")
    credentials = tmp_path / "credentials"
    credentials.write_text("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n%s" % (
        key, secret, "aws_session_token = %s\n" % session_token if session_token else ""))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    from_botocore = eksauth.get_token(cluster, "us-east-1")
    assert token_query(from_env) == token_query(from_botocore)
    assert token_query(from_env).get("X-Amz-Security-Token") == session_token
    for credential in (from_env, from_botocore):
        assert eksauth.check_token(credential["status"]["token"], cluster, key, secret) == (eksauth.CREATOR, None)
    assert eksauth.check_token(from_env["status"]["token"], "another-cluster", key, secret)[0] is None


def test_an_iam_users_token_is_checked_by_sts_and_admitted_only_through_aws_auth(sandbox, tmp_path):
    # EKS user guide, "Grant IAM users access to Kubernetes with a ConfigMap": an IAM identity other than the
    # cluster's creator is let in only when aws-auth maps its ARN; IAM's policy evaluation decides its AWS calls
    import boto3  # pylint: disable=import-outside-toplevel
    import botocore.exceptions  # pylint: disable=import-outside-toplevel
    root = dict(region_name="us-east-1", endpoint_url=sandbox.env["AWS_ENDPOINT_URL"],
                aws_access_key_id=sandbox.state["aws"]["access_key"],
                aws_secret_access_key=sandbox.state["aws"]["secret_key"])
    iam = boto3.client("iam", **root)
    arn = iam.create_user(UserName="contract-reader")["User"]["Arn"]
    iam.put_user_policy(UserName="contract-reader", PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"},
            {"Effect": "Deny", "Action": "ec2:DescribeInstances", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="contract-reader")["AccessKey"]
    user = dict(root, aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    ec2 = boto3.client("ec2", **user)
    assert ec2.describe_vpcs()["Vpcs"]
    with pytest.raises(botocore.exceptions.ClientError) as denied:
        ec2.describe_instances()  # an explicit Deny wins over the Allow
    assert denied.value.response["Error"]["Code"] == "UnauthorizedOperation"
    assert "%s is not authorized to perform: ec2:DescribeInstances with an explicit deny" % arn in str(denied.value)
    assert boto3.client("sts", **user).get_caller_identity()["Arn"] == arn  # needs no permission

    env = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    unmapped = kubectl(sandbox, sandbox.kubeconfig, "get", "namespaces", env=env)
    assert unmapped.returncode != 0 and "Unauthorized" in unmapped.stderr
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aws-auth", "namespace": "kube-system"},
              "data": {"mapUsers": "- userarn: %s\n  username: reader\n  groups: [system:masters]\n" % arn}}
    sandbox.kubectl("apply", "-f", "-", stdin=json.dumps(config))
    try:
        assert kubectl(sandbox, sandbox.kubeconfig, "get", "namespaces", "-o", "name", env=env).returncode == 0
    finally:
        sandbox.kubectl("delete", "configmap", "aws-auth", "-n", "kube-system")
    iam.update_access_key(UserName="contract-reader", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    with pytest.raises(botocore.exceptions.ClientError) as inactive:
        ec2.describe_vpcs()
    assert inactive.value.response["Error"]["Code"] == "AuthFailure"


def test_whoami_and_can_i_answer_as_the_authenticator_and_rbac_do(sandbox):
    # kubectl auth whoami (SelfSubjectReview) and kubectl auth can-i (SelfSubjectAccessReview): the creator is
    # kubernetes-admin in system:masters; a mapped IAM user is its mapping's username and groups, and RBAC answers
    # by the bindings of those groups
    who = json.loads(sandbox.kubectl("auth", "whoami", "-o", "json").stdout)
    assert who["status"]["userInfo"]["username"] == "kubernetes-admin"
    assert who["status"]["userInfo"]["groups"] == ["system:masters", "system:authenticated"]
    assert sandbox.kubectl("auth", "can-i", "delete", "nodes").stdout.strip() == "yes"

    import boto3  # pylint: disable=import-outside-toplevel
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=sandbox.env["AWS_ENDPOINT_URL"],
                       aws_access_key_id=sandbox.state["aws"]["access_key"],
                       aws_secret_access_key=sandbox.state["aws"]["secret_key"])
    arn = iam.create_user(UserName="contract-viewer")["User"]["Arn"]
    key = iam.create_access_key(UserName="contract-viewer")["AccessKey"]
    env = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    sandbox.kubectl("create", "namespace", "can-i")
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aws-auth", "namespace": "kube-system"},
              "data": {"mapUsers": "- userarn: %s\n  username: viewer\n  groups: [pod-readers]\n" % arn}}
    sandbox.kubectl("apply", "-f", "-", stdin=json.dumps(config))
    sandbox.kubectl("create", "role", "pod-reader", "-n", "can-i", "--verb=get,list", "--resource=pods")
    sandbox.kubectl("create", "rolebinding", "readers", "-n", "can-i", "--role=pod-reader", "--group=pod-readers")
    try:
        who = json.loads(kubectl(sandbox, sandbox.kubeconfig, "auth", "whoami", "-o", "json", env=env).stdout)
        assert who["status"]["userInfo"]["username"] == "viewer"
        assert who["status"]["userInfo"]["groups"] == ["pod-readers", "system:authenticated"]
        assert who["status"]["userInfo"]["extra"]["arn"] == [arn]

        def can_i(*args):
            return kubectl(sandbox, sandbox.kubeconfig, "auth", "can-i", *args, env=env).stdout.strip()
        assert can_i("list", "pods", "-n", "can-i") == "yes"
        assert can_i("delete", "pods", "-n", "can-i") == "no"
        assert can_i("list", "pods", "-n", "default") == "no"
        reviewed = json.loads(sandbox.kubectl("create", "-o", "json", "-f", "-", stdin=json.dumps({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {
                "user": "viewer", "groups": ["pod-readers"],
                "resourceAttributes": {"namespace": "can-i", "verb": "get", "resource": "pods"}}})).stdout)
        assert reviewed["status"] == {"allowed": True, "reason": 'RBAC: allowed by RoleBinding "readers/can-i" of '
                                                                 'Role "pod-reader" to Group "pod-readers"'}
        # answered, never stored
        assert sandbox.kubectl("get", "subjectaccessreviews", check=False).returncode != 0
    finally:
        sandbox.kubectl("delete", "configmap", "aws-auth", "-n", "kube-system")
        sandbox.kubectl("delete", "namespace", "can-i", "--wait=false")


def test_a_client_certificate_signed_by_the_cluster_ca_names_its_user_and_groups(sandbox, tmp_path):
    # the x509 authenticator (kubernetes.io/docs/reference/access-authn-authz/authentication/, "X509 client
    # certificates"): CN is the user name, each O a group; a kubeadm/kind admin.conf holds such a certificate
    admin = os.path.join(sandbox.state_dir, "kubeconfig-admin-cert")
    with open(admin) as handle:
        user = json.load(handle)["users"][0]["user"]
    assert set(user) == {"client-certificate-data", "client-key-data"}
    who = kubectl(sandbox, admin, "auth", "whoami", "-o", "json")
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout)["status"]["userInfo"] == {"username": "kubernetes-admin",
                                                            "groups": ["system:masters", "system:authenticated"]}
    assert kubectl(sandbox, admin, "get", "namespaces").returncode == 0
    # the client's certificate and key from other files, as kubernetes.core's cert_file / key_file give them
    for name, field in (("admin.crt", "client-certificate-data"), ("admin.key", "client-key-data")):
        (tmp_path / name).write_bytes(base64.b64decode(user[field]))
    files = kubeconfig_with(sandbox, tmp_path, user={"client-certificate": str(tmp_path / "admin.crt"),
                                                     "client-key": str(tmp_path / "admin.key")})
    assert kubectl(sandbox, files, "get", "namespace", "default", "-o", "name").stdout.strip() == "namespace/default"
    # a certificate the cluster's CA did not sign ends the TLS handshake (Go's VerifyClientCertIfGiven)
    other = tmp_path / "other"
    other.mkdir()
    eksauth.make_certificates(str(other))
    stranger = kubeconfig_with(sandbox, other, user={"client-certificate": str(other / "admin.crt"),
                                                     "client-key": str(other / "admin.key")})
    refused = kubectl(sandbox, stranger, "get", "namespaces")
    # in TLS 1.3 the client sends its certificate after its side of the handshake is done: the server's alert
    # ("tls: ...") races the client's first write, which may then meet a closed connection instead
    assert refused.returncode != 0 and any(
        word in refused.stderr for word in ("tls:", "broken pipe", "connection reset by peer")), refused.stderr
    assert "namespace/" not in refused.stdout


def test_rbac_is_enforced_for_service_account_tokens_and_impersonation(sandbox, tmp_path):
    # a legacy token Secret is filled by the token controller; its token authenticates as the account, whose
    # requests RBAC allows only as its bindings say; impersonating another account needs the verb impersonate on it
    # (kubernetes.io/docs/reference/access-authn-authz/rbac/ and authentication/#user-impersonation)
    manifest = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "rbac"}}] + [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": n, "namespace": "rbac"}}
        for n in ("worker", "visitor")] + [
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
         "metadata": {"name": n, "namespace": "rbac", "annotations": {"kubernetes.io/service-account.name": n}}}
        for n in ("worker", "visitor")] + [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "pods", "namespace": "rbac"},
         "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "create", "delete"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "pods", "namespace": "rbac"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pods"},
         "subjects": [{"kind": "ServiceAccount", "name": "worker"}]}]}
    for item in manifest["items"]:
        sandbox.kubectl("create", "-f", "-", stdin=json.dumps(item))
    secret = json.loads(sandbox.kubectl("get", "secret", "worker", "-n", "rbac", "-o", "json").stdout)
    assert set(secret["data"]) == {"token", "ca.crt", "namespace"}
    account = json.loads(sandbox.kubectl("get", "sa", "worker", "-n", "rbac", "-o", "json").stdout)
    assert secret["metadata"]["annotations"]["kubernetes.io/service-account.uid"] == account["metadata"]["uid"]

    def as_account(name, *args):
        token = base64.b64decode(json.loads(sandbox.kubectl(
            "get", "secret", name, "-n", "rbac", "-o", "json").stdout)["data"]["token"]).decode()
        config = kubeconfig_with(sandbox, tmp_path, user={"token": token})
        return kubectl(sandbox, config, *args)

    who = json.loads(as_account("worker", "auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert who == {"username": "system:serviceaccount:rbac:worker",
                   "groups": ["system:serviceaccounts", "system:serviceaccounts:rbac", "system:authenticated"]}
    made = as_account("worker", "run", "held", "-n", "rbac", "--image=nginx:1.27")
    assert made.returncode == 0, made.stderr
    refused = as_account("visitor", "delete", "pod", "held", "-n", "rbac")
    assert refused.returncode != 0
    assert ('pods "held" is forbidden: User "system:serviceaccount:rbac:visitor" cannot delete resource "pods" in '
            'API group "" in the namespace "rbac"') in refused.stderr
    assert as_account("worker", "get", "secrets", "-n", "rbac").returncode != 0  # no rule for secrets
    as_worker = ("--as", "system:serviceaccount:rbac:worker")
    denied = as_account("visitor", "delete", "pod", "held", "-n", "rbac", *as_worker)
    assert 'cannot impersonate resource "serviceaccounts" in API group "" in the namespace "rbac"' in denied.stderr
    sandbox.kubectl("create", "role", "impersonate-worker", "-n", "rbac", "--verb=impersonate",
                    "--resource=serviceaccounts", "--resource-name=worker")
    sandbox.kubectl("create", "rolebinding", "impersonate-worker", "-n", "rbac", "--role=impersonate-worker",
                    "--serviceaccount=rbac:visitor")
    allowed = as_account("visitor", "delete", "pod", "held", "-n", "rbac", *as_worker)
    assert allowed.returncode == 0, allowed.stderr
    # the token goes with its Secret
    token = base64.b64decode(secret["data"]["token"]).decode()
    sandbox.kubectl("delete", "secret", "worker", "-n", "rbac")
    token_config = kubeconfig_with(sandbox, tmp_path, user={"token": token})
    assert "Unauthorized" in kubectl(sandbox, token_config, "get", "pods", "-n", "rbac").stderr
    sandbox.kubectl("delete", "namespace", "rbac", "--wait=false")


def test_istioctl_acts_as_the_user_and_groups_it_is_asked_to_impersonate(sandbox):
    # istioctl's --as/--as-group (istioctl/pkg/cli/option.go) become client-go's ImpersonationConfig: one
    # Impersonate-User header and one Impersonate-Group header per group, which RBAC then judges
    def istioctl(*args):
        return subprocess.run(["istioctl"] + list(args), env=sandbox.env, capture_output=True, text=True,
                              timeout=120, check=False)
    refused = istioctl("analyze", "--all-namespaces", "--as", "nobody")
    assert refused.returncode != 0 and 'User "nobody" cannot' in refused.stdout + refused.stderr
    allowed = istioctl("analyze", "--all-namespaces", "--as", "nobody", "--as-group", "platform", "--as-group", "system:masters")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
