"""moto's AWS server behind the checks AWS makes first: every request must be signed (SigV4, in its Authorization
header or as a presigned URL) with a key AWS knows, and an IAM user's request must be allowed by that user's
policies, or it is refused as AWS refuses it.

Keys: the sandbox's own key (SANDBOX_AWS_ACCESS_KEY / SANDBOX_AWS_SECRET_KEY) is the account's administrator, the
identity that made the cluster; any access key made through IAM (`aws iam create-access-key`) signs as its user,
whose inline, attached and group policies decide each action (IAM user guide, "Policy evaluation logic": an explicit
Deny wins, else an Allow is needed; STS GetCallerIdentity needs no permission). An action is named as IAM names it:
the service's signing name and the operation, which the request carries (Query's Action, JSON's X-Amz-Target) or
botocore's service model gives for a REST path (EKS); security-group writes and EKS cluster calls are checked against
the resource's ARN, the rest against "*". Refusals read as AWS writes them (IAM user guide, "Troubleshoot access
denied error messages": "User: ARN is not authorized to perform: ACTION [on resource: ARN] because no
identity-based policy allows the ACTION action"; EC2 as UnauthorizedOperation, Query APIs as AccessDenied, REST/JSON
APIs as AccessDeniedException, each HTTP 403).

moto itself accepts any key unless its IAM emulation is switched on, and with it on (moto 5.2) it refuses valid
signatures on EKS's REST API; these checks are small and cover every service the sandbox serves. moto's own IAM
backend (the same process) holds the users, keys and policies; its IAMUserAccessKey gathers a key's policies and
its policy statement matcher judges them, both used as they are.

Throttling: AWS answers a caller that exceeds an API's request rate with an error to retry after a while; EC2's is
RequestLimitExceeded, HTTP 503, "Request limit exceeded." (EC2 API reference, "Request throttling for the Amazon EC2
API"; botocore's standard retry mode retries it). A test sets how many of the next calls of an action are throttled:
POST /sandbox-api/throttle {"DescribeSecurityGroups": 2}; GET answers what is still to be throttled.

    python -m sandbox.aws --host 127.0.0.1 --port N     (SANDBOX_AWS_ACCESS_KEY, SANDBOX_AWS_SECRET_KEY)
"""

import argparse
import functools
import hmac
import io
import json
import os
import re
import threading
import urllib.parse
import uuid

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

AUTH = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
                  r"SignedHeaders=([^,]+),\s*Signature=([0-9a-f]+)")
NO_PERMISSION_NEEDED = {"sts:GetCallerIdentity"}  # STS API reference, GetCallerIdentity: "No permissions are required"


class Refusal(Exception):
    def __init__(self, code, message, status=403):
        Exception.__init__(self, message)
        self.code = code
        self.message = message
        self.status = status


class IamUser(object):
    """An access key made through IAM, as moto's own IAMUserAccessKey reads it: its user's ARN, its secret and the
    user's inline and attached policies and those of its groups (collect_policies)."""

    def __init__(self, account, partition, access_key):
        from moto.iam.access_control import IAMUserAccessKey  # pylint: disable=import-outside-toplevel
        self.account = account
        self.partition = partition
        self.key = IAMUserAccessKey(account, partition, access_key, {})
        self.arn = self.key.arn
        self.secret = self.key.create_credentials().secret_key

    def policies(self):
        """moto's evaluators of the user's policies."""
        from moto.iam.access_control import IAMPolicy  # pylint: disable=import-outside-toplevel
        return [IAMPolicy(policy) for policy in self.key.collect_policies()]


def find_user_key(access_key):
    """The IamUser whose access key this is (active), or None."""
    from moto.iam.models import iam_backends  # pylint: disable=import-outside-toplevel
    for account in list(iam_backends.keys()):
        for partition in list(iam_backends[account].keys()):
            user = iam_backends[account][partition].get_user_from_access_key_id(access_key)
            if user is not None and any(k.access_key_id == access_key and k.status == "Active"
                                        for k in user.access_keys):
                return IamUser(account, partition, access_key)
    return None


class AwsAuth(object):
    def __init__(self, app, access_key, secret_key):
        self.app = app
        self.access_key = access_key
        self.secret_key = secret_key
        self.throttle = {}  # EC2 action -> how many of its next calls are throttled
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            return self.app(environ, start_response)  # the test double's own control API
        if environ.get("PATH_INFO", "") == "/sandbox-api/throttle":
            return self._throttle_knob(environ, start_response)
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
        query = urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        service = _service_of(headers, dict(query))
        try:
            access_key, region, service, user = self._authenticate(environ, headers, query, body)
            if user is not None:
                self._authorize(user, region, service, environ, headers, query, body)
        except Refusal as refusal:
            return _refuse(start_response, service, refusal.code, refusal.message, refusal.status)
        action = dict(query).get("Action") or dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"))).get(
            "Action") if service == "ec2" else None
        with self.lock:
            throttled = self.throttle.get(action, 0) > 0
            if throttled:
                self.throttle[action] -= 1
        if throttled:
            request_id = str(uuid.uuid4())
            start_response("503 Service Unavailable", [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)])
            return [('<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>RequestLimitExceeded</Code>'
                     '<Message>Request limit exceeded.</Message></Error></Errors><RequestID>%s</RequestID></Response>'
                     % request_id).encode()]
        if "HTTP_AUTHORIZATION" not in environ:
            # moto routes a request to its service, and names its caller, by the Authorization header only
            # (moto_server/werkzeug_app.infer_service_region_host, core/responses.get_access_key): the presigned
            # request, checked above, goes on with a header naming the same credential scope
            environ["HTTP_AUTHORIZATION"] = ("AWS4-HMAC-SHA256 Credential=%s, SignedHeaders=host, Signature=%s"
                                             % (dict(query)["X-Amz-Credential"], dict(query)["X-Amz-Signature"]))
        return self.app(environ, start_response)

    def _throttle_knob(self, environ, start_response):
        with self.lock:
            if environ["REQUEST_METHOD"] == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                self.throttle.update(json.loads(environ["wsgi.input"].read(length) or b"{}"))
            answer = json.dumps(dict((k, v) for k, v in self.throttle.items() if v > 0)).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [answer]

    def _secret(self, access_key):
        """(secret, IamUser or None for the sandbox's own key); an unknown key is refused."""
        if hmac.compare_digest(access_key, self.access_key):
            return self.secret_key, None
        user = find_user_key(access_key)
        if user is None:
            raise Refusal("InvalidClientTokenId", "The security token included in the request is invalid.")
        return user.secret, user

    def _authenticate(self, environ, headers, query, body):
        """(access key, region, signing service, IamUser or None) of a correctly signed request."""
        uri = environ.get("REQUEST_URI") or environ.get("RAW_URI") or environ.get("PATH_INFO", "/")
        host = headers.get("host", "localhost")
        params = dict(query)
        match = AUTH.match(headers.get("authorization", ""))
        if match:
            access_key, _day, region, service, signed, signature = match.groups()
            secret, user = self._secret(access_key)
            request = AWSRequest(method=environ["REQUEST_METHOD"], url="http://%s%s" % (host, uri), data=body,
                                 headers=_signed_headers(headers, signed))
            request.context["timestamp"] = headers.get("x-amz-date", "")
            signer = SigV4Auth(Credentials(access_key, secret), service, region)
        elif "X-Amz-Signature" in params and "X-Amz-Credential" in params:
            # a presigned URL (SigV4 query signing), as `aws eks get-token` hands the API server one to present to STS
            access_key, _day, region, service = params["X-Amz-Credential"].split("/")[:4]
            secret, user = self._secret(access_key)
            signature = params["X-Amz-Signature"]
            unsigned = urllib.parse.urlencode([(k, v) for k, v in query if k != "X-Amz-Signature"])
            request = AWSRequest(method=environ["REQUEST_METHOD"],
                                 url="http://%s%s?%s" % (host, environ.get("PATH_INFO", "/"), unsigned),
                                 headers=_signed_headers(headers, params.get("X-Amz-SignedHeaders", "host")))
            request.context["timestamp"] = params.get("X-Amz-Date", "")
            signer = SigV4QueryAuth(Credentials(access_key, secret), service, region,
                                    expires=int(params.get("X-Amz-Expires", "60") or 60))
        else:
            raise Refusal("MissingAuthenticationToken", "Request is missing Authentication Token")
        expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
        if not hmac.compare_digest(expected, signature):
            raise Refusal("SignatureDoesNotMatch", "The request signature we calculated does not match the signature "
                          "you provided. Check your AWS Secret Access Key and signing method.")
        return access_key, region, service, user

    def _authorize(self, user, region, service, environ, headers, query, body):
        params = dict(query)
        if "x-www-form-urlencoded" in headers.get("content-type", "") and body:
            params.update(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        operation, path_params = _operation(service, environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/"),
                                            params, headers)
        action = "%s:%s" % (service, operation)
        if action in NO_PERMISSION_NEEDED:
            return
        resource = _resource(user, region, service, params, path_params)
        from moto.iam.access_control import PermissionResult  # pylint: disable=import-outside-toplevel
        results = [policy.is_action_permitted(action, resource) for policy in user.policies()]
        if PermissionResult.DENIED in results:
            reason = "with an explicit deny in an identity-based policy"
        elif PermissionResult.PERMITTED in results:
            return
        else:
            reason = "because no identity-based policy allows the %s action" % action
        where = " on resource: %s" % resource if resource != "*" else ""
        message = "User: %s is not authorized to perform: %s%s %s" % (user.arn, action, where, reason)
        if service == "ec2":
            raise Refusal("UnauthorizedOperation", "You are not authorized to perform this operation. " + message)
        raise Refusal("AccessDenied", message)


def _signed_headers(headers, signed):
    return dict((name, headers[name]) for name in signed.split(";") if name in headers)


@functools.lru_cache(maxsize=None)
def _rest_operations(service):
    """[(method, path regex, operation, parameter names)] of a REST service, from botocore's model of it."""
    import botocore.session  # pylint: disable=import-outside-toplevel
    model = botocore.session.get_session().get_service_model(service)
    operations = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        template = http["requestUri"].split("?")[0]
        names = re.findall(r"{([^}+]+)\+?}", template)
        pattern = re.sub(r"{[^}+]+\+}", "(.+)", re.sub(r"{[^}+]+}", "([^/]+)", re.escape(template).replace(
            r"\{", "{").replace(r"\}", "}")))
        operations.append((http["method"], re.compile("^%s/?$" % pattern), name, names))
    return operations


def _operation(service, method, path, params, headers):
    """(operation name, {path parameter: value}) of a request."""
    target = headers.get("x-amz-target", "")
    if target:
        return target.rsplit(".", 1)[-1], {}
    if params.get("Action"):
        return params["Action"], {}
    for verb, pattern, name, names in _rest_operations(service):
        found = pattern.match(path)
        if verb == method and found:
            return name, dict(zip(names, (urllib.parse.unquote(value) for value in found.groups())))
    return "Unknown", {}


def _resource(user, region, service, params, path_params):
    """The ARN IAM checks the action against, where the sandbox knows it; "*" otherwise."""
    if service == "ec2" and params.get("GroupId"):
        return "arn:%s:ec2:%s:%s:security-group/%s" % (user.partition, region, user.account, params["GroupId"])
    if service == "eks" and path_params.get("name"):
        return "arn:%s:eks:%s:%s:cluster/%s" % (user.partition, region, user.account, path_params["name"])
    return "*"


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


def _service_of(headers, params):
    """The signing name of the request's service (for the shape of a refusal)."""
    match = AUTH.match(headers.get("authorization", ""))
    if match:
        return match.group(4)
    if params.get("X-Amz-Credential", "").count("/") >= 3:
        return params["X-Amz-Credential"].split("/")[3]
    target = headers.get("x-amz-target", "")
    return target.split(".")[0].lower() if target else "unknown"


def _refuse(start_response, service, code, message, status):
    """The error as the service's protocol writes it: EC2's XML, the JSON of REST/JSON APIs, or Query XML."""
    request_id = str(uuid.uuid4())
    if service == "ec2":
        if code == "UnauthorizedOperation":
            status_line = "403 Forbidden"
        else:
            code, message, status_line = ("AuthFailure", "AWS was not able to validate the provided access "
                                          "credentials", "401 Unauthorized")
        body = ('<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>%s</Code><Message>%s'
                '</Message></Error></Errors><RequestID>%s</RequestID></Response>' % (code, _xml(message), request_id))
        start_response(status_line, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)])
        return [body.encode()]
    if service in ("iam", "sts", "elasticloadbalancing", "autoscaling", "cloudformation"):
        body = ('<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>'
                '<RequestId>%s</RequestId></ErrorResponse>' % (code, _xml(message), request_id))
        start_response("%d Forbidden" % status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)])
        return [body.encode()]
    json_code = {"InvalidClientTokenId": "UnrecognizedClientException",
                 "AccessDenied": "AccessDeniedException"}.get(code, code)
    start_response("%d Forbidden" % status, [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id),
                                             ("x-amzn-ErrorType", json_code + ":")])
    return [json.dumps({"__type": json_code, "message": message}).encode()]


def _xml(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    interfaces_keep_their_own_groups()
    app = AwsAuth(DomainDispatcherApplication(create_backend_app), os.environ["SANDBOX_AWS_ACCESS_KEY"],
                  os.environ["SANDBOX_AWS_SECRET_KEY"])
    run_simple(args.host, args.port, app, threaded=True)


if __name__ == "__main__":
    main()
