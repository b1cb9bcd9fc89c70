//! A private `nats-server` for tests: started on a free loopback port, stopped on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running NATS server owned by a test.
pub struct NatsServer {
    child: Child,
    pub url: String,
}

impl NatsServer {
    /// Starts `nats-server` on 127.0.0.1 with a port it picks itself. `None` when the binary
    /// is missing (callers decide whether that skips or fails the test).
    pub fn start() -> Option<NatsServer> {
        let bin = [
            "nats-server",
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
        ]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })?;
        let mut child = Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", "-1"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .ok()?;
        let stderr = child.stderr.take()?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split_once("Listening for client connections on ")
                    && let Some(t) = tx.take()
                {
                    let _ = t.send(rest.1.trim().to_owned());
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .ok();
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        };
        Some(NatsServer {
            child,
            url: format!("nats://{addr}"),
        })
    }

    /// Starts a server, panicking when that is impossible in CI and returning `None` (with a
    /// printed reason) elsewhere.
    pub fn start_or_skip(test: &str) -> Option<NatsServer> {
        match NatsServer::start() {
            Some(s) => Some(s),
            None if std::env::var_os("CI").is_some() => {
                panic!("{test}: nats-server is required in CI")
            }
            None => {
                eprintln!(
                    "skipping {test}: nats-server is not installed (apt-get install nats-server)"
                );
                None
            }
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
