"""moto's AWS server behind the check AWS makes first: every request must be signed (SigV4) with the sandbox's
access key and secret, or it is refused as AWS refuses it.

moto itself accepts any key unless its IAM emulation is switched on, and with it on (moto 5.2) it refuses valid
signatures on EKS's REST API; this check is small and covers every service the sandbox serves.

    python -m sandbox.aws --host 127.0.0.1 --port N     (SANDBOX_AWS_ACCESS_KEY, SANDBOX_AWS_SECRET_KEY)
"""

import argparse
import hmac
import io
import json
import os
import re
import uuid

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

AUTH = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
                  r"SignedHeaders=([^,]+),\s*Signature=([0-9a-f]+)")


class SignatureCheck(object):
    def __init__(self, app, access_key, secret_key):
        self.app = app
        self.access_key = access_key
        self.secret_key = secret_key

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            return self.app(environ, start_response)  # the test double's own control API
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                headers[key[5:].replace("_", "-").lower()] = value
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").lower()] = environ[key]
        match = AUTH.match(headers.get("authorization", ""))
        service = match.group(4) if match else _service_of(headers)
        if not match:
            return _refuse(start_response, service, "MissingAuthenticationToken",
                           "Request is missing Authentication Token", 403)
        access_key, _day, region, service, signed, signature = match.groups()
        if not hmac.compare_digest(access_key, self.access_key):
            return _refuse(start_response, service, "InvalidClientTokenId",
                           "The security token included in the request is invalid.", 403)
        uri = environ.get("REQUEST_URI") or environ.get("RAW_URI") or environ.get("PATH_INFO", "/")
        host = headers.get("host", "localhost")
        request = AWSRequest(method=environ["REQUEST_METHOD"], url="http://%s%s" % (host, uri), data=body,
                             headers=dict((name, headers[name]) for name in signed.split(";") if name in headers))
        request.context["timestamp"] = headers.get("x-amz-date", "")
        signer = SigV4Auth(Credentials(access_key, self.secret_key), service, region)
        expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
        if not hmac.compare_digest(expected, signature):
            return _refuse(start_response, service, "SignatureDoesNotMatch",
                           "The request signature we calculated does not match the signature you provided. "
                           "Check your AWS Secret Access Key and signing method.", 403)
        return self.app(environ, start_response)


def interfaces_keep_their_own_groups():
    """EC2 associates security groups with each network interface, not with the instance: a secondary interface
    keeps the groups it was made with (EC2 user guide, "Elastic network interfaces" - "security groups" are an
    attribute of the interface; the VPC CNI's custom networking relies on it, EKS user guide "cni-custom-network").
    moto 5 reports every attached interface with the instance's groups added (NetworkInterface.group_set); here a
    secondary interface (device index > 0) reports only its own."""
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface  # pylint: disable=import-outside-toplevel
    united = NetworkInterface.group_set

    def group_set(self):
        if self.instance is not None and self.device_index not in (None, 0) and self._group_set:
            return self._group_set
        return united.fget(self)
    NetworkInterface.group_set = property(group_set)


def _service_of(headers):
    target = headers.get("x-amz-target", "")
    return target.split(".")[0].lower() if target else "unknown"


def _refuse(start_response, service, code, message, status):
    """The error as the service's protocol writes it: EC2's XML, the JSON of REST/JSON APIs, or Query XML."""
    request_id = str(uuid.uuid4())
    if service == "ec2":
        code = "AuthFailure"
        body = ('<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>%s</Code><Message>AWS was '
                'not able to validate the provided access credentials</Message></Error></Errors><RequestID>%s'
                '</RequestID></Response>' % (code, request_id))
        start_response("401 Unauthorized", [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)])
        return [body.encode()]
    if service in ("iam", "sts", "elasticloadbalancing", "autoscaling", "cloudformation"):
        body = ('<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>'
                '<RequestId>%s</RequestId></ErrorResponse>' % (code, message, request_id))
        start_response("%d Forbidden" % status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)])
        return [body.encode()]
    json_code = "UnrecognizedClientException" if code == "InvalidClientTokenId" else code
    start_response("%d Forbidden" % status, [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id),
                                             ("x-amzn-ErrorType", json_code + ":")])
    return [json.dumps({"__type": json_code, "message": message}).encode()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    interfaces_keep_their_own_groups()
    app = SignatureCheck(DomainDispatcherApplication(create_backend_app), os.environ["SANDBOX_AWS_ACCESS_KEY"],
                         os.environ["SANDBOX_AWS_SECRET_KEY"])
    run_simple(args.host, args.port, app, threaded=True)


if __name__ == "__main__":
    main()
