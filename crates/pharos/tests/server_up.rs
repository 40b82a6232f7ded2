//! `pharos up` runs the server with an embedded configuration that scrapes the embedded node
//! exporter and itself.

mod server_harness;

use std::net::SocketAddr;
use std::time::Duration;

use server_harness::{free_port, get, pharos_bin, wait_until, Proc};

#[test]
fn up_brings_both_targets_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let node: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut up = Proc::start(
        &pharos_bin(),
        &[
            "up".into(),
            format!("--node-exporter.listen-address={node}"),
            format!("--server.listen-address={server}"),
            format!(
                "--server.storage.tsdb.path={}",
                dir.path().join("data").display()
            ),
        ],
        &dir.path().join("up.log"),
    );
    // The embedded config scrapes every 15s, so the first scrape may take that long.
    let both_up = wait_until(Duration::from_secs(40), || {
        get(server, "/api/v1/targets").is_some_and(|r| {
            let j = r.json();
            j["data"]["activeTargets"]
                .as_array()
                .is_some_and(|t| t.len() == 2 && t.iter().all(|x| x["health"] == "up"))
        })
    });
    let log = std::fs::read_to_string(dir.path().join("up.log")).unwrap_or_default();
    assert!(both_up, "targets not both up within 40s; log:\n{log}");
    let status = up.terminate();
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}
