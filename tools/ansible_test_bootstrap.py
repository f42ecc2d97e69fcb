# Copyright: (c) 2026, istio_demo.mesh developers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Give ansible-test a pip bootstrap script that works without its download host.

``ansible-test sanity --requirements`` bootstraps pip in each virtual
environment it makes by running ``get_pip_<version>.py`` from its cache,
downloading it first from a host these machines cannot reach.  This writes
a stand-in into the cache for every pip version the installed ansible-test
asks for: it installs pip with ``ensurepip`` and then runs ``pip install``
with the arguments it was given, with the machine's pip configuration
(index, CA bundle, constraints) in force.
"""

import os
import re
import sys

STAND_IN = r'''# Written by istio_demo.mesh tools/ansible_test_bootstrap.py: installs pip
# with ensurepip, then "pip install" of the requested packages.
import os
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel", "--no-pip"}


def main():
    saved = dict(os.environ)
    import ensurepip
    ensurepip.bootstrap(upgrade=True, default_pip=True)
    # ensurepip points PIP_CONFIG_FILE at devnull for the rest of the process;
    # restore the environment so the machine's pip configuration applies.
    os.environ.clear()
    os.environ.update(saved)
    args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
    if not any(not a.startswith("-") for a in args):
        return 0
    return subprocess.call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    sys.exit(main())
'''


def wanted_versions():
    import ansible_test
    source = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
    with open(source) as handle:
        text = handle.read()
    return sorted(set(re.findall(r"pip='([0-9.]+)'", text))) or ["24.2"]


def main():
    cache = os.path.expanduser("~/.ansible/test/cache")
    os.makedirs(cache, exist_ok=True)
    for version in wanted_versions():
        path = os.path.join(cache, "get_pip_%s.py" % version.replace(".", "_"))
        current = None
        if os.path.exists(path):
            with open(path) as handle:
                current = handle.read()
        if current != STAND_IN:
            with open(path, "w") as handle:
                handle.write(STAND_IN)
    return 0


if __name__ == "__main__":
    sys.exit(main())
