//! `pharos up` starts the node exporter and stops cleanly on SIGTERM.

mod node_exporter_harness;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use node_exporter_harness::{free_port, get, pharos_bin, start};

#[test]
fn up_serves_and_stops_on_sigterm() {
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut up = start(
        pharos_bin(),
        &[
            "up".to_string(),
            format!("--node-exporter.listen-address={addr}"),
            // The server part of `up` has its own test (server_up.rs); leaving it out here
            // keeps this test off :9090 and out of the working directory.
            "--no-server".to_string(),
        ],
        addr,
    );
    let r = get(addr, "/metrics", &[]).expect("scrape through pharos up");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("node_exporter_build_info"));

    let pid = libc::pid_t::try_from(up.pid()).expect("pid fits");
    // SAFETY: sending a signal to a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = up.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "pharos up did not stop within 10s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "clean stop exits 0");
}
