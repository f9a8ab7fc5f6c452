//! The `remit` binary end to end: a real relay (`remit relay`, a child process) on loopback,
//! profiles in temporary directories, every command run as a process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use remit_relay::internal::testkit::RelayChild;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_remit");

/// A relay child process (`remit relay`) with its address and fingerprint as the CLI takes them.
struct RelayProcess {
    child: RelayChild,
    addr: String,
    fingerprint: String,
}

fn start_relay(data: &Path, listen: &str) -> RelayProcess {
    let child = RelayChild::spawn(
        Command::new(BIN)
            .args(["relay", "--listen", listen, "--data-dir"])
            .arg(data)
            .stderr(Stdio::null()),
    );
    RelayProcess {
        addr: child.addr().to_string(),
        fingerprint: hex::encode(child.fingerprint()),
        child,
    }
}

struct World {
    _dir: tempfile::TempDir,
    home: PathBuf,
    relay_dir: PathBuf,
    relay: RelayProcess,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let relay_dir = dir.path().join("relay");
        let relay = start_relay(&relay_dir, "127.0.0.1:0");
        Self {
            _dir: dir,
            home,
            relay_dir,
            relay,
        }
    }

    fn cmd(&self, profile: &str, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.env("REMIT_HOME", &self.home)
            .env("REMIT_CONNECT_TIMEOUT_MS", "10000")
            .env_remove("REMIT_PROFILE")
            .env_remove("REMIT_CLOCK_OFFSET")
            .env_remove("REMIT_TEST_EXIT_BEFORE_ACK")
            .args(["--profile", profile])
            .args(args);
        c
    }

    fn run(&self, profile: &str, args: &[&str]) -> Output {
        self.cmd(profile, args).output().unwrap()
    }

    /// Runs with `--json`, expects success, returns the object.
    fn json(&self, profile: &str, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.run(profile, &all);
        assert!(
            out.status.success(),
            "remit {args:?} as {profile} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&out.stdout));
        })
    }

    fn init(&self, name: &str) -> String {
        let v = self.json(
            name,
            &[
                "init",
                "--relay",
                &self.relay.addr,
                "--fingerprint",
                &self.relay.fingerprint,
            ],
        );
        v["address"].as_str().unwrap().to_owned()
    }

    /// Alice and Bob, each with the other as a contact.
    fn pair(&self) {
        let a = self.init("alice");
        let b = self.init("bob");
        self.json("alice", &["contact", "add", "bob", &b]);
        self.json("bob", &["contact", "add", "alice", &a]);
    }
}

fn threads(v: &Value) -> Vec<Value> {
    v["threads"].as_array().cloned().unwrap_or_default()
}

fn received(v: &Value) -> Vec<Value> {
    v["received"].as_array().cloned().unwrap_or_default()
}

fn kinds(v: &Value) -> Vec<String> {
    received(v)
        .iter()
        .filter_map(|e| e["kind"].as_str().map(str::to_owned))
        .collect()
}

/// A failure: non-zero exit, exactly one line on stderr that names `needle`, no panic.
fn assert_one_line_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr:?}");
    assert!(stderr.starts_with("remit: "), "{stderr:?}");
    assert!(stderr.contains(needle), "{stderr:?} should name {needle:?}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
}

#[test]
fn demo_exits_zero() {
    let out = Command::new(BIN).arg("demo").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("demo complete: every step verified"));
    assert!(stdout.contains("safety number"));
    let json = Command::new(BIN).args(["demo", "--json"]).output().unwrap();
    assert!(json.status.success());
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(threads(&v).len(), 4);
}

#[test]
fn full_flow_between_two_profiles() {
    let w = World::new();
    w.pair();
    let r = w.json(
        "alice",
        &["request", "bob", "12.50", "USD", "--memo", "lunch"],
    );
    let id = r["request_id"].as_str().unwrap().to_owned();
    assert_eq!(r["state"], "issued");

    let inbox = w.json("bob", &["inbox"]);
    assert_eq!(kinds(&inbox), ["payment request"]);
    assert_eq!(received(&inbox)[0]["from"], "alice");
    assert_eq!(threads(&inbox)[0]["state"], "issued");
    assert_eq!(threads(&inbox)[0]["amount"], "12.50 USD");

    let paid = w.json("bob", &["pay", &id[..8], "--ref", "tx-1001"]);
    assert_eq!(paid["state"], "payment-pending");
    let inbox = w.json("alice", &["inbox"]);
    assert_eq!(kinds(&inbox), ["payment notice"]);
    let receipt = w.json("alice", &["receipt", &id[..8]]);
    assert_eq!(receipt["state"], "paid");
    let inbox = w.json("bob", &["inbox"]);
    assert_eq!(kinds(&inbox), ["receipt"]);

    // An invoice from flags and one from a file, a decline and a cancel.
    let inv = w.json(
        "alice",
        &[
            "invoice",
            "bob",
            "--item",
            "Coffee beans|2|12.50 USD",
            "--tax",
            "VAT|2.03 USD",
        ],
    );
    let file = w.home.join("invoice.toml");
    std::fs::write(
        &file,
        "number = \"INV-9\"\n[[items]]\ndescription = \"Cups\"\nquantity = \"3\"\nunit_price = \"4.00 EUR\"\n",
    )
    .unwrap();
    let inv2 = w.json(
        "alice",
        &["invoice", "bob", "--file", file.to_str().unwrap()],
    );
    let inbox = w.json("bob", &["inbox"]);
    assert_eq!(kinds(&inbox), ["payment request", "payment request"]);
    let amounts: Vec<_> = threads(&inbox)
        .iter()
        .map(|t| t["amount"].as_str().unwrap().to_owned())
        .collect();
    assert!(amounts.contains(&"27.03 USD".to_owned()), "{amounts:?}");
    assert!(amounts.contains(&"12.00 EUR".to_owned()), "{amounts:?}");
    let d = w.json(
        "bob",
        &[
            "decline",
            inv["request_id"].as_str().unwrap(),
            "--reason",
            "wrong-amount",
        ],
    );
    assert_eq!(d["state"], "declined");
    let c = w.json("alice", &["cancel", inv2["request_id"].as_str().unwrap()]);
    assert_eq!(c["state"], "cancelled");
    // Every command first fetches what arrived: the decline came with the cancel command.
    assert_eq!(kinds(&c), ["decline"]);
    assert!(received(&w.json("alice", &["inbox"])).is_empty());
    let inbox = w.json("bob", &["inbox"]);
    assert_eq!(kinds(&inbox), ["cancel"]);

    // Safety numbers agree, and verify marks the contact.
    let a = w.json("alice", &["verify", "bob"]);
    let b = w.json("bob", &["verify", "alice"]);
    assert_eq!(a["safety_number"], b["safety_number"]);
    let id_a = w.json("alice", &["id"]);
    assert_eq!(id_a["contacts"][0]["verified"], true);
}

#[test]
fn recipient_offline_for_the_whole_exchange() {
    let w = World::new();
    w.pair();
    // Bob never runs a command while Alice sends all of this.
    let r1 = w.json("alice", &["request", "bob", "10 USD"]);
    w.json("alice", &["text", "bob", "are you there?"]);
    let r2 = w.json("alice", &["request", "bob", "20 USD"]);
    w.json("alice", &["cancel", r2["request_id"].as_str().unwrap()]);
    let inbox = w.json("bob", &["inbox"]);
    assert_eq!(
        kinds(&inbox),
        ["payment request", "payment request", "cancel"]
    );
    let states: Vec<_> = threads(&inbox)
        .iter()
        .map(|t| {
            (
                t["request_id"].as_str().unwrap().to_owned(),
                t["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(states.contains(&(r1["request_id"].as_str().unwrap().into(), "issued".into())));
    assert!(states.contains(&(
        r2["request_id"].as_str().unwrap().into(),
        "cancelled".into()
    )));
    // Then Alice is offline while Bob pays; she finds it later.
    w.json(
        "bob",
        &["pay", r1["request_id"].as_str().unwrap(), "--ref", "t-1"],
    );
    let inbox = w.json("alice", &["inbox"]);
    assert_eq!(kinds(&inbox), ["payment notice"]);
    // Nothing is delivered twice.
    assert!(received(&w.json("alice", &["inbox"])).is_empty());
    assert!(received(&w.json("bob", &["inbox"])).is_empty());
}

#[test]
fn killed_between_commit_and_ack_applies_once() {
    let w = World::new();
    w.pair();
    let r = w.json("alice", &["request", "bob", "7.00 USD"]);
    let id = r["request_id"].as_str().unwrap().to_owned();
    // Bob's process exits right after committing the request, before acking it.
    let killed = w
        .cmd("bob", &["inbox", "--json"])
        .env("REMIT_TEST_EXIT_BEFORE_ACK", "1")
        .output()
        .unwrap();
    assert_eq!(killed.status.code(), Some(86), "the hook ran");
    // Restarted: the relay delivers it again, the engine knows it, nothing is reported twice.
    let inbox = w.json("bob", &["inbox"]);
    assert!(received(&inbox).is_empty(), "{inbox}");
    assert_eq!(threads(&inbox).len(), 1);
    assert_eq!(threads(&inbox)[0]["state"], "issued");
    // The relay has nothing more for Bob, and the thread works normally.
    assert!(received(&w.json("bob", &["inbox"])).is_empty());
    w.json("bob", &["pay", &id, "--ref", "tx-7"]);
    // Alice too is killed before acking the notice: the payment is recorded once.
    let killed = w
        .cmd("alice", &["inbox"])
        .env("REMIT_TEST_EXIT_BEFORE_ACK", "1")
        .output()
        .unwrap();
    assert_eq!(killed.status.code(), Some(86));
    let inbox = w.json("alice", &["inbox"]);
    assert!(received(&inbox).is_empty());
    assert_eq!(threads(&inbox)[0]["state"], "payment-pending");
    let receipt = w.json("alice", &["receipt", &id]);
    assert_eq!(receipt["state"], "paid");
}

#[test]
fn relay_restart_mid_flow_resumes() {
    let mut w = World::new();
    w.pair();
    let r = w.json("alice", &["request", "bob", "3.00 USD"]);
    let id = r["request_id"].as_str().unwrap().to_owned();
    // The relay dies with the request in Bob's mailbox, and comes back on the same address.
    let addr = w.relay.addr.clone();
    w.relay.child.kill();
    let down = w.run("bob", &["inbox"]);
    assert_one_line_error(&down, "not reachable");
    w.relay = start_relay(&w.relay_dir, &addr);
    let inbox = w.json("bob", &["inbox"]);
    assert_eq!(kinds(&inbox), ["payment request"]);
    w.json("bob", &["pay", &id, "--ref", "tx-3"]);
    assert_eq!(kinds(&w.json("alice", &["inbox"])), ["payment notice"]);
    assert_eq!(w.json("alice", &["receipt", &id])["state"], "paid");
}

#[test]
fn bad_input_is_one_line_and_non_zero() {
    let w = World::new();
    w.pair();
    assert_one_line_error(
        &w.run("alice", &["request", "bob", "12.5.0", "USD"]),
        "12.5.0",
    );
    assert_one_line_error(&w.run("alice", &["request", "bob", "12.50 XYZ"]), "XYZ");
    assert_one_line_error(&w.run("alice", &["request", "carol", "1 USD"]), "carol");
    assert_one_line_error(&w.run("nobody", &["inbox"]), "nobody");

    // An expired request: received in time, paid two hours after its one-hour expiry.
    let r = w.json("alice", &["request", "bob", "5 USD", "--expires-in", "1h"]);
    w.json("bob", &["inbox"]);
    let late = w
        .cmd(
            "bob",
            &["pay", r["request_id"].as_str().unwrap(), "--ref", "x"],
        )
        .env("REMIT_CLOCK_OFFSET", "7200")
        .output()
        .unwrap();
    assert_one_line_error(&late, "expired");

    // A wrong fingerprint, and a relay that is not running.
    let wrong = "00".repeat(32);
    assert_one_line_error(
        &w.run(
            "carol",
            &["init", "--relay", &w.relay.addr, "--fingerprint", &wrong],
        ),
        "fingerprint",
    );
    assert!(!w.home.join("profiles/carol").exists());
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().to_string();
    drop(closed);
    assert_one_line_error(
        &w.run(
            "dave",
            &[
                "init",
                "--relay",
                &port,
                "--fingerprint",
                &w.relay.fingerprint,
            ],
        ),
        "not reachable",
    );
}
