"""YAML for the sandbox through libyaml when PyYAML has it (the same safe schema, about ten times faster than the
pure-Python loader): istioctl's stand-in reads Istio's CRDs and manifest goldens (megabytes) on every install and
every ``manifest generate``, and ``up`` writes the older Gateway API bundles, so the loader is a test's hot path."""

import yaml

SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
YAMLError = yaml.YAMLError


def safe_load(stream):
    return yaml.load(stream, Loader=SafeLoader)  # nosec - the safe schema (SafeLoader or its libyaml twin)


def safe_load_all(stream):
    return yaml.load_all(stream, Loader=SafeLoader)  # nosec - the safe schema


def safe_dump(data, stream=None, **options):
    return yaml.dump(data, stream, Dumper=SafeDumper, **options)


def safe_dump_all(documents, stream=None, **options):
    return yaml.dump_all(documents, stream, Dumper=SafeDumper, **options)
