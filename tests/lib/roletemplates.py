"""A role's template rendered as Ansible renders it: on the role's defaults, which sit on the collection-wide ones
(role mesh) and whose strings are templates (they read mesh_namespace, ...), the template file itself trusted."""

import os

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def trusted(value):
    """A value as Ansible holds a role's defaults file: its strings are templates."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return dict((k, trusted(v)) for k, v in value.items())
    if isinstance(value, list):
        return [trusted(v) for v in value]
    return value


def plain_defaults(role):
    """The role's defaults over the collection-wide ones, as the files say them (not rendered)."""
    values = {}
    for source in ("mesh", role):
        with open(os.path.join(ROOT, "roles", source, "defaults", "main.yml")) as handle:
            values.update(yaml.safe_load(handle))
    return values


def role_defaults(role):
    """The role's defaults over the collection-wide ones, as Ansible holds them (strings are templates)."""
    return trusted(plain_defaults(role))


def render(role, template, variables):
    """The text of roles/ROLE/templates/TEMPLATE rendered with ``variables`` (a template file is trusted, as
    Ansible's template lookup trusts it)."""
    with open(os.path.join(ROOT, "roles", role, "templates", template)) as handle:
        text = handle.read()
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(text))
