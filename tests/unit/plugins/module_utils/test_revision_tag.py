"""The revision_tag module's reading of tags and revisions from the injector webhook configurations, and its
input checks."""

import pytest

from ansible_collections.istio_demo.mesh.plugins.module_utils import revision_tag as rt


def config(name, **labels):
    return {"metadata": {"name": name, "labels": labels}}


# the shapes `istioctl install` and `istioctl tag set` leave (the istiod chart's mutatingwebhook.yaml and
# revision-tags-mwc.yaml)
WEBHOOKS = [
    config("istio-sidecar-injector", **{"istio.io/rev": "default", "app": "sidecar-injector"}),
    config("istio-sidecar-injector-1-30-3", **{"istio.io/rev": "1-30-3", "app": "sidecar-injector"}),
    config("istio-revision-tag-prod-stable", **{"istio.io/rev": "1-30-3", "istio.io/tag": "prod-stable"}),
    config("istio-revision-tag-prod-canary", **{"istio.io/rev": "default", "istio.io/tag": "prod-canary"}),
]


def test_revisions_are_the_injectors_of_their_own_and_tags_point_at_them():
    assert rt.revisions_from(WEBHOOKS) == {"default": "istio-sidecar-injector",
                                           "1-30-3": "istio-sidecar-injector-1-30-3"}
    assert rt.tags_from(WEBHOOKS) == {"prod-stable": "1-30-3", "prod-canary": "default"}
    assert rt.revisions_from([]) == {} and rt.tags_from([]) == {}


@pytest.mark.parametrize("params, expected", [
    ({"tag": "Prod_Stable", "state": "present", "revision": "default"}, "tag='Prod_Stable' is invalid"),
    ({"tag": "prod", "state": "present", "revision": "1.30.3"}, "revision='1.30.3' is invalid"),
    ({"tag": "canary", "state": "present", "revision": "canary"}, "tag='canary' names the revision it points to"),
    ({"tag": "x" * 64, "state": "absent", "revision": None}, "DNS label"),
])
def test_bad_input_is_named(params, expected):
    with pytest.raises(rt.TagInputError) as raised:
        rt.validate(params)
    assert expected in raised.value.message


def test_good_input_passes():
    rt.validate({"tag": "prod-stable", "state": "present", "revision": "default"})
    rt.validate({"tag": "prod-stable", "state": "absent", "revision": None})
