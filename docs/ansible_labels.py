"""Write the intersphinx inventory of the labels of Ansible's documentation that antsibull-docs' pages link to.

The docs site is built without network access, so Sphinx cannot fetch docs.ansible.com's objects.inv; the labels
below are the ones the pages use (ours and kubernetes.core's), with their pages on docs.ansible.com.
Usage: python docs/ansible_labels.py OUT.inv
"""

import sys
import zlib

LABELS = {
    "action_plugins": ("plugins/action.html#action-plugins", "Action plugins"),
    "ansible_collections.ansible.builtin.template_module": (
        "collections/ansible/builtin/template_module.html#ansible-collections-ansible-builtin-template-module",
        "ansible.builtin.template module"),
    "ansible_configuration_settings": ("reference_appendices/config.html#ansible-configuration-settings",
                                       "Ansible Configuration Settings"),
    "common_return_values": ("reference_appendices/common_return_values.html#common-return-values",
                             "Return Values"),
}


def main(path):
    lines = ["%s std:label -1 %s %s" % (name, uri, title) for name, (uri, title) in sorted(LABELS.items())]
    header = "# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n" \
             "# The remainder of this file is compressed using zlib.\n"
    with open(path, "wb") as handle:
        handle.write(header.encode("utf-8"))
        handle.write(zlib.compress(("\n".join(lines) + "\n").encode("utf-8")))


if __name__ == "__main__":
    main(sys.argv[1])
