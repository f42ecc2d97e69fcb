"""ServiceAccount tokens of the legacy kind: a Secret of type kubernetes.io/service-account-token annotated with an
account's name is filled by the token controller (data token, ca.crt, namespace; annotation
kubernetes.io/service-account.uid), and the API server takes its token as that account while the Secret and the
account exist (kubernetes.io/docs/concepts/configuration/secret/#serviceaccount-token-secrets;
kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/, "Legacy ServiceAccount token secrets").

The token is a JWT with the claims a legacy token carries (iss kubernetes/serviceaccount and the
kubernetes.io/serviceaccount/* claims). A real cluster signs it with its service-account RSA key; the sandbox signs
with an HMAC key of its own, which no client can tell apart, since clients pass the token on unread."""

import base64
import hashlib
import hmac
import json

TYPE = "kubernetes.io/service-account-token"
NAME_ANNOTATION = "kubernetes.io/service-account.name"
UID_ANNOTATION = "kubernetes.io/service-account.uid"
ISSUER = "kubernetes/serviceaccount"


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key, namespace, account, uid, secret):
    header = {"alg": "HS256", "kid": hashlib.sha256(key).hexdigest()[:16]}
    claims = {"iss": ISSUER, "kubernetes.io/serviceaccount/namespace": namespace,
              "kubernetes.io/serviceaccount/secret.name": secret,
              "kubernetes.io/serviceaccount/service-account.name": account,
              "kubernetes.io/serviceaccount/service-account.uid": uid,
              "sub": "system:serviceaccount:%s:%s" % (namespace, account)}
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims, sort_keys=True).encode())
    return signing_input + "." + _b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())


def claims_of(key, token):
    """The claims of a token this sandbox signed, else None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    expected = hmac.new(key, (parts[0] + "." + parts[1]).encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _unb64(parts[2])):
            return None
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, TypeError):
        return None
    return claims if isinstance(claims, dict) and claims.get("iss") == ISSUER else None


def populate(api, secret):
    """The token controller: fill a new token Secret of an account that exists (a Secret of an account that does not
    is left alone here; the real controller deletes it)."""
    meta = secret["metadata"]
    account_name = (meta.get("annotations") or {}).get(NAME_ANNOTATION)
    if secret.get("type") != TYPE or not account_name or (secret.get("data") or {}).get("token"):
        return
    accounts = api.registry.find("", "v1", "serviceaccounts")
    account = api.find(accounts, meta["namespace"], account_name)
    if account is None:
        return
    uid = account["metadata"]["uid"]
    token = sign(api.token_key, meta["namespace"], account_name, uid, meta["name"])
    data = dict(secret.get("data") or {}, token=base64.b64encode(token.encode()).decode(),
                namespace=base64.b64encode(meta["namespace"].encode()).decode())
    if api.ca_pem:
        data["ca.crt"] = base64.b64encode(api.ca_pem).decode()
    filled = dict(secret, data=data)
    filled["metadata"] = dict(meta, annotations=dict(meta.get("annotations") or {}, **{UID_ANNOTATION: uid}))
    api.replace(api.registry.find("", "v1", "secrets"), meta["namespace"], meta["name"], filled)


def authenticate(api, token):
    """The service account a token names - "system:serviceaccount:NS:NAME" - while its Secret and account (same
    uid) exist; None for a token that is not one of this sandbox's."""
    claims = claims_of(api.token_key, token)
    if claims is None:
        return None, None
    namespace = claims.get("kubernetes.io/serviceaccount/namespace")
    secret = api.find(api.registry.find("", "v1", "secrets"), namespace,
                      claims.get("kubernetes.io/serviceaccount/secret.name"))
    account = api.find(api.registry.find("", "v1", "serviceaccounts"), namespace,
                       claims.get("kubernetes.io/serviceaccount/service-account.name"))
    if secret is None or account is None or \
            account["metadata"]["uid"] != claims.get("kubernetes.io/serviceaccount/service-account.uid"):
        return None, "the token's secret or service account is gone"
    return claims["sub"], None
