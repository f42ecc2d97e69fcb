"""istiod's configuration pushes: what the proxies hold is the routing config of the last push, not the API server's
state of the moment.

istiod does not push each change as it is written. Its debouncer waits until no change has arrived for
PILOT_DEBOUNCE_AFTER (100 ms by default) or until PILOT_DEBOUNCE_MAX (10 s) has passed since the first change of the
batch, then pushes the merged config to the proxies (pilot/pkg/features/tuning.go, DebounceAfter / DebounceMax;
pilot/pkg/xds/discovery.go, debounce). So a VirtualService, Gateway, DestinationRule or HTTPRoute takes effect a
short, bounded while after it is written - istio.io's traffic-management tasks say to wait for the new rules to
propagate - and a request sent at once is routed by the previous rules.

The data plane reads Istio's routing kinds through this class. A push is taken lazily, on the first read after the
debounce has elapsed, which is the same answer a timer would give. Each push is numbered; its time and number are the
version_info of the route config the proxies report (the ``time/N`` form of istiod's push versions)."""

import datetime
import time

# the API groups istiod turns into routes (Services and endpoints are read live: EDS is not modelled as delayed)
PUSHED_GROUPS = frozenset(["networking.istio.io", "gateway.networking.k8s.io"])
DEBOUNCE_AFTER = 0.1
DEBOUNCE_MAX = 10.0


class PushedConfig(object):
    def __init__(self, api, after=DEBOUNCE_AFTER, maximum=DEBOUNCE_MAX, clock=time.monotonic):
        self.api = api
        self.after = after
        self.maximum = maximum
        self.clock = clock
        self.first = None  # when the first change since the last push was written
        self.last = None  # when the latest one was
        self.snapshot = {}
        self.pushes = 0
        self.version_info = ""
        api.write_hooks.append(self._written)
        with api.lock:
            self._push()

    def _written(self, storage_key):
        """Called by the API under its lock for every stored change."""
        if storage_key[0] not in PUSHED_GROUPS:
            return
        now = self.clock()
        if self.first is None:
            self.first = now
        self.last = now

    def _push(self):
        snapshot = {}
        for kind in list(self.api.registry.kinds):
            if kind.group not in PUSHED_GROUPS or kind.storage_key in snapshot:
                continue
            stored = self.api.objects.get(kind.storage_key, {})
            snapshot[kind.storage_key] = [self.api.decorate(kind, stored[key]) for key in
                                          sorted(stored, key=lambda k: (k[0] or "", k[1]))]
        self.snapshot = snapshot
        self.first = self.last = None
        self.pushes += 1
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.version_info = "%s/%d" % (stamp, self.pushes)

    def current(self):
        """The config of the last push, pushing first when the debounce has elapsed."""
        with self.api.lock:
            if self.first is not None:
                now = self.clock()
                if now - self.last >= self.after or now - self.first >= self.maximum:
                    self._push()
            return self.snapshot

    def pending(self):
        """Whether written changes wait for a push."""
        with self.api.lock:
            self.current()
            return self.first is not None

    def list(self, kind, namespace=None):
        items = self.current().get(kind.storage_key, [])
        if namespace and kind.namespaced:
            return [obj for obj in items if obj["metadata"].get("namespace") == namespace]
        return list(items)

    def find(self, kind, namespace, name):
        return next((obj for obj in self.list(kind, namespace) if obj["metadata"]["name"] == name), None)
