"""Authentication and TLS as an EKS API server has them.

- TLS: a CA made for each sandbox signs the API server's certificate (127.0.0.1, localhost); the kubeconfig
  carries the CA as ``certificate-authority-data``, as ``aws eks update-kubeconfig`` writes it.
- Tokens: ``python -m sandbox.eksauth get-token --cluster-name demo`` stands in for ``aws eks get-token``: it
  presigns an STS GetCallerIdentity request with the header ``x-k8s-aws-id: CLUSTER``, using whatever AWS
  credentials its process resolves (environment, profile), and prints an ExecCredential whose token is
  ``k8s-aws-v1.`` + the URL in unpadded base64url, valid for 15 minutes (as the AWS CLI and
  aws-iam-authenticator make it: docs.aws.amazon.com/eks/latest/userguide/cluster-auth.html).
- The server checks such a token as aws-iam-authenticator has STS check it: the presigned signature recomputed
  with the sandbox's key and secret for this cluster's name, within its expiry; a token signed with another key
  (an IAM user's) is sent to the sandbox's STS, which checks it and names the caller's ARN. Anything else is 401.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import os
import sys
import urllib.parse

PREFIX = "k8s-aws-v1."
STS_HOST = "sts.%s.amazonaws.com"
PRESIGN_SECONDS = 60
TOKEN_LIFETIME = datetime.timedelta(minutes=15)
CREATOR = "cluster-creator"  # the identity that made the cluster: cluster-admin whatever aws-auth says (EKS user guide)


def make_certificates(directory, address="127.0.0.1"):
    """ca.crt, server.crt, server.key, admin.crt and admin.key in ``directory`` (the server's certificate names
    ``address``, the API server's own, beside localhost); returns the CA's PEM."""
    from cryptography import x509  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives import hashes, serialization  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives.asymmetric import ec  # pylint: disable=import-outside-toplevel
    from cryptography.x509.oid import NameOID  # pylint: disable=import-outside-toplevel

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
              .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30))
              .add_extension(x509.SubjectAlternativeName([
                  x509.DNSName("localhost"), x509.DNSName("kubernetes"), x509.DNSName("kubernetes.default.svc"),
                  x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
              .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
              .sign(ca_key, hashes.SHA256()))
    # an administrator's client certificate, as kubeadm writes one into admin.conf (CN kubernetes-admin, O
    # system:masters, client auth): the kubeconfig a kind cluster gives, which kubernetes.core's own integration
    # targets read their client certificate and key from (tests/k8s_core_targets)
    admin_key = ec.generate_private_key(ec.SECP256R1())
    admin = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                                      x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes-admin")]))
             .issuer_name(ca_name).public_key(admin_key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30))
             .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
             .sign(ca_key, hashes.SHA256()))
    with open(os.path.join(directory, "admin.crt"), "wb") as handle:
        handle.write(admin.public_bytes(serialization.Encoding.PEM))
    with open(os.open(os.path.join(directory, "admin.key"), os.O_WRONLY | os.O_CREAT, 0o600), "wb") as handle:
        handle.write(admin_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    with open(os.path.join(directory, "ca.crt"), "wb") as handle:
        handle.write(ca_pem)
    with open(os.path.join(directory, "server.crt"), "wb") as handle:
        handle.write(server.public_bytes(serialization.Encoding.PEM))
    with open(os.open(os.path.join(directory, "server.key"), os.O_WRONLY | os.O_CREAT, 0o600), "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return ca_pem


def _presign(credentials, region, cluster):
    """The presigned GetCallerIdentity URL (SigV4 query auth with x-k8s-aws-id signed)."""
    from botocore.auth import SigV4QueryAuth  # pylint: disable=import-outside-toplevel
    from botocore.awsrequest import AWSRequest  # pylint: disable=import-outside-toplevel

    url = "https://%s/?Action=GetCallerIdentity&Version=2011-06-15" % (STS_HOST % region)
    request = AWSRequest(method="GET", url=url, headers={"x-k8s-aws-id": cluster})
    signer = SigV4QueryAuth(credentials, "sts", region, expires=PRESIGN_SECONDS)
    signer.add_auth(request)
    return request.prepare().url


def _presign_from_env(access_key, secret_key, token, region, cluster, stamp):
    """The same presigned URL as _presign, signed here (SigV4 query signing, docs.aws.amazon.com/IAM/latest/
    UserGuide/reference_sigv-create-signed-request.html) for keys taken from the environment: botocore takes a
    quarter of a second to import, and this stand-in runs once per client a module or kubectl makes. The API
    server checks the signature with botocore (check_token), so a difference would fail every request."""
    host = STS_HOST % region
    day = stamp[:8]
    scope = "%s/%s/sts/aws4_request" % (day, region)
    params = {"Action": "GetCallerIdentity", "Version": "2011-06-15", "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
              "X-Amz-Credential": "%s/%s" % (access_key, scope), "X-Amz-Date": stamp,
              "X-Amz-Expires": str(PRESIGN_SECONDS), "X-Amz-SignedHeaders": "host;x-k8s-aws-id"}
    if token:
        params["X-Amz-Security-Token"] = token
    query = "&".join("%s=%s" % (urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~"))
                     for k, v in sorted(params.items()))
    canonical = "\n".join(["GET", "/", query, "host:%s\nx-k8s-aws-id:%s\n" % (host, cluster), "host;x-k8s-aws-id",
                           hashlib.sha256(b"").hexdigest()])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret_key).encode()
    for part in (day, region, "sts", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return "https://%s/?%s&X-Amz-Signature=%s" % (host, query, signature)


def get_token(cluster, region):
    """The ExecCredential ``aws eks get-token`` prints."""
    access_key, secret_key = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if access_key and secret_key:
        # the environment's keys come first in the AWS CLI's credential chain: no need for botocore to find them
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        url = _presign_from_env(access_key, secret_key, os.environ.get("AWS_SESSION_TOKEN"), region, cluster, stamp)
    else:
        import botocore.session  # pylint: disable=import-outside-toplevel

        credentials = botocore.session.get_session().get_credentials()
        if credentials is None:
            raise SystemExit("Unable to locate credentials. You can configure credentials by running \"aws "
                             "configure\".")
        url = _presign(credentials, region, cluster)
    token = PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
    expires = datetime.datetime.now(datetime.timezone.utc) + TOKEN_LIFETIME
    return {"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1", "spec": {},
            "status": {"expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ"), "token": token}}


def check_token(token, cluster, access_key, secret_key, now=None, sts=None):
    """Who signed the token - CREATOR for the sandbox's own key, else the ARN ``sts`` (ask_sts) reads for it - or
    why it is refused: (identity, None) or (None, reason)."""
    from botocore.credentials import Credentials  # pylint: disable=import-outside-toplevel

    if not token.startswith(PREFIX):
        return None, "not an EKS token"
    try:
        encoded = token[len(PREFIX):]
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        parts = urllib.parse.urlsplit(url)
        query = dict(urllib.parse.parse_qsl(parts.query))
        key, day, region = query["X-Amz-Credential"].split("/")[:3]
        stamp = query["X-Amz-Date"]
        signed = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except (ValueError, KeyError, UnicodeDecodeError):
        return None, "the token does not hold a presigned STS request"
    if parts.hostname != STS_HOST % region or query.get("Action") != "GetCallerIdentity":
        return None, "the token is not a GetCallerIdentity request to STS"
    if "x-k8s-aws-id" not in query.get("X-Amz-SignedHeaders", "").split(";"):
        return None, "the token does not sign the cluster name (x-k8s-aws-id)"
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if now > signed + TOKEN_LIFETIME or signed > now + datetime.timedelta(minutes=5):
        return None, "the token has expired"
    if not hmac.compare_digest(key, access_key):
        if sts is None:
            return None, "InvalidClientTokenId: the token's access key is not known"
        return sts(url, cluster)
    # the sandbox's own key (the cluster's creator): the signature recomputed here over the same request, as STS
    # would (botocore's SigV4 query signing, at the token's own time) - the answer STS gives, without the round trip
    from botocore.auth import SigV4QueryAuth  # pylint: disable=import-outside-toplevel
    from botocore.awsrequest import AWSRequest  # pylint: disable=import-outside-toplevel
    unsigned = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "X-Amz-Signature"]
    request = AWSRequest(method="GET", url="https://%s/?%s" % (parts.hostname, urllib.parse.urlencode(unsigned)),
                         headers={"host": parts.hostname, "x-k8s-aws-id": cluster})
    request.context["timestamp"] = stamp
    signer = SigV4QueryAuth(Credentials(key, secret_key), "sts", region, expires=int(query.get("X-Amz-Expires", 60)))
    ours = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(query.get("X-Amz-Signature", ""), ours):
        return None, "SignatureDoesNotMatch (or the token is for another cluster)"
    return CREATOR, None


def ask_sts(endpoint):
    """What aws-iam-authenticator does with a token whose key it cannot check itself: it sends the presigned
    GetCallerIdentity request to STS (here the sandbox's AWS at ``endpoint``, with STS's host name) and takes the
    caller's ARN from the answer (aws-iam-authenticator pkg/token/token.go, Verify). Returns a callable
    (url, cluster) -> (ARN, None) or (None, reason)."""
    import urllib.error  # pylint: disable=import-outside-toplevel
    import urllib.request  # pylint: disable=import-outside-toplevel
    from xml.etree import ElementTree  # pylint: disable=import-outside-toplevel

    def call(url, cluster):
        parts = urllib.parse.urlsplit(url)
        request = urllib.request.Request(endpoint.rstrip("/") + "/?" + parts.query,
                                         headers={"Host": parts.hostname, "x-k8s-aws-id": cluster})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # nosec - the sandbox's own loopback AWS
                text = answer.read()
                tree = ElementTree.fromstring(text)
        except urllib.error.HTTPError as exc:
            return None, "STS refused the token (%d): %s" % (exc.code, exc.read()[:300].decode("utf-8", "replace"))
        except (OSError, ElementTree.ParseError) as exc:
            return None, "STS could not be asked: %s" % exc
        arn = [node.text for node in tree.iter() if node.tag.endswith("}Arn") or node.tag == "Arn"]
        return (arn[0], None) if arn else (None, "STS's answer names no caller: %r" % text[:300])
    return call


def main(argv=None):
    parser = argparse.ArgumentParser(prog="aws eks get-token (sandbox stand-in)")
    sub = parser.add_subparsers(dest="command", required=True)
    token = sub.add_parser("get-token")
    token.add_argument("--cluster-name", required=True)
    token.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                       or "us-east-1")
    token.add_argument("--output", default="json")
    args = parser.parse_args(argv)
    print(json.dumps(get_token(args.cluster_name, args.region)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
