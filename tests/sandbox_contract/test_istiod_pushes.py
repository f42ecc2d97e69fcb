"""istiod's debounced pushes as the sandbox models them (sandbox/pushes.py): what the proxies route by is the
config of the last push, made PILOT_DEBOUNCE_AFTER (100 ms) after the latest change or PILOT_DEBOUNCE_MAX (10 s)
after the first of a busy stream (pilot/pkg/features/tuning.go). A clock the test moves stands for time."""

from sandbox.api import Api
from sandbox.pushes import PushedConfig
from sandbox.registry import Kind


class Clock(object):
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def setup():
    api = Api()
    api.registry.add(Kind("", "v1", "Namespace", "namespaces", namespaced=False))
    routes = Kind("networking.istio.io", "v1", "VirtualService", "virtualservices")
    api.registry.add(routes)
    api.registry.add(Kind("", "v1", "ConfigMap", "configmaps"))
    api.create(api.kind_for("", "v1", "namespaces"), None, {"metadata": {"name": "my-app"}})
    clock = Clock()
    return api, routes, PushedConfig(api, clock=clock), clock


def route(weight):
    return {"metadata": {"name": "shift", "namespace": "my-app"},
            "spec": {"hosts": ["*"], "http": [{"route": [{"destination": {"host": "a"}, "weight": weight}]}]}}


def weights(config, kind):
    return [vs["spec"]["http"][0]["route"][0]["weight"] for vs in config.list(kind, "my-app")]


def test_a_change_takes_effect_after_a_quiet_moment_not_at_once():
    api, routes, config, clock = setup()
    api.create(routes, "my-app", route(90))
    assert weights(config, routes) == [] and config.pending()
    clock.now += 0.05
    assert weights(config, routes) == []
    clock.now += 0.05
    assert weights(config, routes) == [90] and not config.pending()
    assert config.find(routes, "my-app", "shift")["spec"]["http"][0]["route"][0]["weight"] == 90


def test_a_stream_of_changes_is_pushed_at_the_latest_after_the_maximum():
    api, routes, config, clock = setup()
    api.create(routes, "my-app", route(0))
    for weight in range(1, 200):
        clock.now += 0.06  # never 100 ms of quiet
        api.replace(routes, "my-app", "shift", dict(route(weight), metadata=dict(
            api.get(routes, "my-app", "shift")["metadata"])))
        seen = weights(config, routes)
        if seen:
            break
    # the first change was at t0; the push comes with the first read 10 s after it
    assert 10.0 <= weight * 0.06 < 10.06 + 0.06 and seen == [weight]


def test_other_kinds_do_not_wait_and_do_not_delay_a_push():
    api, routes, config, clock = setup()
    versions = config.version_info
    api.create(api.kind_for("", "v1", "configmaps"), "my-app", {"metadata": {"name": "c"}})
    assert not config.pending() and config.version_info == versions
