# Sphinx configuration of the collection's docs site (make docs): the pages antsibull-docs writes for
# istio_demo.mesh and for the collections its pages refer to, in the Ansible theme. Built offline: the two labels
# of Ansible's own documentation the pages link to come from a small local inventory (ansible_labels.py) pointing at
# docs.ansible.com, so no reference is left dangling and nothing is fetched.
import os

project = "istio_demo.mesh"
copyright = "istio_demo.mesh developers"
title = "istio_demo.mesh documentation"
html_short_title = title
extensions = ["sphinx.ext.intersphinx", "sphinx_antsibull_ext"]
pygments_style = "ansible"
highlight_language = "YAML+Jinja"
html_theme = "sphinx_ansible_theme"
html_show_sphinx = False
display_version = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False
intersphinx_mapping = {
    "ansible_devel": ("https://docs.ansible.com/projects/ansible/devel/",
                      os.environ.get("MESH_DOCS_ANSIBLE_INVENTORY", "ansible_devel.inv")),
}
default_role = "any"
nitpicky = True
