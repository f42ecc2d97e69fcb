"""Kubernetes names as the API server judges them (kubernetes.io/docs/concepts/overview/working-with-objects/names/),
through the tests the roles use."""

import pytest

from ansible_collections.istio_demo.mesh.plugins.test import names

TESTS = names.TestModule().tests()


@pytest.mark.parametrize("test, value, args, expected", [
    ("dns_label", "my-app", (), True),
    ("dns_label", "9lives", (), True),  # a namespace may start with a digit
    ("dns_label", "a" * 63, (), True),
    ("dns_label", "a" * 64, (), False),
    ("dns_label", "My-App", (), False),
    ("dns_label", "my_app", (), False),
    ("dns_label", "-app", (), False),
    ("dns_label", "app-", (), False),
    ("dns_label", "my.app", (), False),
    ("dns_label", "", (), False),
    ("dns_label", None, (), False),
    ("dns_label", 42, (), False),
    ("dns_1035_label", "nginx-svc", (), True),
    ("dns_1035_label", "9svc", (), False),  # a Service name starts with a letter
    ("dns_1035_label", "a" * 52, (52,), True),
    ("dns_1035_label", "a" * 53, (52,), False),  # room left for a suffix
    ("dns_subdomain", "my-app-gateway", (), True),
    ("dns_subdomain", "gw.example.com", (), True),
    ("dns_subdomain", "gw..example", (), False),
    ("dns_subdomain", ".gw", (), False),
    ("dns_subdomain", "Gateway", (), False),
    ("dns_subdomain", "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 61, (), True),  # 253
    ("dns_subdomain", "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 62, (), False),  # 254
])
def test_names(test, value, args, expected):
    assert TESTS[test](value, *args) is expected
