# -*- coding: utf-8 -*-
# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0), or at your option
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The app_routes, route_targets and disagreement filters: the demo's routes from its apps, said once for every
role, and what a play finds when values that must agree do not."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.errors import AnsibleFilterError


def app_routes(apps, port):
    """One route per app: ``/VERSION`` to its Service ``NAME-svc`` on ``port``."""
    if not isinstance(apps, (list, tuple)):
        raise AnsibleFilterError("app_routes expects a list of apps (name, version, image), got %r" % (apps,))
    routes = []
    for app in apps:
        if not isinstance(app, dict) or not app.get("name") or not app.get("version"):
            raise AnsibleFilterError("app_routes: app %r has no name or no version" % (app,))
        routes.append({"path": "/%s" % app["version"], "service": "%s-svc" % app["name"], "port": int(port)})
    return routes


def route_targets(routes, namespace):
    """Each route's Service as ``NAME.NAMESPACE:PORT``, in the routes' order, each once."""
    targets = []
    for route in routes or []:
        if not isinstance(route, dict) or not route.get("service") or not route.get("port"):
            raise AnsibleFilterError("route_targets: route %r has no service or no port" % (route,))
        target = "%s.%s:%s" % (route["service"], namespace, int(route["port"]))
        if target not in targets:
            targets.append(target)
    return targets


def disagreement(pairs):
    """``NAME="VALUE", ...`` for the (name, value) pairs when their values are not all the same, else ``""``."""
    pairs = [tuple(pair) for pair in pairs or []]
    if any(len(pair) != 2 for pair in pairs):
        raise AnsibleFilterError("disagreement expects (name, value) pairs, got %r" % (pairs,))
    shown = [(name, json.dumps(value, sort_keys=True)) for name, value in pairs]
    if len(set(value for dummy, value in shown)) <= 1:
        return ""
    return ", ".join("%s=%s" % (name, value) for name, value in shown)


class FilterModule(object):
    def filters(self):
        return {"app_routes": app_routes, "route_targets": route_targets, "disagreement": disagreement}
