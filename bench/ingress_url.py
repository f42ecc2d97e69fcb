"""Reads a load balancer hostname on stdin and prints the sandbox's loopback base URL for its port 80.

The sandbox serves each ELB listener on a loopback port (GET /sandbox/addresses
maps "HOSTNAME:PORT" to "127.0.0.1:N"); the baseline script uses this where a
person on EKS would use the hostname itself.
"""

import json
import os
import ssl
import sys
import urllib.request


def main():
    host = sys.stdin.read().strip()
    ca = os.environ.get("SANDBOX_CA")
    context = ssl.create_default_context(cafile=ca) if ca and os.path.exists(ca) else None
    with urllib.request.urlopen(sys.argv[1].rstrip("/") + "/sandbox/addresses", timeout=10,
                                context=context) as response:
        addresses = json.loads(response.read())
    print("http://" + addresses.get(host + ":80", host))


if __name__ == "__main__":
    main()
