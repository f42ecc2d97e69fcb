"""An offline stand-in for an EKS cluster running Istio - a test double.

Nothing in plugins/, roles/ or playbooks/ knows it exists; the sandbox
inventory and the tests point the collection at it.
"""
