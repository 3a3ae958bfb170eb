//! Live capture of real traffic between two network namespaces joined by a veth pair.
//!
//! Each test builds its own pair of namespaces (`nstest-<pid>-<n>-a` and `-b`), with private
//! addresses that exist only inside them (10.231.0.0/30, fd00:231::/64), so no packet ever
//! leaves the machine. Namespace b runs dnsmasq and nginx; namespace a runs the sensor on its
//! end of the veth and the clients (ping, dig, curl). The sensor runs as `nobody` with
//! nothing but CAP_NET_RAW (granted with `setpriv`), which is the set docs/live-capture.md
//! documents: promiscuous mode included, CAP_NET_ADMIN is not needed.
//!
//! The tests need root to create namespaces and fail, never skip, without it: CI runs them
//! as root, and a live-capture test that silently does nothing proves nothing. Every
//! namespace, daemon and sensor is removed by a guard, also when an assertion fails.
//! dev/netns/testnet.sh builds the same network by hand.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{get, wait_until};
use serde_json::Value;

/// Address of namespace a (the sensor's side).
const A4: &str = "10.231.0.1";
/// Address of namespace b (the servers' side).
const B4: &str = "10.231.0.2";
/// IPv6 address of namespace a.
const A6: &str = "fd00:231::1";
/// IPv6 address of namespace b.
const B6: &str = "fd00:231::2";
/// The veth end in namespace a, where the sensor captures.
const IF_A: &str = "veth-a";
/// The veth end in namespace b.
const IF_B: &str = "veth-b";
/// The name dnsmasq answers, and its answer (an address that is never contacted).
const DNS_NAME: &str = "test.netsensor";
const DNS_ANSWER: &str = "10.231.9.9";
/// The Host header curl sends to nginx.
const WEB_HOST: &str = "web.test.netsensor";
/// The sensor's metrics listener, on the loopback of namespace a.
const METRICS_ADDR: &str = "127.0.0.1:9102";
/// Bit of CAP_NET_RAW in the capability sets of /proc/PID/status.
const CAP_NET_RAW_BIT: u64 = 1 << 13;
/// Longest wait for anything the tests wait for.
const WAIT: Duration = Duration::from_secs(15);
/// How often a wait checks its condition.
const POLL: Duration = Duration::from_millis(100);

/// Commands the tests run, with the Debian package providing each.
const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("ping", "iputils-ping"),
    ("dnsmasq", "dnsmasq-base"),
    ("nginx", "nginx-light"),
    ("dig", "bind9-dnsutils"),
    ("curl", "curl"),
    ("setpriv", "util-linux"),
    ("promtool", "prometheus"),
];

// ---------------------------------------------------------------------------------------
// The test network
// ---------------------------------------------------------------------------------------

/// Two namespaces joined by a veth pair, with their daemons; all removed on drop.
struct TestNet {
    a: String,
    b: String,
    dir: tempfile::TempDir,
    binary: PathBuf,
    daemons: Vec<(&'static str, Child)>,
}

impl TestNet {
    /// Creates the namespaces, the veth pair and the addresses, and brings everything up.
    fn new() -> TestNet {
        require_root_and_tools();
        remove_stale_namespaces();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("nstest-{}-{n}", std::process::id());
        let dir = tempfile::Builder::new()
            .prefix("netsensor-live-")
            .tempdir()
            .unwrap();
        // `nobody` must reach the binary, the config and the output directory.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let binary = dir.path().join("netsensor");
        let built = Path::new(env!("CARGO_BIN_EXE_netsensor"));
        if fs::hard_link(built, &binary).is_err() {
            fs::copy(built, &binary).unwrap();
        }
        fs::set_permissions(&binary, fs::Permissions::from_mode(0o755)).unwrap();
        let net = TestNet {
            a: format!("{prefix}-a"),
            b: format!("{prefix}-b"),
            dir,
            binary,
            daemons: Vec::new(),
        };
        let (a, b) = (net.a.as_str(), net.b.as_str());
        ip(&["netns", "add", a]);
        ip(&["netns", "add", b]);
        ip(&[
            "link", "add", IF_A, "netns", a, "type", "veth", "peer", "name", IF_B, "netns", b,
        ]);
        ip(&["-n", a, "addr", "add", &format!("{A4}/30"), "dev", IF_A]);
        ip(&["-n", b, "addr", "add", &format!("{B4}/30"), "dev", IF_B]);
        // nodad: the addresses are usable at once instead of after duplicate detection.
        ip(&[
            "-n",
            a,
            "addr",
            "add",
            &format!("{A6}/64"),
            "dev",
            IF_A,
            "nodad",
        ]);
        ip(&[
            "-n",
            b,
            "addr",
            "add",
            &format!("{B6}/64"),
            "dev",
            IF_B,
            "nodad",
        ]);
        for (ns, iface) in [(a, IF_A), (b, IF_B), (a, "lo"), (b, "lo")] {
            ip(&["-n", ns, "link", "set", iface, "up"]);
        }
        net
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `program args` inside namespace a (`b == false`) or b.
    fn cmd(&self, in_b: bool, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            if in_b { &self.b } else { &self.a },
            program,
        ])
        .args(args)
        .current_dir(self.dir.path());
        cmd
    }

    /// Runs a client in namespace a and returns its output.
    /// `netsensor ARGS` in namespace a as `nobody` with only the capabilities `caps`
    /// (inheritable, ambient and bounding sets), without its configuration environment.
    fn netsensor_as_nobody(&self, caps: Caps, args: &[&str]) -> Command {
        let set = match caps {
            Caps::None => "-all",
            Caps::NetRaw => "-all,+net_raw",
        };
        let binary = self.binary.display().to_string();
        let mut setpriv = vec![
            "--reuid=nobody".to_owned(),
            "--regid=nogroup".to_owned(),
            "--clear-groups".to_owned(),
            "--no-new-privs".to_owned(),
            format!("--inh-caps={set}"),
            format!("--ambient-caps={set}"),
            format!("--bounding-set={set}"),
            binary,
        ];
        setpriv.extend(args.iter().map(|a| (*a).to_owned()));
        let setpriv: Vec<&str> = setpriv.iter().map(String::as_str).collect();
        let mut command = self.cmd(false, "setpriv", &setpriv);
        command.env_remove("NETSENSOR_CONFIG");
        command
    }

    fn run_a(&self, program: &str, args: &[&str]) -> Output {
        self.cmd(false, program, args).output().unwrap()
    }

    /// Starts dnsmasq in namespace b: answers `DNS_NAME` with `DNS_ANSWER`, nothing else.
    fn start_dns(&mut self) {
        let dir = self.dir.path().display().to_string();
        let child = self
            .cmd(
                true,
                "dnsmasq",
                &[
                    "--keep-in-foreground",
                    "--conf-file=/dev/null",
                    "--no-resolv",
                    "--no-hosts",
                    &format!("--address=/{DNS_NAME}/{DNS_ANSWER}"),
                    &format!("--listen-address={B4}"),
                    "--bind-interfaces",
                    "--user=root",
                    &format!("--pid-file={dir}/dnsmasq.pid"),
                    &format!("--log-facility={dir}/dnsmasq.log"),
                ],
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(self.path("dnsmasq.stderr")).unwrap())
            .spawn()
            .unwrap();
        // Probe from inside b (over b's loopback, never seen on the veth).
        self.add_daemon("dnsmasq", child, |net| {
            let out = net
                .cmd(
                    true,
                    "dig",
                    &[
                        "+time=1",
                        "+tries=1",
                        "+short",
                        &format!("@{B4}"),
                        DNS_NAME,
                        "A",
                    ],
                )
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim() == DNS_ANSWER
        });
    }

    /// Starts nginx in namespace b with dev/netns/nginx.conf.
    fn start_web(&mut self) {
        let dir = self.dir.path().display().to_string();
        let conf = include_str!("../../dev/netns/nginx.conf")
            .replace("@DIR@", &dir)
            .replace("@ADDR@", B4);
        let conf_path = self.path("nginx.conf");
        fs::write(&conf_path, conf).unwrap();
        let child = self
            .cmd(
                true,
                "nginx",
                &[
                    "-p",
                    &dir,
                    "-e",
                    &format!("{dir}/nginx-error.log"),
                    "-c",
                    &conf_path.display().to_string(),
                ],
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(self.path("nginx.stderr")).unwrap())
            .spawn()
            .unwrap();
        self.add_daemon("nginx", child, |net| {
            let out = net
                .cmd(
                    true,
                    "curl",
                    &["-s", "--max-time", "1", &format!("http://{B4}/")],
                )
                .output()
                .unwrap();
            out.status.success()
        });
    }

    /// Keeps `child` for cleanup once `ready` holds; fails if it exits or never gets ready.
    fn add_daemon(
        &mut self,
        name: &'static str,
        mut child: Child,
        ready: impl Fn(&TestNet) -> bool,
    ) {
        let mut exited = None;
        let ok = wait_until(WAIT, POLL, || {
            exited = child.try_wait().unwrap();
            exited.is_some() || ready(self)
        });
        self.daemons.push((name, child));
        assert!(
            ok && exited.is_none(),
            "{name} did not start in namespace {} (exit: {exited:?}): {}",
            self.b,
            fs::read_to_string(self.path(&format!("{name}.stderr"))).unwrap_or_default()
        );
    }

    /// MAC address of `IF_A` in ECS notation (`AA-BB-CC-DD-EE-FF`).
    fn mac_a(&self) -> String {
        let link = self.link_a();
        link["address"]
            .as_str()
            .unwrap()
            .replace(':', "-")
            .to_uppercase()
    }

    /// How many times `IF_A` has been put in promiscuous mode (the kernel's counter).
    fn promiscuity_a(&self) -> u64 {
        self.link_a()["promiscuity"].as_u64().unwrap()
    }

    fn link_a(&self) -> Value {
        let out = ip(&["-n", &self.a, "-d", "-j", "link", "show", IF_A]);
        let links: Value = serde_json::from_slice(&out.stdout).unwrap();
        links[0].clone()
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        for (_, child) in &mut self.daemons {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Runs `ip args` and fails the test when it fails.
fn ip(args: &[&str]) -> Output {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn require_root_and_tools() {
    assert!(
        common::effective_uid_is_root(),
        "the live-capture tests must run as root: they create network namespaces and a veth \
         pair (CI runs them as root; locally: sudo -E cargo test -p netsensor --test live)"
    );
    let path = std::env::var_os("PATH").unwrap_or_default();
    for (tool, package) in TOOLS {
        let found = std::env::split_paths(&path)
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .any(|dir| dir.join(tool).is_file());
        assert!(
            found,
            "`{tool}` is missing: install the Debian package {package} (dev/install-deps.sh \
             installs everything the tests use)"
        );
    }
}

/// Deletes namespaces left behind by test processes that were killed before their guards ran.
fn remove_stale_namespaces() {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(pid) = name
            .strip_prefix("nstest-")
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

// ---------------------------------------------------------------------------------------
// The sensor
// ---------------------------------------------------------------------------------------

/// Capabilities the sensor process gets.
#[derive(Clone, Copy)]
enum Caps {
    /// None at all.
    None,
    /// CAP_NET_RAW only (inheritable, ambient and bounding sets).
    NetRaw,
}

/// A `netsensor run` in namespace a, as `nobody`; killed on drop if still running.
struct Sensor {
    child: Child,
    dir: PathBuf,
}

impl Sensor {
    /// Starts the sensor capturing on `IF_A`; `capture` adds keys to the capture section.
    fn start(net: &TestNet, run: &str, capture: &[&str], caps: Caps) -> Sensor {
        let dir = net.path(run);
        let out = dir.join("out");
        fs::create_dir_all(&out).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&out, fs::Permissions::from_mode(0o777)).unwrap();
        let mut extra = String::new();
        for line in capture {
            extra.push_str(&format!("    {line}\n"));
        }
        let config = format!(
            "sensor: {{ name: live-test }}\n\
             captures:\n  - interface: {IF_A}\n{extra}\
             outputs:\n  file: {{ path: {} }}\n\
             listeners:\n  metrics: {{ address: \"{METRICS_ADDR}\" }}\n\
             logging: {{ level: info }}\n",
            out.join("records.ndjson").display()
        );
        let config_path = dir.join("netsensor.yaml");
        fs::write(&config_path, config).unwrap();
        fs::set_permissions(&config_path, fs::Permissions::from_mode(0o644)).unwrap();
        let child = net
            .netsensor_as_nobody(
                caps,
                &["run", "--config", &config_path.display().to_string()],
            )
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.join("stdout")).unwrap())
            .stderr(fs::File::create(dir.join("stderr")).unwrap())
            .spawn()
            .unwrap();
        Sensor { child, dir }
    }

    fn stderr(&self) -> String {
        fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }

    /// Waits until the capture is open (`netsensor_capture_up` is 1); fails if the sensor
    /// exits or takes too long.
    fn wait_capturing(&mut self, net: &TestNet) {
        let mut exited = None;
        let up = wait_until(WAIT, POLL, || {
            exited = self.child.try_wait().unwrap();
            exited.is_some()
                || self.scrape(net).is_some_and(|page| {
                    sample(&page, "netsensor_capture_up", &[("capture", IF_A)]) == Some(1.0)
                })
        });
        assert!(
            up && exited.is_none(),
            "the sensor did not start capturing on {IF_A} (exit: {exited:?}); its log:\n{}",
            self.stderr()
        );
    }

    /// The /metrics page, fetched inside namespace a; `None` while it is not served.
    fn scrape(&self, net: &TestNet) -> Option<String> {
        let out = net
            .cmd(
                false,
                "curl",
                &[
                    "-sS",
                    "--max-time",
                    "2",
                    &format!("http://{METRICS_ADDR}/metrics"),
                ],
            )
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The `Uid:` and capability lines of the sensor's /proc status.
    fn proc_status(&self) -> String {
        fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap()
    }

    /// Records written so far (every line must be one JSON object).
    fn records(&self) -> Vec<Value> {
        let path = self.dir.join("out").join("records.ndjson");
        let text = fs::read_to_string(path).unwrap_or_default();
        text.lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("record is not JSON ({e}): {line}"))
            })
            .collect()
    }

    /// Polls the output until `done` holds for the records; fails with `report` otherwise.
    fn wait_records(
        &mut self,
        done: impl Fn(&[Value]) -> bool,
        report: impl Fn(&[Value]) -> String,
    ) -> Vec<Value> {
        let mut records = Vec::new();
        let ok = wait_until(WAIT, POLL, || {
            // Only complete lines: the file may end mid-line while a batch is written.
            records = self.records_complete();
            done(&records)
        });
        assert!(
            ok,
            "the expected records did not appear within {WAIT:?}: {}\nrecords so far:\n{}\n\
             sensor log:\n{}",
            report(&records),
            summarize(&records),
            self.stderr()
        );
        records
    }

    fn records_complete(&self) -> Vec<Value> {
        let path = self.dir.join("out").join("records.ndjson");
        let text = fs::read_to_string(path).unwrap_or_default();
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// Sends SIGTERM and waits for the exit status.
    fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("sh")
            .args(["-c", "kill -TERM \"$1\"", "sh", &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "cannot send SIGTERM to the sensor");
        self.wait_exit("after SIGTERM")
    }

    /// Waits for the sensor to exit by itself.
    fn wait_exit(&mut self, context: &str) -> ExitStatus {
        let mut status = None;
        let exited = wait_until(WAIT, POLL, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!(
                "the sensor did not exit within {WAIT:?} {context}; its log:\n{}",
                self.stderr()
            );
        }
        status.unwrap()
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Records and metrics
// ---------------------------------------------------------------------------------------

fn text<'a>(record: &'a Value, path: &str) -> &'a str {
    get(record, path).and_then(Value::as_str).unwrap_or("")
}

fn num(record: &Value, path: &str) -> Option<i64> {
    get(record, path).and_then(Value::as_i64)
}

fn texts<'a>(record: &'a Value, path: &str) -> BTreeSet<&'a str> {
    get(record, path)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// One line per record, for failure messages.
fn summarize(records: &[Value]) -> String {
    let mut out = String::new();
    for r in records.iter().take(80) {
        out.push_str(&format!(
            "  #{} {} {} {}:{} -> {}:{} icmp={:?}/{:?} flags={:?} {}\n",
            num(r, "netsensor.packet.number").unwrap_or(-1),
            text(r, "network.direction"),
            text(r, "network.transport"),
            text(r, "source.ip"),
            num(r, "source.port").unwrap_or(0),
            text(r, "destination.ip"),
            num(r, "destination.port").unwrap_or(0),
            num(r, "netsensor.icmp.type"),
            num(r, "netsensor.icmp.code"),
            texts(r, "netsensor.tcp.flags"),
            text(r, "network.protocol"),
        ));
    }
    out
}

/// An exchange that must appear at least `count` times.
struct Expect {
    what: &'static str,
    count: usize,
    matches: Box<dyn Fn(&Value) -> bool>,
}

impl Expect {
    fn new(what: &'static str, count: usize, matches: impl Fn(&Value) -> bool + 'static) -> Self {
        Expect {
            what,
            count,
            matches: Box::new(matches),
        }
    }

    fn found(&self, records: &[Value]) -> usize {
        records.iter().filter(|r| (self.matches)(r)).count()
    }
}

fn unmet(expects: &[Expect], records: &[Value]) -> String {
    expects
        .iter()
        .filter(|e| e.found(records) < e.count)
        .map(|e| {
            format!(
                "\n  {} (want {}, found {})",
                e.what,
                e.count,
                e.found(records)
            )
        })
        .collect()
}

/// An ICMP or ICMPv6 echo in either direction, seen from the sensor on `IF_A`.
fn echo(v6: bool, request: bool, mac_a: &str) -> impl Fn(&Value) -> bool + 'static {
    let mac_a = mac_a.to_owned();
    let (transport, a, b) = if v6 {
        ("ipv6-icmp", A6, B6)
    } else {
        ("icmp", A4, B4)
    };
    let icmp_type = match (v6, request) {
        (false, true) => 8,
        (false, false) => 0,
        (true, true) => 128,
        (true, false) => 129,
    };
    move |r| {
        let (src, dst, direction, mac_field) = if request {
            (a, b, "egress", "source.mac")
        } else {
            (b, a, "ingress", "destination.mac")
        };
        text(r, "network.transport") == transport
            && num(r, "netsensor.icmp.type") == Some(icmp_type)
            && num(r, "netsensor.icmp.code") == Some(0)
            && text(r, "source.ip") == src
            && text(r, "destination.ip") == dst
            && text(r, "network.direction") == direction
            && text(r, mac_field) == mac_a
    }
}

/// Every exchange the main test generates, as the sensor must record it.
fn exchanges(mac_a: &str) -> Vec<Expect> {
    let tcp_to_web = |r: &Value, flags: &[&str]| {
        text(r, "network.transport") == "tcp"
            && texts(r, "netsensor.tcp.flags") == flags.iter().copied().collect::<BTreeSet<_>>()
    };
    vec![
        Expect::new(
            "ICMP echo request a -> b, egress",
            3,
            echo(false, true, mac_a),
        ),
        Expect::new(
            "ICMP echo reply b -> a, ingress",
            3,
            echo(false, false, mac_a),
        ),
        Expect::new(
            "ICMPv6 echo request a -> b, egress",
            3,
            echo(true, true, mac_a),
        ),
        Expect::new(
            "ICMPv6 echo reply b -> a, ingress",
            3,
            echo(true, false, mac_a),
        ),
        Expect::new("DNS query for test.netsensor A, egress", 1, |r| {
            text(r, "network.transport") == "udp"
                && text(r, "source.ip") == A4
                && text(r, "destination.ip") == B4
                && num(r, "destination.port") == Some(53)
                && text(r, "network.direction") == "egress"
                && text(r, "dns.type") == "query"
                && text(r, "dns.question.name") == DNS_NAME
                && text(r, "dns.question.type") == "A"
        }),
        Expect::new("DNS answer with the resolved address, ingress", 1, |r| {
            text(r, "source.ip") == B4
                && num(r, "source.port") == Some(53)
                && text(r, "destination.ip") == A4
                && text(r, "network.direction") == "ingress"
                && text(r, "dns.type") == "answer"
                && text(r, "dns.response_code") == "NOERROR"
                && text(r, "dns.question.name") == DNS_NAME
                && texts(r, "dns.resolved_ip").contains(DNS_ANSWER)
        }),
        Expect::new("TCP SYN a -> b:80, egress", 1, move |r| {
            tcp_to_web(r, &["SYN"])
                && text(r, "source.ip") == A4
                && num(r, "destination.port") == Some(80)
                && text(r, "network.direction") == "egress"
        }),
        Expect::new("TCP SYN-ACK b:80 -> a, ingress", 1, move |r| {
            tcp_to_web(r, &["SYN", "ACK"])
                && text(r, "source.ip") == B4
                && num(r, "source.port") == Some(80)
                && text(r, "network.direction") == "ingress"
        }),
        Expect::new("TCP ACK completing the handshake, egress", 1, move |r| {
            tcp_to_web(r, &["ACK"])
                && text(r, "source.ip") == A4
                && num(r, "destination.port") == Some(80)
                && num(r, "netsensor.tcp.payload_length") == Some(0)
        }),
        Expect::new(
            "HTTP GET /hello with Host web.test.netsensor, egress",
            1,
            |r| {
                text(r, "http.request.method") == "GET"
                    && text(r, "url.domain") == WEB_HOST
                    && text(r, "url.original").contains("/hello")
                    && text(r, "source.ip") == A4
                    && num(r, "destination.port") == Some(80)
                    && text(r, "network.direction") == "egress"
            },
        ),
        Expect::new("HTTP 200 response, ingress", 1, |r| {
            num(r, "http.response.status_code") == Some(200)
                && text(r, "source.ip") == B4
                && num(r, "source.port") == Some(80)
                && text(r, "network.direction") == "ingress"
        }),
    ]
}

/// A sample of the Prometheus text page: `name{labels} value`, labels in any order.
fn sample(page: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    page.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, rest) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            if series_name != name {
                return None;
            }
            let have: Vec<(&str, &str)> = rest
                .split(',')
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k, v.trim_matches('"')))
                })
                .collect();
            if have.len() != labels.len() || !labels.iter().all(|l| have.contains(l)) {
                return None;
            }
            value.parse().ok()
        })
}

fn assert_ok(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The `NAME:\tHEX` capability line of a /proc status, as a number.
fn cap_set(status: &str, name: &str) -> u64 {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap();
    u64::from_str_radix(line.trim(), 16).unwrap()
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// Ping (IPv4 and IPv6), DNS and HTTP between the namespaces: every exchange is recorded with
/// the right fields by a sensor running as `nobody` with CAP_NET_RAW only, in promiscuous
/// mode; /metrics carries the libpcap drop counters; SIGTERM flushes and exits 0.
#[test]
fn records_real_traffic_with_only_cap_net_raw() {
    let mut net = TestNet::new();
    net.start_dns();
    net.start_web();
    let mac_a = net.mac_a();
    let mut sensor = Sensor::start(&net, "main", &["promiscuous: true"], Caps::NetRaw);
    sensor.wait_capturing(&net);

    // The privileges it runs with: nobody, CAP_NET_RAW and nothing else.
    let status = sensor.proc_status();
    assert!(
        status.contains("Uid:\t65534\t65534\t65534\t65534"),
        "{status}"
    );
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(cap_set(&status, set), CAP_NET_RAW_BIT, "{set}\n{status}");
    }
    // ... and yet the interface is in promiscuous mode (a packet-socket membership).
    assert!(
        net.promiscuity_a() >= 1,
        "promiscuous mode was not set on {IF_A}"
    );

    let ping4 = net.run_a("ping", &["-c", "3", "-i", "0.2", "-W", "2", B4]);
    assert_ok(&ping4, "ping");
    let ping6 = net.run_a("ping", &["-6", "-c", "3", "-i", "0.2", "-W", "2", B6]);
    assert_ok(&ping6, "ping -6");
    let dig = net.run_a(
        "dig",
        &[
            "+time=2",
            "+tries=1",
            "+short",
            &format!("@{B4}"),
            DNS_NAME,
            "A",
        ],
    );
    assert_eq!(assert_ok(&dig, "dig").trim(), DNS_ANSWER);
    let resolve = format!("{WEB_HOST}:80:{B4}");
    let curl = net.run_a(
        "curl",
        &[
            "-sS",
            "--max-time",
            "5",
            "--resolve",
            &resolve,
            &format!("http://{WEB_HOST}/hello"),
        ],
    );
    assert_eq!(assert_ok(&curl, "curl"), "netsensor test\n");

    let expects = exchanges(&mac_a);
    sensor.wait_records(
        |records| unmet(&expects, records).is_empty(),
        |records| unmet(&expects, records),
    );

    // Metrics while it runs: libpcap's drop counters and the received count.
    let page = sensor.scrape(&net).expect("/metrics is served");
    for reason in ["kernel", "interface"] {
        assert!(
            sample(
                &page,
                "netsensor_packets_dropped_total",
                &[("capture", IF_A), ("reason", reason)]
            )
            .is_some(),
            "no netsensor_packets_dropped_total{{capture=\"{IF_A}\",reason=\"{reason}\"}}:\n{page}"
        );
    }
    let received = sample(
        &page,
        "netsensor_packets_received_total",
        &[("capture", IF_A)],
    )
    .unwrap_or_else(|| panic!("no packets_received series:\n{page}"));
    assert!(received > 0.0, "{page}");
    common::promtool_check_metrics(&page);

    let exit = sensor.terminate();
    assert!(exit.success(), "exit {exit:?}; log:\n{}", sensor.stderr());
    assert_eq!(
        net.promiscuity_a(),
        0,
        "promiscuous mode outlived the sensor"
    );

    // Everything was flushed: every line is a whole record, and no captured frame is missing.
    let records = sensor.records();
    assert!(
        records.len() as f64 >= received,
        "{} records written, {received} frames received before SIGTERM",
        records.len()
    );
    let numbers: Vec<i64> = records
        .iter()
        .map(|r| num(r, "netsensor.packet.number").unwrap())
        .collect();
    let expected: Vec<i64> = (1..=records.len() as i64).collect();
    assert_eq!(
        numbers, expected,
        "packet numbers must count every frame, in order"
    );
    let ids: HashSet<&str> = records.iter().map(|r| text(r, "event.id")).collect();
    assert_eq!(ids.len(), records.len(), "event.id must be unique");
    assert!(!ids.contains(""), "every record has an event.id");
    for r in &records {
        assert_eq!(text(r, "observer.ingress.interface.name"), IF_A);
        assert_eq!(text(r, "observer.name"), "live-test");
        assert_eq!(text(r, "event.dataset"), "netsensor.packet");
    }
    assert_eq!(unmet(&expects, &records), "", "{}", summarize(&records));
}

/// `direction: in` records only what IF_A receives, `direction: out` only what it sends.
#[test]
fn direction_selects_received_or_sent_frames() {
    let net = TestNet::new();
    let mac_a = net.mac_a();
    for run in ["in", "out"] {
        let mut sensor = Sensor::start(
            &net,
            run,
            &[
                &format!("direction: {run}"),
                "promiscuous: false",
                "immediate: true",
            ],
            Caps::NetRaw,
        );
        sensor.wait_capturing(&net);
        assert_eq!(net.promiscuity_a(), 0, "promiscuous: false must not set it");
        assert_ok(
            &net.run_a("ping", &["-c", "3", "-i", "0.2", "-W", "2", B4]),
            "ping",
        );
        let want = Expect::new(
            "echoes of the captured direction",
            3,
            echo(false, run == "out", &mac_a),
        );
        sensor.wait_records(
            |records| want.found(records) >= 3,
            |records| unmet(std::slice::from_ref(&want), records),
        );
        let exit = sensor.terminate();
        assert!(exit.success(), "exit {exit:?}; log:\n{}", sensor.stderr());
        let records = sensor.records();
        let other = echo(false, run != "out", &mac_a);
        let opposite = if run == "in" { "egress" } else { "ingress" };
        for r in &records {
            // Multicast from the peer may be `unknown`; never the opposite direction.
            assert_ne!(
                text(r, "network.direction"),
                opposite,
                "{}",
                summarize(&records)
            );
            let sent_by_a = text(r, "source.mac") == mac_a;
            assert_eq!(sent_by_a, run == "out", "{}", summarize(&records));
            assert!(
                !other(r),
                "opposite direction captured:\n{}",
                summarize(&records)
            );
            if run == "in" {
                assert_ne!(text(r, "source.ip"), A4, "{}", summarize(&records));
            }
        }
    }
}

/// A BPF filter selects packets: with `icmp` only ICMP is recorded, although TCP and
/// ICMPv6 cross the interface too.
#[test]
fn bpf_filter_selects_packets() {
    let net = TestNet::new();
    let mac_a = net.mac_a();
    let mut sensor = Sensor::start(&net, "filter", &["filter: \"icmp\""], Caps::NetRaw);
    sensor.wait_capturing(&net);
    // TCP to a closed port: curl's "connection refused" (exit 7) proves SYN and RST crossed.
    let curl = net.run_a(
        "curl",
        &["-sS", "--max-time", "5", &format!("http://{B4}:9/")],
    );
    assert_eq!(curl.status.code(), Some(7), "{curl:?}");
    assert_ok(
        &net.run_a("ping", &["-6", "-c", "2", "-i", "0.2", B6]),
        "ping -6",
    );
    assert_ok(&net.run_a("ping", &["-c", "2", "-i", "0.2", B4]), "ping");
    let expects = [
        Expect::new("ICMP echo request", 2, echo(false, true, &mac_a)),
        Expect::new("ICMP echo reply", 2, echo(false, false, &mac_a)),
    ];
    // The frames before the pings would be recorded first: once the pings are, all are.
    sensor.wait_records(
        |records| unmet(&expects, records).is_empty(),
        |records| unmet(&expects, records),
    );
    let exit = sensor.terminate();
    assert!(exit.success(), "exit {exit:?}; log:\n{}", sensor.stderr());
    let records = sensor.records();
    assert_eq!(
        records.len(),
        4,
        "only the four echoes:\n{}",
        summarize(&records)
    );
    for r in &records {
        assert_eq!(
            text(r, "network.transport"),
            "icmp",
            "{}",
            summarize(&records)
        );
        assert_eq!(text(r, "network.type"), "ipv4");
    }
}

/// A filter that does not compile stops `netsensor run` with an error quoting the filter.
#[test]
fn broken_filter_fails_with_the_filter_text() {
    let net = TestNet::new();
    let filter = "not a filter (((";
    let mut sensor = Sensor::start(
        &net,
        "broken",
        &[&format!("filter: \"{filter}\"")],
        Caps::NetRaw,
    );
    let exit = sensor.wait_exit("with a broken filter");
    let log = sensor.stderr();
    assert!(!exit.success(), "exit {exit:?}");
    assert!(
        log.contains(filter),
        "the error must quote the filter:\n{log}"
    );
    assert!(
        log.contains(IF_A),
        "the error must name the interface:\n{log}"
    );
}

/// Without capabilities the capture cannot open, and the error says what is missing.
#[test]
fn without_capabilities_the_error_names_cap_net_raw() {
    let net = TestNet::new();
    let mut sensor = Sensor::start(&net, "nocaps", &["promiscuous: false"], Caps::None);
    let exit = sensor.wait_exit("without capabilities");
    let log = sensor.stderr();
    assert!(!exit.success(), "exit {exit:?}");
    assert!(
        log.contains("CAP_NET_RAW"),
        "the error must name CAP_NET_RAW:\n{log}"
    );
    assert!(
        log.contains(IF_A),
        "the error must name the interface:\n{log}"
    );
    assert!(sensor.records().is_empty());
}

/// Real kernel drops: a tiny capture buffer and a ping flood overflow the ring; the drops
/// reach /metrics, and every frame is either received or counted as dropped.
#[test]
fn kernel_drops_reach_metrics() {
    let net = TestNet::new();
    let mut sensor = Sensor::start(
        &net,
        "drops",
        &["promiscuous: false", "buffer_size_bytes: 4096"],
        Caps::NetRaw,
    );
    sensor.wait_capturing(&net);
    let flood = net.run_a("ping", &["-f", "-c", "2000", "-s", "1000", "-q", B4]);
    let summary = assert_ok(&flood, "ping -f");
    // "2000 packets transmitted, 2000 received, ..."
    let counts: Vec<f64> = summary
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap()
        .split(',')
        .take(2)
        .map(|part| part.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    let frames = counts[0] + counts[1];
    let mut last = String::new();
    let accounted = wait_until(WAIT, POLL, || {
        last = sensor.scrape(&net).unwrap_or_default();
        let got = |reason: Option<&str>| match reason {
            None => sample(
                &last,
                "netsensor_packets_received_total",
                &[("capture", IF_A)],
            ),
            Some(r) => sample(
                &last,
                "netsensor_packets_dropped_total",
                &[("capture", IF_A), ("reason", r)],
            ),
        };
        let (received, kernel) = (got(None).unwrap_or(0.0), got(Some("kernel")).unwrap_or(0.0));
        received + kernel >= frames
    });
    assert!(
        accounted,
        "{frames} frames crossed {IF_A}; metrics:\n{last}"
    );
    let kernel = sample(
        &last,
        "netsensor_packets_dropped_total",
        &[("capture", IF_A), ("reason", "kernel")],
    )
    .unwrap();
    assert!(
        kernel > 0.0,
        "a 4 KiB buffer must overflow under a flood:\n{last}"
    );
    assert!(sample(
        &last,
        "netsensor_packets_dropped_total",
        &[("capture", IF_A), ("reason", "interface")]
    )
    .is_some());
    let exit = sensor.terminate();
    assert!(exit.success(), "exit {exit:?}; log:\n{}", sensor.stderr());
}

/// `netsensor dataset --config`: samples from a live capture, with CAP_NET_RAW only. Five
/// HTTP connections (request and response are each one payload segment) give five
/// two-packet samples, anonymized and with valid checksums; the payloads are the request
/// and the response in capture order.
#[test]
fn dataset_from_a_live_capture() {
    common::require_tshark();
    let mut net = TestNet::new();
    net.start_web();
    let dir = net.path("dataset");
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let config = dir.join("netsensor.yaml");
    fs::write(
        &config,
        format!("captures:\n  - interface: {IF_A}\n    filter: tcp port 80\n"),
    )
    .unwrap();
    fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).unwrap();
    let out = dir.join("samples");
    let stderr_path = dir.join("stderr");
    let mut child = net
        .netsensor_as_nobody(
            Caps::NetRaw,
            &[
                "dataset",
                "--config",
                &config.display().to_string(),
                "--out",
                &out.display().to_string(),
                "--packets",
                "2",
            ],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let log = || fs::read_to_string(&stderr_path).unwrap_or_default();
    let capturing = wait_until(WAIT, POLL, || log().contains("capturing on"));
    assert!(capturing, "dataset did not start capturing:\n{}", log());

    let resolve = format!("{WEB_HOST}:80:{B4}");
    const CONNECTIONS: usize = 5;
    for _ in 0..CONNECTIONS {
        let curl = net.run_a(
            "curl",
            &[
                "-sS",
                "--max-time",
                "5",
                "--resolve",
                &resolve,
                &format!("http://{WEB_HOST}/hello"),
            ],
        );
        assert_eq!(assert_ok(&curl, "curl"), "netsensor test\n");
    }
    // Let the last packets reach the export before it is stopped.
    std::thread::sleep(Duration::from_millis(500));
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success());
    let mut status = None;
    let exited = wait_until(WAIT, POLL, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    if !exited {
        let _ = child.kill();
        panic!("dataset did not exit after SIGTERM:\n{}", log());
    }
    assert!(status.unwrap().success(), "dataset failed:\n{}", log());
    let summary = log();
    assert!(
        summary.contains(&format!("{CONNECTIONS} samples written")),
        "{summary}"
    );

    let index = fs::read_to_string(out.join("index.csv")).unwrap();
    let rows: Vec<&str> = index.lines().skip(1).collect();
    assert_eq!(rows.len(), CONNECTIONS, "{index}");
    for row in rows {
        let cols: Vec<&str> = row.split(',').collect();
        assert_eq!(cols[4], "2", "packets: {row}");
        assert_eq!(cols[5], "80", "server port: {row}");
        let sample = out.join(cols[1]);
        let packets = common::tshark_fields(
            &sample,
            &[
                "-o",
                "tcp.check_checksum:TRUE",
                "-o",
                "ip.check_checksum:TRUE",
            ],
            &[
                "ip.src",
                "ip.dst",
                "tcp.srcport",
                "tcp.dstport",
                "ip.checksum.status",
                "tcp.checksum.status",
                "tcp.payload",
            ],
        );
        assert_eq!(packets.len(), 2, "{}", sample.display());
        for (n, fields) in packets.iter().enumerate() {
            let one = |i: usize| fields[i].join(",");
            assert_eq!(
                (one(0), one(1), one(2), one(3)),
                ("0.0.0.0".into(), "0.0.0.0".into(), "0".into(), "0".into()),
                "addresses and ports are zeroed in {}",
                sample.display()
            );
            // tshark: 1 = good, 0 = bad, 2 = unverified.
            assert_eq!((one(4), one(5)), ("1".into(), "1".into()), "checksums good");
            let payload: Vec<u8> = (0..one(6).len() / 2)
                .map(|i| u8::from_str_radix(&one(6)[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            let expected: &[u8] = if n == 0 {
                b"GET /hello "
            } else {
                b"HTTP/1.1 200"
            };
            assert!(
                payload.starts_with(expected),
                "packet {n} of {}: {:?}",
                sample.display(),
                String::from_utf8_lossy(&payload)
            );
        }
    }
}
