//! `eidas-bridge demo` end to end as a user runs it, then an auditor's offline check of both
//! journals it wrote: export, verify, and re-run every recorded trust decision against the
//! archived snapshot (`journal verify --recheck`).

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_eidas-bridge");

#[test]
fn demo_journals_verify_and_recheck_without_divergence() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = Command::new(BIN)
        .args(["--json", "demo", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "BE operator receives it in its own space",
        "FR operator receives it in its own space",
    ] {
        assert!(stdout.contains(step), "{step} in {stdout}");
    }
    for cc in ["fr", "be"] {
        let export = dir.path().join(format!("{cc}.export"));
        let bridge_data = data.join(cc);
        let status = Command::new(BIN)
            .args(["journal", "export", "--data"])
            .arg(&bridge_data)
            .arg("--out")
            .arg(&export)
            .status()
            .unwrap();
        assert!(status.success(), "{cc} export");
        let out = Command::new(BIN)
            .args(["--json", "journal", "verify"])
            .arg(&export)
            .arg("--recheck")
            .arg("--data")
            .arg(&bridge_data)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{cc}: {report}");
        // Each side journaled at least one trust decision with evidence (a seal it received and a
        // receipt seal it verified), and all of them agree with the archived snapshot.
        assert!(report.contains("\"divergences\":0"), "{cc}: {report}");
        assert!(
            report.contains("\"agreed\":2,\"clean\":true"),
            "{cc}: {report}"
        );
    }
}
