"""The collection as AWX / Ansible Automation Platform gets it: through an execution environment built by
ansible-builder. No container engine runs here, so what is checked is what ansible-builder reads and writes before
an engine would take over: the dependencies it introspects from the collection, and the build context it creates
for an EE definition that installs the collection's built tarball."""

import glob
import json
import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
EE_BIN = os.path.join(ROOT, "build", "ee-venv", "bin")


def pins(path):
    """{package name (lower case): specifier} of a requirements file."""
    found = {}
    with open(path) as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            match = re.match(r"^([A-Za-z0-9_.-]+)\s*(.*)$", line)
            if match:
                found[match.group(1).lower()] = match.group(2).replace(" ", "")
    return found


def test_introspection_finds_the_collections_python_and_system_dependencies(tmp_path):
    installed = tmp_path / "collections"
    # installed as another estate installs it: on its own collections path (the repo's build/collections, which
    # make puts on ANSIBLE_COLLECTIONS_PATH, would make ansible-galaxy find it installed already)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(installed))
    env.pop("PYTHONPATH", None)
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force", "--no-deps", "-p",
                    str(installed), ROOT], check=True, capture_output=True, text=True, cwd=str(tmp_path), env=env)
    assert (installed / "ansible_collections" / "istio_demo" / "mesh" / "meta" / "execution-environment.yml").is_file()
    out = subprocess.run([os.path.join(BIN, "ansible-builder"), "introspect", "--sanitize", str(installed)],
                         check=True, capture_output=True, text=True).stdout
    found = yaml.safe_load(out[out.index("---"):])
    python = {re.split(r"[<>=!~ ]", entry, maxsplit=1)[0].lower(): entry for entry in found["python"]}
    for package in ("kubernetes", "jsonpatch", "boto3", "botocore", "awscli"):
        assert package in python and python[package].endswith("# from collection istio_demo.mesh"), found
    assert any(entry.startswith("graphviz ") for entry in found["system"]), found
    assert any(entry.startswith("procps-ng ") for entry in found["system"]), found
    # the EE gets the versions the collection is tested with: those of the project's venv, and the AWS CLI (whose
    # pins the docs tools do not share) from the EE's own set, which make setup installs together (build/ee-venv)
    tested = pins(os.path.join(ROOT, "requirements.txt"))
    for package, specifier in pins(os.path.join(ROOT, "meta", "ee-requirements.txt")).items():
        if package == "awscli":
            assert os.access(os.path.join(EE_BIN, "aws"), os.X_OK), "make setup builds the EE's venv"
            continue
        assert tested.get(package) == specifier, (package, specifier, tested.get(package))


def test_the_ees_aws_cli_signs_the_token_an_eks_api_server_takes(sandbox, tmp_path):
    # the kubeconfig as `aws eks update-kubeconfig` writes it, run by the EE's AWS CLI (its STS endpoint the real
    # one: the token names the host an EKS API server asks STS at, so the sandbox's AWS endpoint is not given to it)
    with open(sandbox.kubeconfig) as handle:
        config = json.load(handle)
    config["users"][0]["user"] = {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "env",
        "args": ["-u", "AWS_ENDPOINT_URL", os.path.join(EE_BIN, "aws"), "--region", sandbox.env["AWS_REGION"],
                 "eks", "get-token", "--cluster-name", sandbox.state["aws"]["cluster"], "--output", "json"],
        "interactiveMode": "Never", "provideClusterInfo": False}}
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps(config))
    env = dict(sandbox.env, KUBECONFIG=str(kubeconfig))
    got = subprocess.run(["kubectl", "get", "namespace", "kube-system", "-o", "name"], env=env, capture_output=True,
                         text=True, check=False, timeout=120)
    assert got.returncode == 0 and got.stdout.strip() == "namespace/kube-system", got.stdout + got.stderr
    # a token signed with a key STS does not know is refused, so the one above was checked
    env.update(AWS_ACCESS_KEY_ID="AKIAUNKNOWNUNKNOWN01", AWS_SECRET_ACCESS_KEY="unknown")
    refused = subprocess.run(["kubectl", "get", "namespace", "kube-system", "-o", "name"], env=env,
                             capture_output=True, text=True, check=False, timeout=120)
    assert refused.returncode != 0 and "Unauthorized" in refused.stderr + refused.stdout, refused.stderr


def test_an_ee_definition_with_the_collection_gets_a_build_context(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(dist), ROOT],
                   check=True, capture_output=True, text=True)
    tarball = os.path.basename(glob.glob(str(dist / "istio_demo-mesh-*.tar.gz"))[0])
    definition = tmp_path / "execution-environment.yml"
    definition.write_text(yaml.safe_dump({
        "version": 3,
        "images": {"base_image": {"name": "quay.io/ansible/ansible-runner:latest"}},
        "dependencies": {"galaxy": {"collections": [
            {"name": "/build/dist/" + tarball, "type": "file"}]}},
        "additional_build_files": [{"src": str(dist), "dest": "dist"}],
        "additional_build_steps": {"prepend_galaxy": ["COPY _build/dist /build/dist"]},
    }))
    context = tmp_path / "context"
    made = subprocess.run([os.path.join(BIN, "ansible-builder"), "create", "-f", str(definition), "-c", str(context),
                           "--output-filename", "Containerfile"], capture_output=True, text=True, cwd=str(tmp_path),
                          check=False)
    assert made.returncode == 0, made.stdout + made.stderr
    containerfile = (context / "Containerfile").read_text()
    assert "ansible-galaxy collection install" in containerfile
    assert "COPY _build/dist /build/dist" in containerfile
    assert (context / "_build" / "dist" / tarball).is_file()
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert requirements["collections"] == [{"name": "/build/dist/" + tarball, "type": "file"}]
