"""Every entry point a playbook reaches with include_role tasks_from runs its argument spec.

Ansible picks the spec by the literal tasks_from value: ``tasks_from: verify.yml`` finds no entry point named
"verify.yml" and validates nothing, ``tasks_from: verify`` runs the ``verify`` spec. So each role's entry points are
reached as a user of the collection would reach them, with a value of the wrong type, and must be refused by name
before the entry point's first task."""

import glob
import os
import re

import yaml

from playbook import ROOT, run_playbook

SPEC_FILES = sorted(glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")))


def entry_points():
    """(role, entry point, an int option of it) for every entry point but main."""
    found = []
    for path in SPEC_FILES:
        role = path.split(os.sep)[-3]
        with open(path) as handle:
            specs = yaml.safe_load(handle)["argument_specs"]
        for entry, spec in specs.items():
            ints = [name for name, option in (spec.get("options") or {}).items() if option.get("type") == "int"]
            if entry != "main" and ints:
                found.append((role, entry, ints[0]))
    return found


def callers():
    """The tasks_from values the roles, playbooks and Molecule scenarios use."""
    values = set()
    for pattern in ("roles/*/tasks/*.yml", "playbooks/**/*.yml", "molecule/**/*.yml"):
        for path in glob.glob(os.path.join(ROOT, pattern), recursive=True):
            with open(path) as handle:
                values.update(re.findall(r"tasks_from: (\S+)", handle.read()))
    return values


def test_the_entry_points_the_collection_calls_are_named_as_their_specs():
    named = {entry for dummy, entry, dummy_option in entry_points()}
    for value in callers():
        if value.endswith(".yml"):  # a file with no entry point of its own
            assert value[:-4] not in named, "tasks_from: %s skips the %s entry point's spec" % (value, value[:-4])


def test_each_entry_point_refuses_a_wrong_type_by_name_before_its_first_task(tmp_path):
    cases = entry_points()
    tasks = []
    for role, entry, option in cases:
        tasks.append({"name": "%s/%s" % (role, entry), "block": [
            {"name": "include %s %s" % (role, entry),
             "ansible.builtin.include_role": {"name": "istio_demo.mesh." + role, "tasks_from": entry},
             "vars": {option: "not-a-number"}}],
            "rescue": [{"name": "refused %s/%s" % (role, entry),
                        "ansible.builtin.set_fact": {"refusal": "{{ ansible_failed_result.msg | default('') }}"}}]})
    run = run_playbook(tmp_path, tasks)
    assert run.rc == 0, run.stdout[-3000:]
    results = run.results()
    for role, entry, option in cases:
        refused = results.get("refused %s/%s" % (role, entry))
        assert refused is not None, "%s/%s ran with %s=not-a-number" % (role, entry, option)
        message = refused["ansible_facts"]["refusal"]
        assert "Validation of arguments failed" in message and option in message, (role, entry, message)
