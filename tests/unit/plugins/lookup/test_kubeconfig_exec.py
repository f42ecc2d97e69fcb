"""Which credential plugin (and environment) a kubeconfig context runs, merged as kubectl merges files."""

from ansible_collections.istio_demo.mesh.plugins.lookup.kubeconfig_exec import identity_conflicts, kubeconfig_files, merged_exec


def update_kubeconfig(profile=None, context="arn:aws:eks:us-east-1:111122223333:cluster/demo"):
    """A kubeconfig as `aws eks update-kubeconfig --name demo [--profile P]` writes it."""
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
                     "args": ["--region", "us-east-1", "eks", "get-token", "--cluster-name", "demo", "--output",
                              "json"]}}
    if profile:
        user["exec"]["env"] = [{"name": "AWS_PROFILE", "value": profile}]
    return {"apiVersion": "v1", "kind": "Config", "current-context": context,
            "clusters": [{"name": context, "cluster": {"server": "https://example.eks.amazonaws.com"}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "users": [{"name": context, "user": user}]}


def test_the_profile_update_kubeconfig_wrote_is_found_for_the_current_context():
    found = merged_exec([update_kubeconfig("platform-admin")])
    assert found["command"] == "aws" and found["env"] == {"AWS_PROFILE": "platform-admin"}


def test_the_first_file_that_names_a_context_wins_and_another_context_is_looked_at_by_name():
    first = update_kubeconfig("first", context="demo")
    second = update_kubeconfig("second", context="demo")
    other = update_kubeconfig(None, context="other")
    assert merged_exec([first, second])["env"] == {"AWS_PROFILE": "first"}
    assert merged_exec([first, other], context="other")["env"] == {}
    assert merged_exec([first], context="missing") == {"context": "missing", "user": "", "command": "", "env": {}}


def test_files_come_from_the_option_else_the_environment_else_home():
    assert kubeconfig_files("/k/one", {"KUBECONFIG": "/k/two"}) == ["/k/one"]
    assert kubeconfig_files("", {"KUBECONFIG": "/k/two:/k/three"}) == ["/k/two", "/k/three"]
    assert kubeconfig_files("", {"K8S_AUTH_KUBECONFIG": "/k/four", "KUBECONFIG": "/k/two"}) == ["/k/four"]
    assert kubeconfig_files("", {})[0].endswith("/.kube/config")


def test_a_profile_other_than_the_plays_conflicts_and_a_key_is_named_without_its_value():
    env = merged_exec([update_kubeconfig("platform-admin")])["env"]
    assert identity_conflicts(env, {"AWS_PROFILE": "istio-demo-mesh"}, {}) == ["AWS_PROFILE=platform-admin"]
    assert identity_conflicts(env, {"AWS_PROFILE": "platform-admin"}, {}) == []
    # the play names no profile: the controller's own environment is what the modules use
    assert identity_conflicts(env, {}, {"AWS_PROFILE": "platform-admin"}) == []
    assert identity_conflicts({"AWS_SECRET_ACCESS_KEY": "s3cr3t"}, {}, {}) == ["AWS_SECRET_ACCESS_KEY"]
