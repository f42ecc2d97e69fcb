"""3. traffic_probe beside hey and wrk against nginx on loopback."""

import os
import re
import shutil
import subprocess
import time
import urllib.request

# common first: it puts tests/lib (sandboxrun, playbook) on the path
from common import local_play_run, ratio, run
from playbook import ansible_environment  # noqa: E402  pylint: disable=wrong-import-position


NGINX_CONF = """
worker_processes 1;
daemon off;
error_log stderr warn;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/www;
    }}
}}
"""


def free_port():
    import socket  # pylint: disable=import-outside-toplevel
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_nginx(work):
    directory = os.path.join(work, "nginx")
    os.makedirs(os.path.join(directory, "www"), exist_ok=True)
    for path in (work, directory, os.path.join(directory, "www")):
        os.chmod(path, 0o755)  # nginx's workers run as another user when started by root
    with open(os.path.join(directory, "www", "index.html"), "w") as handle:
        handle.write("<html><body><h1>hello from the bench</h1></body></html>\n")
    port = free_port()
    conf = os.path.join(directory, "nginx.conf")
    with open(conf, "w") as handle:
        handle.write(NGINX_CONF.format(dir=directory, port=port))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    log = open(os.path.join(directory, "error.log"), "w")  # pylint: disable=consider-using-with
    proc = subprocess.Popen([nginx, "-c", conf, "-p", directory], stdout=subprocess.DEVNULL,
                            stderr=log)  # pylint: disable=consider-using-with
    url = "http://127.0.0.1:%d/index.html" % port
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                response.read()
            return proc, url
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                with open(os.path.join(directory, "error.log")) as handle:
                    raise RuntimeError("nginx did not serve %s: %s" % (url, handle.read()[-1000:]))
            time.sleep(0.05)  # polling nginx's port until it answers (start-up, not a measurement)


def probe(work, url, seconds, concurrency, qps=None):
    options = {"url": url, "duration": seconds, "concurrency": concurrency, "min_success_ratio": 0.99}
    if qps:
        options["qps"] = qps
    play = [{"name": "bench", "hosts": "localhost", "gather_facts": False,
             "tasks": [{"name": "probe", "istio_demo.mesh.traffic_probe": options}]}]
    data, dummy = local_play_run(work, "probe", play, ansible_environment())
    result = data["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return {"rps": result["rps"], "requests": result["requests"], "success_ratio": result["success_ratio"],
            "p50_ms": result["latency_ms"]["p50"], "p99_ms": result["latency_ms"]["p99"],
            "processes": result["processes"]}


def hey(url, seconds, concurrency, qps=None):
    command = ["hey", "-z", "%ds" % seconds, "-c", str(concurrency)]
    if qps:
        command += ["-q", "%.3f" % (qps / concurrency)]  # hey's rate is per worker
    proc, _elapsed = run(command + [url])
    text = proc.stdout
    percentiles = dict((int(p), float(s) * 1000) for p, s in re.findall(r"(\d+)%+ in ([0-9.]+) secs", text))
    return {"rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", text).group(1)),
            "requests": sum(int(n) for n in re.findall(r"\[\d{3}\]\s+(\d+) responses", text)),
            "p50_ms": round(percentiles.get(50, 0), 3), "p99_ms": round(percentiles.get(99, 0), 3)}


WRK_PACE = """
-- each connection waits {delay} ms between requests: {concurrency} connections make about {qps} requests/s
function delay()
  return {delay}
end
"""


def wrk(work, url, seconds, concurrency, qps=None):
    command = ["wrk", "-t", str(min(2, concurrency)), "-c", str(concurrency), "-d", "%ds" % seconds, "--latency"]
    if qps:
        script = os.path.join(work, "pace.lua")
        with open(script, "w") as handle:
            handle.write(WRK_PACE.format(delay=int(round(1000.0 * concurrency / qps)), concurrency=concurrency,
                                         qps=qps))
        command += ["-s", script]
    proc, _elapsed = run(command + [url])
    text = proc.stdout

    def ms(value, unit):
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    found = dict((int(p), ms(v, u)) for p, v, u in re.findall(r"\s(\d+)%\s+([0-9.]+)(us|ms|s)\b", text))
    return {"rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", text).group(1)),
            "requests": int(re.search(r"(\d+) requests in", text).group(1)),
            "p50_ms": round(found.get(50, 0), 3), "p99_ms": round(found.get(99, 0), 3)}


def traffic(work, seconds, concurrency, qps):
    for tool in ("hey", "wrk"):
        if not shutil.which(tool):
            raise RuntimeError("%s is not installed (make bench installs the Debian packages nginx-light, hey, wrk)"
                               % tool)
    nginx, url = start_nginx(work)
    try:
        out = {"url_kind": "nginx on loopback, a 57-byte page", "concurrency": concurrency, "seconds": seconds,
               "fixed_qps": qps}
        out["max"] = {"probe": probe(work, url, seconds, concurrency), "hey": hey(url, seconds, concurrency),
                      "wrk": wrk(work, url, seconds, concurrency)}
        out["fixed"] = {"probe": probe(work, url, seconds, concurrency, qps),
                        "hey": hey(url, seconds, concurrency, qps),
                        "wrk": wrk(work, url, seconds, concurrency, qps)}
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
    mx, fx = out["max"], out["fixed"]
    out["ratios"] = {
        "max_rps_probe_over_hey": ratio(mx["probe"]["rps"], mx["hey"]["rps"]),
        "max_rps_probe_over_wrk": ratio(mx["probe"]["rps"], mx["wrk"]["rps"]),
        "fixed_rate_held_probe": ratio(fx["probe"]["rps"], qps),
        "fixed_rate_held_hey": ratio(fx["hey"]["rps"], qps),
        "fixed_rate_held_wrk": ratio(fx["wrk"]["rps"], qps),
        "fixed_p50_probe_over_wrk": ratio(fx["probe"]["p50_ms"], fx["wrk"]["p50_ms"]),
        "fixed_p99_probe_over_wrk": ratio(fx["probe"]["p99_ms"], fx["wrk"]["p99_ms"]),
        "fixed_p50_probe_over_hey": ratio(fx["probe"]["p50_ms"], fx["hey"]["p50_ms"]),
        "fixed_p99_probe_over_hey": ratio(fx["probe"]["p99_ms"], fx["hey"]["p99_ms"]),
    }
    r = out["ratios"]
    out["targets"] = {
        "max rps at least hey's": r["max_rps_probe_over_hey"] >= 1.0,
        "max rps at least 0.6 of wrk's": r["max_rps_probe_over_wrk"] >= 0.6,
        "fixed rate held within 2%": abs(r["fixed_rate_held_probe"] - 1) <= 0.02,
        # the probe must not add latency of its own: at most 20% above wrk's (below is better, not worse)
        "p50 at most 20% above wrk's at the same rate": r["fixed_p50_probe_over_wrk"] <= 1.2,
        "p99 at most 20% above wrk's at the same rate": r["fixed_p99_probe_over_wrk"] <= 1.2,
    }
    return out
