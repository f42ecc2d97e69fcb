# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: kubeconfig_exec
author: istio_demo.mesh developers (@istio-demo-mesh)
version_added: 0.3.0
short_description: The credential plugin a kubeconfig context runs, with the environment it gives that plugin
description:
  - Reads the kubeconfig the way the Kubernetes clients do - O(kubeconfig) when given, else every file of
    E(K8S_AUTH_KUBECONFIG) or E(KUBECONFIG) (separated by C(:), the first file to name a context, user or
    C(current-context) wins), else C(~/.kube/config) - and returns, for the context O(context) (else the
    current one), its user's C(exec) credential plugin and the C(env) entries the kubeconfig sets for it.
  - A kubeconfig written by C(aws eks update-kubeconfig --profile P) runs C(aws eks get-token) with
    C(AWS_PROFILE=P) in that C(env), which the clients put over their own environment; the collection's playbooks
    use this to refuse a plugin that would run as another AWS identity than the play.
  - Reads files on the controller, where the collection's playbooks run their Kubernetes clients (connection
    local).
options:
  kubeconfig:
    description: Path of the kubeconfig; the clients' default search when empty.
    type: path
    default: ""
  context:
    description: The context to look at; the kubeconfig's C(current-context) when empty.
    type: str
    default: ""
  environment:
    description:
      - The environment the play gives its tasks. Entries of the plugin's C(env) that set an AWS identity variable
        (profile, keys, credential and config files, web identity) to another value than this - or, for a variable
        it does not set, than the controller's own environment - are returned in RV(_raw.conflicts).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Show which AWS profile the kubeconfig's credential plugin runs with
  ansible.builtin.debug:
    msg: "{{ lookup('istio_demo.mesh.kubeconfig_exec').env.AWS_PROFILE | default('(the process environment)') }}"
"""

RETURN = r"""
_raw:
  description: One dictionary (the lookup always returns a list of one).
  type: list
  elements: dict
  contains:
    files:
      description: The kubeconfig files read, in order.
      type: list
      elements: str
    context:
      description: The context looked at (empty when none is named and none is current).
      type: str
    user:
      description: Its user's name (empty when the context or its user is not found).
      type: str
    command:
      description: The user's exec plugin command (empty when the user does not run one).
      type: str
    env:
      description: The C(env) entries of the exec plugin, as a name-to-value dictionary.
      type: dict
    conflicts:
      description:
        - The AWS identity variables the plugin's C(env) sets otherwise than O(environment), as C(NAME=VALUE) for
          profiles and files and C(NAME) alone for keys, tokens and role ARNs (never their values).
      type: list
      elements: str
"""

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    yaml = None


def kubeconfig_files(kubeconfig, environ):
    """The files a client reads: the explicit one, else K8S_AUTH_KUBECONFIG (kubernetes.core's) or KUBECONFIG, each
    a :-separated list, else ~/.kube/config."""
    if kubeconfig:
        return [os.path.expanduser(kubeconfig)]
    listed = environ.get("K8S_AUTH_KUBECONFIG") or environ.get("KUBECONFIG") or ""
    files = [os.path.expanduser(p) for p in listed.split(os.pathsep) if p]
    return files or [os.path.expanduser("~/.kube/config")]


def merged_exec(documents, context=""):
    """{context, user, command, env} of the exec plugin of a context, over kubeconfig documents merged as kubectl
    merges them (the first document to name an entry or the current-context wins)."""
    current, contexts, users = "", {}, {}
    for doc in documents:
        if not isinstance(doc, dict):
            continue
        current = current or doc.get("current-context") or ""
        for entry in doc.get("contexts") or []:
            contexts.setdefault(entry.get("name"), entry.get("context") or {})
        for entry in doc.get("users") or []:
            users.setdefault(entry.get("name"), entry.get("user") or {})
    name = context or current
    user_name = (contexts.get(name) or {}).get("user") or ""
    plugin = (users.get(user_name) or {}).get("exec") or {}
    env = dict((e.get("name"), "" if e.get("value") is None else str(e.get("value")))
               for e in plugin.get("env") or [] if isinstance(e, dict) and e.get("name"))
    return {"context": name, "user": user_name, "command": plugin.get("command") or "", "env": env}


# What selects the AWS identity of a process (botocore's credential chain), and which of them may be shown
IDENTITY = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE")
SHOWN = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
         "AWS_WEB_IDENTITY_TOKEN_FILE")


def identity_conflicts(env, environment, environ):
    """The identity variables the plugin's env sets otherwise than the play's environment (else the process's)."""
    out = []
    for name in IDENTITY:
        if name not in env:
            continue
        play = environment[name] if name in environment else environ.get(name, "")
        if str(play) != env[name]:
            out.append("%s=%s" % (name, env[name]) if name in SHOWN else name)
    return out


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if yaml is None:
            raise AnsibleLookupError("kubeconfig_exec needs PyYAML")
        files = kubeconfig_files(self.get_option("kubeconfig"), os.environ)
        documents = []
        for path in files:
            if not os.path.exists(path):
                continue
            try:
                with open(path) as handle:
                    documents.append(yaml.safe_load(handle))
            except (OSError, yaml.YAMLError) as exc:
                raise AnsibleLookupError("kubeconfig %s cannot be read: %s" % (path, exc))
        found = merged_exec(documents, self.get_option("context"))
        found["files"] = files
        environment = self.get_option("environment") or {}
        if not isinstance(environment, dict):
            raise AnsibleLookupError("kubeconfig_exec: environment must be a dictionary, got %r" % (environment,))
        found["conflicts"] = identity_conflicts(found["env"], environment, os.environ)
        return [found]
