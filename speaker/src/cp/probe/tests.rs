//! The prober against real TLS servers on 127.0.0.1 (certificates from rcgen, served by
//! axum-server): verified by CA and server name, 200 only, refused / silent / wrong CA fail.

use std::net::SocketAddr;

use axum::http::StatusCode;
use axum::routing::get;
use axum_server::tls_rustls::RustlsConfig;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

use super::*;

/// A CA (PEM) and a serving certificate + key for the name `kubernetes`.
fn certs() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_pem = ca.clone().self_signed(&ca_key).unwrap().pem();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["kubernetes".to_owned()])
        .unwrap()
        .signed_by(&key, &Issuer::new(ca, ca_key))
        .unwrap();
    (ca_pem, leaf.pem(), key.serialize_pem())
}

/// Serves `/readyz` with `status` over TLS; returns the address.
async fn serve(cert: &str, key: &str, status: StatusCode) -> SocketAddr {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = RustlsConfig::from_pem(cert.as_bytes().to_vec(), key.as_bytes().to_vec())
        .await
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/readyz", get(move || async move { (status, "ok") }));
    tokio::spawn(async move {
        axum_server::from_tcp_rustls(listener, tls)
            .unwrap()
            .serve(app.into_make_service())
            .await
    });
    addr
}

fn ca_file(pem: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("ferrolb-cp-probe-{}-{n}.crt", std::process::id()));
    std::fs::write(&p, pem).unwrap();
    p
}

fn prober(addr: SocketAddr, trust: Trust) -> Prober {
    let base: http::Uri = format!("https://{addr}").parse().unwrap();
    Prober::new(&base, &trust, Duration::from_millis(500)).unwrap()
}

fn by_ca(pem: &str, name: &str) -> Trust {
    Trust::Ca {
        file: ca_file(pem),
        server_name: name.to_owned(),
    }
}

#[tokio::test]
async fn a_verified_200_is_healthy_and_anything_else_is_not() {
    let (ca, cert, key) = certs();
    let ok = serve(&cert, &key, StatusCode::OK).await;
    let failing = serve(&cert, &key, StatusCode::INTERNAL_SERVER_ERROR).await;
    assert_eq!(prober(ok, by_ca(&ca, "kubernetes")).probe().await, Ok(()));
    let err = prober(failing, by_ca(&ca, "kubernetes")).probe().await;
    assert!(
        err.as_ref()
            .is_err_and(|e| !e.refused && e.why.contains("500")),
        "{err:?}"
    );
    // The name is checked: the certificate does not name 127.0.0.1.
    let err = prober(ok, by_ca(&ca, "127.0.0.1")).probe().await;
    assert!(err.is_err(), "{err:?}");
}

#[tokio::test]
async fn another_ca_fails_unless_verification_is_skipped() {
    let (_, cert, key) = certs();
    let (other_ca, _, _) = certs();
    let addr = serve(&cert, &key, StatusCode::OK).await;
    let err = prober(addr, by_ca(&other_ca, "kubernetes")).probe().await;
    assert!(err.is_err(), "{err:?}");
    assert_eq!(prober(addr, Trust::SkipVerify).probe().await, Ok(()));
}

#[tokio::test]
async fn refused_and_silent_servers_fail() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let err = prober(addr, Trust::SkipVerify).probe().await;
    assert!(
        err.as_ref()
            .is_err_and(|e| e.refused && e.why.contains("refused")),
        "{err:?}"
    );
    // Accepts connections but never answers (a frozen API server).
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let err = prober(addr, Trust::SkipVerify).probe().await;
    assert!(
        err.as_ref()
            .is_err_and(|e| !e.refused && e.why.contains("no answer")),
        "{err:?}"
    );
    drop(silent);
}

#[test]
fn a_ca_file_without_certificates_is_refused_naming_the_flag() {
    let p = ca_file("not a certificate\n");
    let base: http::Uri = "https://127.0.0.1:6443".parse().unwrap();
    let trust = Trust::Ca {
        file: p,
        server_name: "kubernetes".into(),
    };
    let err = Prober::new(&base, &trust, Duration::from_secs(1))
        .err()
        .unwrap();
    assert!(err.to_string().contains("--apiserver-ca-file"), "{err}");
}
