"""Start the sandbox for a test session and talk to it as the tests need."""

import json
import os
import subprocess
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CTL = os.path.join(os.path.dirname(HERE), "sandbox", "ctl.py")


def start(state_dir, *options):
    """``options``: up's options, e.g. ("--flavour", "karpenter", "--lb-mode", "aws-lb-controller")."""
    subprocess.run([sys.executable, CTL, "--state-dir", state_dir, "up"] + list(options), check=True, timeout=180)
    return Running(state_dir)


def stop(state_dir):
    subprocess.run([sys.executable, CTL, "--state-dir", state_dir, "down"], check=False, timeout=60)


class Running(object):
    def __init__(self, state_dir):
        self.state_dir = state_dir
        with open(os.path.join(state_dir, "state.json")) as handle:
            self.state = json.load(handle)
        self.env = dict(os.environ)
        with open(os.path.join(state_dir, "env")) as handle:
            for line in handle:
                if line.startswith("export ") and not line.startswith("export PATH="):
                    key, value = line[len("export "):].strip().split("=", 1)
                    self.env[key] = json.loads(value)
        self.env["PATH"] = os.path.join(state_dir, "bin") + os.pathsep + os.environ["PATH"]
        self.api = self.state["apiserver"]
        self.kubeconfig = self.env["KUBECONFIG"]

    def kubectl(self, *args, check=True, stdin=None):
        proc = subprocess.run(["kubectl"] + list(args), env=self.env, capture_output=True, text=True, input=stdin,
                              timeout=120, check=False)
        if check and proc.returncode != 0:
            raise AssertionError("kubectl %s failed: %s%s" % (" ".join(args), proc.stdout, proc.stderr))
        return proc

    def requests(self):
        """The request log, as a list of entries."""
        with open(os.path.join(self.state_dir, "requests.log")) as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def faults(self, **values):
        request = urllib.request.Request(self.api + "/sandbox/faults", data=json.dumps(values).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def load_balancers(self):
        with urllib.request.urlopen(self.api + "/sandbox/loadbalancers", timeout=10) as response:
            return json.loads(response.read())
