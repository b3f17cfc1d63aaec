//! The binary as an operator meets it: `serve` with no arguments in an empty directory, checked by an
//! independent client (Python grpcio), then stopped by SIGTERM; and a bad configuration file.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_eidas-bridge");

#[test]
fn serve_with_no_arguments_answers_an_independent_client() {
    let dir = tempfile::tempdir().unwrap();
    // Ports are the only thing overridden: the default ones may be taken on a shared machine.
    let mut child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env("BRIDGE_SERVER_LISTEN", "127.0.0.1:0")
        .env("BRIDGE_METRICS_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut address = None;
    let mut printed = String::new();
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if let Some(addr) = line.strip_prefix("grpc (mutual TLS) listening on ") {
            address = Some(addr.trim().to_owned());
            break;
        }
    }
    let address = address.unwrap_or_else(|| panic!("no listening line in:\n{printed}"));
    // Keep draining stdout so the gateway never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let pki = dir.path().join("data/pki");
    for file in [
        "ca.pem",
        "operator.pem",
        "operator.key",
        "auditor.pem",
        "admin.key",
        "peer.pem",
    ] {
        assert!(pki.join(file).exists(), "{file} generated");
        assert!(
            printed.contains(&format!("data/pki/{file}")),
            "{file} path printed:\n{printed}"
        );
    }
    assert!(
        dir.path().join("data/store").is_dir(),
        "sled opened under ./data"
    );

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/health_reflection.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&address)
        .arg(pki.join("ca.pem"))
        .arg(pki.join("auditor.pem"))
        .arg(pki.join("auditor.key"))
        .output()
        .expect("python3 is needed for the independent client (make test installs grpcio)");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python client failed: {report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains(r#""health": "SERVING""#), "{report}");
    assert!(
        report.contains("eidas.bridge.v1.ExchangeService"),
        "{report}"
    );

    // SIGTERM drains and exits 0.
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "graceful exit, got {status}");
            break;
        }
        assert!(Instant::now() < deadline, "did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn three_bad_keys_are_all_reported_and_exit_64() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        r#"
[server]
listen = "not an address"
shutdown_grace = 12
[metrics]
lissen = "127.0.0.1:9464"
"#,
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("3 configuration error(s)"), "{stderr}");
    for key in ["server.listen", "server.shutdown_grace", "metrics.lissen"] {
        assert!(stderr.contains(key), "{key} reported in: {stderr}");
    }
    assert!(!dir.path().join("data").exists(), "nothing started");
}

#[test]
fn a_retention_shorter_than_deadline_plus_retry_max_exits_64_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("short.toml");
    std::fs::write(
        &config,
        "[exchange]\nretention = \"1d\"\ndeadline = \"1d\"\nretry_max = \"1m\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "`exchange.retention` = 1d must be longer than `exchange.deadline` = 1d plus \
             `exchange.retry_max` = 1m"
        ),
        "{stderr}"
    );
    assert!(!dir.path().join("data").exists(), "nothing started");
}
