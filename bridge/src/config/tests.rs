//! Tests of configuration loading.

use super::keys::parse_duration;
use super::*;

fn no_env() -> BTreeMap<String, String> {
    BTreeMap::new()
}

#[test]
fn defaults_parse() {
    let c = Config::load(None, &no_env()).unwrap();
    assert_eq!(c.server.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(
        c.metrics.listen.map(|a| a.to_string()).as_deref(),
        Some(DEFAULT_METRICS_LISTEN)
    );
    assert!(c.tls.is_development());
}

#[test]
fn file_and_env_apply_with_env_winning() {
    let file = r#"
        [server]
        listen = "0.0.0.0:8443"
        shutdown_grace = "3s"
        [metrics]
        listen = "off"
        [access]
        auditor = ["subject:CN=audit,O=ANS,C=FR"]
    "#;
    let mut env = no_env();
    env.insert("BRIDGE_SERVER_LISTEN".into(), "127.0.0.1:9000".into());
    env.insert("BRIDGE_LOG".into(), "debug".into());
    let c = Config::load(Some(file), &env).unwrap();
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:9000");
    assert_eq!(c.server.shutdown_grace, Duration::from_secs(3));
    assert_eq!(c.metrics.listen, None);
    assert_eq!(c.access.grants.len(), 1);
    assert_eq!(c.access.grants[0].0, Role::Auditor);
}

#[test]
fn exchange_keys() {
    let file = r#"
        [exchange]
        peers = ["BE=127.0.0.1:7444", "DE=bridge.de.test:443"]
        max_payload = 4096
        deadline = "1h"
    "#;
    let mut env = no_env();
    env.insert("BRIDGE_EXCHANGE_RETRY_INITIAL".into(), "100ms".into());
    let c = Config::load(Some(file), &env).unwrap();
    assert_eq!(
        c.exchange.peers,
        vec![
            ("BE".to_owned(), "127.0.0.1:7444".to_owned()),
            ("DE".to_owned(), "bridge.de.test:443".to_owned())
        ]
    );
    assert_eq!(c.exchange.max_payload, 4096);
    assert_eq!(c.exchange.retry.deadline, Duration::from_secs(3600));
    assert_eq!(c.exchange.retry.initial, Duration::from_millis(100));
    let bad = Config::load(
        Some("[exchange]\npeers = [\"be=x:1\", \"BE=nohost\"]"),
        &no_env(),
    );
    assert_eq!(bad.unwrap_err().0.len(), 1);
}

#[test]
fn per_peer_retry_overrides() {
    let file = r#"
        [exchange]
        peers = ["BE=127.0.0.1:7444", "DE=bridge.de.test:443"]
        retry_initial = "1s"
        deadline = "1h"
        [exchange.peer.BE]
        retry_initial = "200ms"
        deadline = "10m"
    "#;
    let mut env = no_env();
    env.insert(
        "BRIDGE_EXCHANGE_PEER_BE_ATTEMPT_TIMEOUT".into(),
        "3s".into(),
    );
    env.insert("BRIDGE_EXCHANGE_PEER_DE_RETRY_MAX".into(), "5s".into());
    let c = Config::load(Some(file), &env).unwrap();
    let be = c.exchange.retry_for("BE");
    assert_eq!(be.initial, Duration::from_millis(200));
    assert_eq!(be.deadline, Duration::from_secs(600));
    assert_eq!(be.attempt_timeout, Duration::from_secs(3));
    assert_eq!(be.max, c.exchange.retry.max);
    let de = c.exchange.retry_for("DE");
    assert_eq!(de.initial, Duration::from_secs(1));
    assert_eq!(de.deadline, Duration::from_secs(3600));
    assert_eq!(de.max, Duration::from_secs(5));
    // A peer without a table, and a country with no peer, get the exchange-wide policy.
    assert_eq!(c.exchange.retry_for("NL"), c.exchange.retry);
}

#[test]
fn bad_per_peer_keys_are_reported_with_the_others() {
    let file = r#"
        [server]
        listn = "x"
        [exchange]
        peers = ["BE=127.0.0.1:7444"]
        [exchange.peer.BE]
        deadline = "soon"
        retries = "3"
        [exchange.peer.DE]
        deadline = "1h"
        [exchange.peer.be]
        deadline = "1h"
    "#;
    let mut env = no_env();
    env.insert("BRIDGE_EXCHANGE_PEER_NL_DEADLINE".into(), "1h".into());
    env.insert(
        "BRIDGE_EXCHANGE_PEER_BE_RETRY_MAX".into(),
        5.to_string() + "x",
    );
    let errors = Config::load(Some(file), &env).unwrap_err().0;
    let mut got: Vec<(&str, &ConfigErrorKind)> =
        errors.iter().map(|e| (e.key.as_str(), &e.kind)).collect();
    got.sort_by_key(|(k, _)| *k);
    let bad = |value: &str| ConfigErrorKind::BadValue {
        value: value.into(),
        expected: keys::Kind::Duration.expected(),
    };
    assert_eq!(
        got,
        [
            ("BRIDGE_EXCHANGE_PEER_BE_RETRY_MAX", &bad("5x")),
            (
                "BRIDGE_EXCHANGE_PEER_NL_DEADLINE",
                &ConfigErrorKind::UnknownPeer {
                    country: "NL".into()
                }
            ),
            ("exchange.peer.BE.deadline", &bad("soon")),
            ("exchange.peer.BE.retries", &ConfigErrorKind::UnknownKey),
            (
                "exchange.peer.DE.deadline",
                &ConfigErrorKind::UnknownPeer {
                    country: "DE".into()
                }
            ),
            ("exchange.peer.be.deadline", &ConfigErrorKind::UnknownKey),
            ("server.listn", &ConfigErrorKind::UnknownKey),
        ]
    );
    let text = ConfigErrors(errors).to_string();
    assert!(text.contains("`exchange.peer.DE.deadline` names DE, which is not in exchange.peers"));
}

#[test]
fn presentation_policy_keys() {
    let c = Config::load(None, &no_env()).unwrap();
    assert!(!c.exchange.require_presentation);
    assert_eq!(c.presentation_audience(), "eidas-bridge.fr");
    let file = r#"
        [exchange]
        require_presentation = true
        presentation_audience = "x509_san_dns:bridge.example.fr"
    "#;
    let c = Config::load(Some(file), &no_env()).unwrap();
    assert!(c.exchange.require_presentation);
    assert_eq!(c.presentation_audience(), "x509_san_dns:bridge.example.fr");
    let mut env = no_env();
    env.insert("BRIDGE_EXCHANGE_REQUIRE_PRESENTATION".into(), "yes".into());
    let errors = Config::load(Some("[exchange]\nrequire_presentation = \"true\""), &env)
        .unwrap_err()
        .0;
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(matches!(errors[0].kind, ConfigErrorKind::WrongType { .. }));
    assert!(matches!(errors[1].kind, ConfigErrorKind::BadValue { .. }));
}

#[test]
fn every_bad_key_is_reported_at_once() {
    let file = r#"
        [server]
        listn = "127.0.0.1:1"
        shutdown_grace = 5
        [bridge]
        country = "France"
    "#;
    let mut env = no_env();
    env.insert("BRIDGE_SERVER_RPC_TIMEOUT".into(), "soon".into());
    env.insert("BRIDGE_NOPE".into(), "1".into());
    let errors = Config::load(Some(file), &env).unwrap_err().0;
    let keys: Vec<(&str, &ConfigErrorKind)> =
        errors.iter().map(|e| (e.key.as_str(), &e.kind)).collect();
    assert_eq!(errors.len(), 5, "{errors:?}");
    assert!(keys.contains(&("server.listn", &ConfigErrorKind::UnknownKey)));
    assert!(matches!(
        errors
            .iter()
            .find(|e| e.key == "server.shutdown_grace")
            .unwrap()
            .kind,
        ConfigErrorKind::WrongType { .. }
    ));
    assert!(matches!(
        errors
            .iter()
            .find(|e| e.key == "bridge.country")
            .unwrap()
            .kind,
        ConfigErrorKind::BadValue { .. }
    ));
    assert!(keys.contains(&("BRIDGE_NOPE", &ConfigErrorKind::UnknownKey)));
    assert!(errors
        .iter()
        .any(|e| e.key == "BRIDGE_SERVER_RPC_TIMEOUT" && e.origin == Origin::Env));
}

#[test]
fn trust_keys_parse_and_bad_ones_are_all_reported() {
    let file = r#"
        [trust]
        lotl = "file:/srv/lotl.xml"
        anchors = ["/etc/eidas-bridge/oj.pem"]
        tl_dir = "/srv/tl"
        refresh_interval = "2h"
        max_list_bytes = 1000
        refresh = "off"
    "#;
    let c = Config::load(Some(file), &no_env()).unwrap();
    assert_eq!(c.trust.lotl, "file:/srv/lotl.xml");
    assert_eq!(c.trust.tl_dir, Some(PathBuf::from("/srv/tl")));
    assert_eq!(c.trust.refresh_interval, Duration::from_secs(7200));
    assert_eq!(c.trust.max_list_bytes, 1000);
    assert!(!c.trust.refresh);
    assert_eq!(c.trust.oj_uri, crate::trust::OJ_2019_URI);

    let mut env = no_env();
    env.insert("BRIDGE_TRUST_REFRESH".into(), "on".into());
    env.insert("BRIDGE_TRUST_ANCHORS".into(), "/a.pem, /b.pem".into());
    env.insert("BRIDGE_TRUST_MAX_LIST_BYTES".into(), "4096".into());
    let c = Config::load(Some(file), &env).unwrap();
    assert!(c.trust.refresh);
    assert_eq!(c.trust.anchors.len(), 2);
    assert_eq!(c.trust.max_list_bytes, 4096);

    let bad = r#"
        [trust]
        lotl = "http://ec.europa.eu/tools/lotl/eu-lotl.xml"
        max_list_bytes = -1
        refresh = "maybe"
        fetch_timeout = "soon"
    "#;
    let errors = Config::load(Some(bad), &no_env()).unwrap_err().0;
    let mut keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "trust.fetch_timeout",
            "trust.lotl",
            "trust.max_list_bytes",
            "trust.refresh"
        ]
    );
    assert!(errors
        .iter()
        .all(|e| matches!(e.kind, ConfigErrorKind::BadValue { .. })));
}

#[test]
fn syntax_error_is_reported() {
    let errors = Config::load(Some("[server\nlisten="), &no_env())
        .unwrap_err()
        .0;
    assert!(matches!(errors[0].kind, ConfigErrorKind::Syntax { .. }));
}

#[test]
fn the_deploy_example_is_valid() {
    let text = include_str!("../../../deploy/bridge.example.toml");
    let config = Config::load(Some(text), &no_env()).unwrap();
    assert_eq!(config.journal_origin(), "eidas-bridge.fr/journal");
    assert_eq!(config.addressing.mssante_gateway, "xb-gw.mssante.fr");
}

#[test]
fn durations() {
    assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
    assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
    assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
    assert_eq!(parse_duration("7w"), None);
    assert_eq!(parse_duration("s"), None);
}

#[test]
fn every_key_has_a_distinct_env_name() {
    let mut names: Vec<String> = KEYS.iter().map(|(k, _)| env_name(k)).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), KEYS.len());
}

#[test]
fn limits_keys_parse_with_role_overrides() {
    let c = Config::load(None, &no_env()).unwrap();
    assert_eq!(c.limits, crate::grpc::LimitsConfig::default());
    assert_eq!(c.server.stream_idle_timeout, DEFAULT_STREAM_IDLE_TIMEOUT);

    let file = r#"
        [server]
        stream_idle_timeout = "2m"
        [limits]
        max_concurrent_per_caller = 8
        rate_per_caller = "50"
        burst_per_caller = 100
        [limits.peer]
        rate = 500
        [limits.auditor]
        max_concurrent = 2
    "#;
    let mut env = no_env();
    env.insert("BRIDGE_LIMITS_ADMIN_BURST".into(), "7".into());
    env.insert("BRIDGE_LIMITS_PEER_RATE".into(), "600".into());
    let c = Config::load(Some(file), &env).unwrap();
    assert_eq!(c.server.stream_idle_timeout, Duration::from_secs(120));
    assert_eq!(
        c.limits.default,
        crate::grpc::CallerLimits {
            max_concurrent: 8,
            rate: 50,
            burst: 100
        }
    );
    let peer = c.limits.for_roles(&[Role::Peer]);
    assert_eq!((peer.max_concurrent, peer.rate, peer.burst), (8, 600, 100));
    let auditor = c.limits.for_roles(&[Role::Auditor]);
    assert_eq!(auditor.max_concurrent, 2);
    assert_eq!(c.limits.for_roles(&[Role::Admin]).burst, 7);
    assert_eq!(c.limits.for_roles(&[Role::Operator]), c.limits.default);
}

#[test]
fn limits_out_of_bounds_are_all_reported() {
    let bad = r#"
        [limits]
        max_concurrent_per_caller = 0
        rate_per_caller = 1000001
        burst_per_caller = -3
        [limits.operator]
        max_concurrent = 65537
        rate = "fast"
        burst = 1.5
    "#;
    let errors = Config::load(Some(bad), &no_env()).unwrap_err().0;
    let mut keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "limits.burst_per_caller",
            "limits.max_concurrent_per_caller",
            "limits.operator.burst",
            "limits.operator.max_concurrent",
            "limits.operator.rate",
            "limits.rate_per_caller",
        ]
    );
    for e in &errors {
        let expected_bad_value = e.key != "limits.operator.burst";
        assert_eq!(
            matches!(e.kind, ConfigErrorKind::BadValue { .. }),
            expected_bad_value,
            "{e}"
        );
    }
    // The bounds themselves are accepted.
    let edge = "[limits]\nmax_concurrent_per_caller = 65536\nrate_per_caller = 1000000\nburst_per_caller = 1";
    let c = Config::load(Some(edge), &no_env()).unwrap();
    assert_eq!(
        c.limits.default.max_concurrent,
        crate::grpc::MAX_CONCURRENT_LIMIT
    );
    assert_eq!(c.limits.default.rate, crate::grpc::MAX_RATE_LIMIT);
    // An unknown role is an unknown key.
    let errors = Config::load(Some("[limits.robot]\nrate = 5"), &no_env())
        .unwrap_err()
        .0;
    assert_eq!(errors[0].kind, ConfigErrorKind::UnknownKey);
}

#[test]
fn retention_defaults_to_30_days_and_parses() {
    let c = Config::load(None, &no_env()).unwrap();
    assert_eq!(c.exchange.retention, Duration::from_secs(30 * 86_400));
    let c = Config::load(Some("[exchange]\nretention = \"2d\""), &no_env()).unwrap();
    assert_eq!(c.exchange.retention, Duration::from_secs(2 * 86_400));
    let mut env = no_env();
    env.insert("BRIDGE_EXCHANGE_RETENTION".into(), "90m".into());
    env.insert("BRIDGE_EXCHANGE_DEADLINE".into(), "1h".into());
    let c = Config::load(None, &env).unwrap();
    assert_eq!(c.exchange.retention, Duration::from_secs(5400));
}

#[test]
fn retention_must_outlast_every_deadline_plus_retry_max() {
    // Exchange-wide: 1h + 1m is not below 1h, nor below 61m exactly.
    for retention in ["1h", "61m"] {
        let file = format!(
            "[exchange]\nretention = \"{retention}\"\ndeadline = \"1h\"\nretry_max = \"1m\""
        );
        let errors = Config::load(Some(&file), &no_env()).unwrap_err().0;
        assert_eq!(
            errors,
            [ConfigError {
                key: "exchange.retention".into(),
                origin: Origin::File,
                kind: ConfigErrorKind::RetentionTooShort {
                    retention: keys::parse_duration(retention).unwrap(),
                    peer: None,
                    deadline: Duration::from_secs(3600),
                    retry_max: Duration::from_secs(60),
                },
            }]
        );
    }
    assert!(Config::load(
        Some("[exchange]\nretention = \"62m\"\ndeadline = \"1h\"\nretry_max = \"1m\""),
        &no_env()
    )
    .is_ok());

    // A peer's own deadline counts too; a peer on the exchange-wide policy is not repeated.
    let file = r#"
        [exchange]
        peers = ["BE=127.0.0.1:7444", "DE=bridge.de.test:443"]
        retention = "2d"
        [exchange.peer.DE]
        deadline = "3d"
    "#;
    let errors = Config::load(Some(file), &no_env()).unwrap_err().0;
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].kind,
        ConfigErrorKind::RetentionTooShort {
            retention: Duration::from_secs(2 * 86_400),
            peer: Some("DE".into()),
            deadline: Duration::from_secs(3 * 86_400),
            retry_max: crate::exchange::DEFAULT_RETRY_MAX,
        }
    );
    assert_eq!(
        errors[0].to_string(),
        "config file: `exchange.retention` = 2d must be longer than `exchange.peer.DE.deadline` = 3d \
         plus `exchange.peer.DE.retry_max` = 1m, or a late retry of a message whose record was \
         purged is delivered twice"
    );

    // Set from the environment: the error names the variable.
    let mut env = no_env();
    env.insert("BRIDGE_EXCHANGE_RETENTION".into(), "10m".into());
    let errors = Config::load(None, &env).unwrap_err().0;
    assert_eq!(errors[0].key, "BRIDGE_EXCHANGE_RETENTION");
    assert_eq!(errors[0].origin, Origin::Env);
    assert!(matches!(
        errors[0].kind,
        ConfigErrorKind::RetentionTooShort { peer: None, .. }
    ));

    // A bad exchange key is reported alone, not compared as a default.
    let errors = Config::load(
        Some("[exchange]\nretention = \"1m\"\ndeadline = \"soon\""),
        &no_env(),
    )
    .unwrap_err()
    .0;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].key, "exchange.deadline");
}

#[test]
fn heap_release_interval_defaults_and_turns_off() {
    let c = Config::load(None, &no_env()).unwrap();
    assert_eq!(
        c.server.heap_release_interval,
        crate::memory::DEFAULT_HEAP_RELEASE_INTERVAL
    );
    let c = Config::load(
        Some("[server]\nheap_release_interval = \"0s\"\n"),
        &no_env(),
    )
    .unwrap();
    assert_eq!(c.server.heap_release_interval, Duration::ZERO);
    let mut env = no_env();
    env.insert("BRIDGE_SERVER_HEAP_RELEASE_INTERVAL".into(), "1m".into());
    let c = Config::load(None, &env).unwrap();
    assert_eq!(c.server.heap_release_interval, Duration::from_secs(60));
    let bad = Config::load(
        Some("[server]\nheap_release_interval = \"soon\"\n"),
        &no_env(),
    );
    assert!(bad.is_err());
}
