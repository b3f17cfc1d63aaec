//! The configurations shipped under `deploy/` load with the bridge's own configuration loader, so
//! a renamed or mistyped key fails here rather than at an operator's first start.
//!
//! Checked: the FR and BE files of the compose setup, the image's baked-in file, and the TOML
//! embedded in the Kubernetes ConfigMap. Every key must be known to `Config::load`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use eidas_bridge::config::{Config, ConfigErrorKind};

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn read(rel: &str) -> String {
    let path = deploy_dir().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Loads `text` with no environment; every key must be known and valid.
fn load(name: &str, text: &str) -> Config {
    let env: BTreeMap<String, String> = BTreeMap::new();
    Config::load(Some(text), &env).unwrap_or_else(|errors| panic!("{name}: {errors}"))
}

/// The block scalar under `bridge.toml: |` in the ConfigMap, de-indented.
fn configmap_toml(yaml: &str) -> String {
    let mut lines = yaml
        .lines()
        .skip_while(|l| l.trim() != "bridge.toml: |")
        .skip(1);
    let first = lines.next().expect("ConfigMap has a bridge.toml block");
    let indent = first.len() - first.trim_start().len();
    std::iter::once(first)
        .chain(
            lines.take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() >= indent),
        )
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn compose_configs_load_with_their_country_and_listeners() {
    for (file, country, origin) in [
        ("fr/bridge.toml", "FR", "bridge-fr.example.eu/journal"),
        ("be/bridge.toml", "BE", "bridge-be.example.eu/journal"),
    ] {
        let c = load(file, &read(file));
        assert_eq!(c.bridge.country, country, "{file}");
        assert_eq!(c.journal_origin(), origin, "{file}");
        assert_eq!(c.server.listen.to_string(), "0.0.0.0:7443", "{file}");
        assert_eq!(
            c.server.data_dir,
            PathBuf::from("/var/lib/eidas-bridge"),
            "{file}"
        );
        assert!(
            !c.tls.is_development(),
            "{file}: real TLS material is configured"
        );
        // Every role is granted to someone, peers included.
        assert_eq!(c.access.grants.len(), 4, "{file}");
    }
}

#[test]
fn container_config_leaves_loopback_and_uses_the_volume() {
    let c = load("container.toml", &read("container.toml"));
    assert_eq!(c.server.listen.to_string(), "0.0.0.0:7443");
    assert_eq!(
        c.metrics.listen.map(|a| a.to_string()).as_deref(),
        Some("0.0.0.0:9464")
    );
    assert_eq!(c.server.data_dir, PathBuf::from("/var/lib/eidas-bridge"));
    assert!(c.tls.is_development());
}

#[test]
fn kubernetes_configmap_toml_loads() {
    let toml = configmap_toml(&read("kubernetes/configmap.yaml"));
    let c = load("kubernetes/configmap.yaml", &toml);
    assert_eq!(c.bridge.country, "FR");
    assert_eq!(
        c.tls.cert,
        Some(PathBuf::from("/etc/eidas-bridge/tls/tls.crt"))
    );
    // Shorter than the pod's terminationGracePeriodSeconds (30 s).
    assert!(c.server.shutdown_grace.as_secs() < 30);
}

#[test]
fn a_mistyped_key_in_a_deploy_file_would_fail() {
    // The filter above tolerates only pending sections: a typo elsewhere is still caught.
    let text = read("fr/bridge.toml").replace("shutdown_grace", "shutdown_grase");
    let env: BTreeMap<String, String> = BTreeMap::new();
    let errors = Config::load(Some(&text), &env).unwrap_err().0;
    assert!(errors
        .iter()
        .any(|e| e.key == "server.shutdown_grase" && e.kind == ConfigErrorKind::UnknownKey));
}
