//! The bridge's HTTPS list source against a local TLS server (development PKI, 127.0.0.1):
//! a download succeeds; a redirect to plain http, an oversized body (declared or not), an
//! HTTP error and a server that never answers are each refused without hanging.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use eidas_bridge::devpki::DevPki;
use eidas_bridge::trust::{BridgeSource, FetchLimits, LotlLocation};
use openssl::pkey::PKey;
use openssl::ssl::{SslAcceptor, SslMethod};
use openssl::x509::X509;
use trust_lists::{ListRequest, ListSource, SourceErrorKind};

const LIMIT: u64 = 100;

fn serve(pki: &DevPki) -> u16 {
    let key = PKey::private_key_from_pem(&std::fs::read(pki.server_key()).unwrap()).unwrap();
    let chain = X509::stack_from_pem(&std::fs::read(pki.server_cert()).unwrap()).unwrap();
    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    acceptor.set_private_key(&key).unwrap();
    acceptor.set_certificate(&chain[0]).unwrap();
    for c in &chain[1..] {
        acceptor.add_extra_chain_cert(c.clone()).unwrap();
    }
    let acceptor = acceptor.build();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let acceptor = acceptor.clone();
            std::thread::spawn(move || {
                let Ok(mut tls) = acceptor.accept(stream) else {
                    return;
                };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && tls.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let response: Vec<u8> = match path.as_str() {
                    "/list.xml" => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello".to_vec(),
                    "/moved" => format!(
                        "HTTP/1.1 302 Found\r\nLocation: https://localhost:{port}/list.xml\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    .into_bytes(),
                    "/downgrade" => b"HTTP/1.1 302 Found\r\nLocation: http://localhost/list.xml\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                    "/declared-big" => b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n".to_vec(),
                    "/undeclared-big" => {
                        let mut r = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
                        r.extend(vec![b'x'; 1000]);
                        r
                    }
                    "/silent" => {
                        std::thread::sleep(Duration::from_secs(10));
                        Vec::new()
                    }
                    _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                };
                let _ = tls.write_all(&response);
                let _ = tls.shutdown();
            });
        }
    });
    port
}

fn fetch(source: &BridgeSource, url: &str) -> Result<Vec<u8>, SourceErrorKind> {
    source.fetch(&ListRequest {
        location: url,
        territory: "FR",
        lotl: false,
        sequence: None,
    })
}

fn unavailable(r: Result<Vec<u8>, SourceErrorKind>) -> String {
    match r {
        Err(SourceErrorKind::Unavailable { reason }) => reason,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[test]
fn an_unreachable_lotl_url_falls_back_to_the_directory_mirror() {
    let mut dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let corpus = loop {
        let c = dir.join("shared/corpus/trust-lists/real");
        if c.is_dir() {
            break c;
        }
        assert!(
            dir.pop(),
            "shared/corpus not found above CARGO_MANIFEST_DIR"
        );
    };
    let lotl = std::fs::read(corpus.join("EU-lotl-seq390-2026-08-03.xml")).unwrap();
    let mirror = trust_lists::DirectorySource::from_bytes([lotl.clone()]);
    let limits = FetchLimits {
        timeout: Duration::from_secs(2),
        max_bytes: 64 << 20,
    };
    // Port 1 on loopback refuses at once.
    let source = BridgeSource::new(
        LotlLocation::Url("https://127.0.0.1:1/eu-lotl.xml".into()),
        Some(mirror),
        limits,
        true,
    );
    let request = ListRequest {
        location: "https://127.0.0.1:1/eu-lotl.xml",
        territory: "EU",
        lotl: true,
        sequence: None,
    };
    assert_eq!(source.fetch(&request).unwrap(), lotl);
    let bare = BridgeSource::new(
        LotlLocation::Url("https://127.0.0.1:1/eu-lotl.xml".into()),
        None,
        limits,
        true,
    );
    assert!(unavailable(bare.fetch(&request)).starts_with("transport: "));
}

#[test]
fn https_downloads_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::new(dir.path());
    pki.ensure().unwrap();
    let port = serve(&pki);
    let ca = X509::stack_from_pem(&std::fs::read(pki.ca_cert()).unwrap()).unwrap();
    let limits = FetchLimits {
        timeout: Duration::from_secs(2),
        max_bytes: LIMIT,
    };
    let source = BridgeSource::new(
        LotlLocation::File("/nonexistent/lotl.xml".into()),
        None,
        limits,
        true,
    )
    .with_root_certificates(&ca);
    let base = format!("https://localhost:{port}");

    assert_eq!(
        fetch(&source, &format!("{base}/list.xml")).unwrap(),
        b"hello"
    );
    assert_eq!(fetch(&source, &format!("{base}/moved")).unwrap(), b"hello");
    assert_eq!(
        unavailable(fetch(&source, &format!("{base}/downgrade"))),
        "not an https location"
    );
    assert_eq!(
        unavailable(fetch(&source, &format!("{base}/declared-big"))),
        "100000 bytes exceed the limit of 100"
    );
    assert_eq!(
        unavailable(fetch(&source, &format!("{base}/undeclared-big"))),
        "more than the limit of 100 bytes"
    );
    assert_eq!(
        unavailable(fetch(&source, &format!("{base}/missing"))),
        "http status 404"
    );
    assert!(unavailable(fetch(&source, &format!("{base}/silent"))).starts_with("transport: "));
    assert_eq!(
        unavailable(fetch(&source, &format!("http://localhost:{port}/list.xml"))),
        "not an https location"
    );

    // Without the development CA, the server's certificate is not trusted.
    let untrusted = BridgeSource::new(
        LotlLocation::File("/nonexistent/lotl.xml".into()),
        None,
        limits,
        true,
    );
    assert!(unavailable(fetch(&untrusted, &format!("{base}/list.xml"))).starts_with("transport: "));
}
