# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Kubernetes object names, said once (kubernetes.io/docs/concepts/overview/working-with-objects/names/): the
engines check options with them, and the roles through the dns_label, dns_1035_label and dns_subdomain tests."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# RFC 1123 label: namespaces, container names, most object names - lower-case letters, digits and '-', starting and
# ending with a letter or digit, at most 63 characters
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# RFC 1035 label: Service names - as above, but starting with a letter
_LABEL_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# RFC 1123 subdomain: dot-separated labels, at most 253 characters (Gateway, VirtualService, ConfigMap names)
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# a named port (IANA_SVC_NAME): at most 15 characters, at least one letter
_PORT_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def image_tag(image):
    """The tag of a container image reference, or None: after the last ':' of its last path segment, a digest
    aside (a registry's port, registry.example:5000/istio/pilot, is no tag)."""
    last = str(image or "").split("@", 1)[0].rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[-1] if ":" in last else None


def _fits(pattern, value, max_length):
    return isinstance(value, str) and 0 < len(value) <= max_length and bool(pattern.match(value))


def dns_label(value, max_length=63):
    """Whether ``value`` is an RFC 1123 label of at most ``max_length`` characters."""
    return _fits(_LABEL, value, max_length)


def dns_1035_label(value, max_length=63):
    """Whether ``value`` is an RFC 1035 label (a Service name) of at most ``max_length`` characters."""
    return _fits(_LABEL_1035, value, max_length)


def dns_subdomain(value, max_length=253):
    """Whether ``value`` is an RFC 1123 subdomain of at most ``max_length`` characters."""
    return _fits(_SUBDOMAIN, value, max_length)


def port_name(value):
    """Whether ``value`` is a named port (IANA_SVC_NAME)."""
    return _fits(_PORT_NAME, value, 15)
