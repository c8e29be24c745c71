//! Network namespaces that a test makes itself (root and iproute2 needed): no packet of what
//! runs inside reaches the machine's real network. Deleted on drop.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A network namespace with its loopback up (multicast on, for mDNS tests).
pub struct Netns(pub String);

impl Netns {
    pub fn new() -> Netns {
        // Tests run in parallel threads of one process: the pid alone is not unique.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("idbox-test-{}-{n}", std::process::id());
        ip(&["netns", "add", &name]);
        let ns = Netns(name);
        ns.ip(&["link", "set", "lo", "up"]);
        ns.ip(&["link", "set", "lo", "multicast", "on"]);
        ns
    }

    /// `ip -n <this namespace> ARGS…`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.0.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// The command prefix that runs a program inside (`ip netns exec NAME`).
    pub fn prefix(&self) -> [&str; 4] {
        ["ip", "netns", "exec", &self.0]
    }

    /// Programs run inside (through [`prefix`](Self::prefix)) ask `nameserver` for DNS names:
    /// `ip netns exec` mounts /etc/netns/NAME/resolv.conf over /etc/resolv.conf.
    pub fn use_dns(&self, nameserver: &str) {
        let dir = format!("/etc/netns/{}", self.0);
        std::fs::create_dir_all(&dir).expect("/etc/netns (this test needs root)");
        std::fs::write(
            format!("{dir}/resolv.conf"),
            format!("nameserver {nameserver}\n"),
        )
        .expect("the namespace's resolv.conf");
    }

    /// A DNS server inside, on `addr` port 53 (Debian's dnsmasq, nothing forwarded, no
    /// files read), with the TXT records `txt` (name, text); stopped on drop.
    pub fn dns_server(&self, addr: &str, txt: &[(&str, &str)]) -> ChildGuard {
        let prefix = self.prefix();
        let mut cmd = Command::new(prefix[0]);
        cmd.args(&prefix[1..]).args([
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--pid-file=",
        ]);
        cmd.arg(format!("--listen-address={addr}"));
        for (name, text) in txt {
            cmd.arg(format!("--txt-record={name},{text}"));
        }
        ChildGuard(
            cmd.stdout(std::process::Stdio::null())
                .spawn()
                .expect("dnsmasq (Debian's dnsmasq-base) is needed"),
        )
    }

    /// Runs `f` on a thread of its own inside this namespace: what it binds and dials (a test's
    /// own IPFS node on a runtime of that thread) is on this namespace's network.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let ns = std::fs::File::open(format!("/run/netns/{}", self.0))
                        .expect("the namespace's file");
                    nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                        .expect("setns (this test needs root)");
                    f()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.0));
    }
}

/// A child process killed (and reaped) on drop.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `ip ARGS…`, which must succeed.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("iproute2 (ip) is needed");
    assert!(
        out.status.success(),
        "ip {args:?}: {} (this test needs root)",
        String::from_utf8_lossy(&out.stderr)
    );
}
