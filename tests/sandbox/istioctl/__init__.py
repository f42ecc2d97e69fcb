"""istioctl stand-in (a test double): the real command-line contract, acting on whatever API server the
kubeconfig names; run as ``python -m sandbox.istioctl`` (the sandbox writes an ``istioctl`` that does).

Commands: version, install, uninstall, x precheck, analyze, manifest generate, tag list/set/remove, proxy-status,
proxy-config routes. Output and exit codes follow the real tool's; the version is SANDBOX_ISTIO_VERSION. One file
per part: cli.py (the command line), kube.py (the API client), charts.py (what install renders), install.py,
status.py (the read-only commands), tags.py (revision tags), common.py (what they share).
"""
