use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::http::{metrics_router, serve_limited};

const SHORT: Limits = Limits {
    header_read: Duration::from_millis(400),
    max_connections: 4,
};

/// Serves a `/metrics` answering `m 1` under `limits` on 127.0.0.1; returns its address and gate.
async fn server(limits: Limits) -> (SocketAddr, Gate) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let gate = Gate::new(&limits, "test");
    let router = metrics_router(Arc::new(|| "m 1\n".to_owned()));
    tokio::spawn(serve_limited(listener, router, limits, gate.clone()));
    (addr, gate)
}

/// Reads until the server closes the connection (EOF or reset), at most 5 s; returns what was
/// read and whether it closed.
async fn read_until_closed(s: &mut TcpStream) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into(), false),
        }
    }
}

const GET: &[u8] = b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n";

async fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    read_until_closed(&mut s).await.0
}

#[tokio::test]
async fn a_slowloris_client_is_cut_off_at_the_header_read_timeout() {
    let (addr, _gate) = server(SHORT).await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /metrics HTTP/1.1\r\n")
        .await
        .expect("write");
    // Trickle one header byte every 100 ms for up to 3 s: the head is never complete.
    let start = Instant::now();
    let mut cut = false;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if s.write_all(b"x").await.is_err() {
            cut = true;
            break;
        }
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut = true;
                break;
            }
            Ok(Ok(n)) => {
                // hyper may answer 408 before it closes; never a 200.
                assert!(!String::from_utf8_lossy(&buf[..n]).contains(" 200 "));
            }
            Err(_) => {}
        }
    }
    assert!(
        cut,
        "a client trickling its headers for 3 s was not cut off"
    );
    assert!(
        start.elapsed() >= SHORT.header_read,
        "cut before the timeout"
    );
}

#[tokio::test]
async fn an_idle_connection_is_closed_before_and_between_requests() {
    let (addr, _gate) = server(SHORT).await;
    // Never sends anything.
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    assert!(
        read_until_closed(&mut silent).await.1,
        "a silent connection stayed open"
    );
    // One request on a keep-alive connection, then idle.
    let mut kept = TcpStream::connect(addr).await.expect("connect");
    kept.write_all(GET).await.expect("write");
    let (answer, closed) = read_until_closed(&mut kept).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("m 1\n"), "{answer}");
    assert!(closed, "an idle keep-alive connection stayed open");
}

#[tokio::test]
async fn the_connection_cap_holds_and_frees_slots_when_connections_close() {
    let limits = Limits {
        header_read: Duration::from_secs(30),
        max_connections: 4,
    };
    let (addr, gate) = server(limits).await;
    let mut idle = Vec::new();
    for _ in 0..limits.max_connections {
        idle.push(TcpStream::connect(addr).await.expect("connect"));
    }
    // Wait (bounded) until the server has admitted all four.
    for _ in 0..100 {
        if gate.open(&limits) == limits.max_connections {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(gate.open(&limits), limits.max_connections);
    // Every connection beyond the cap is closed at once, without an answer, and counted.
    for i in 1..=3u64 {
        let mut extra = TcpStream::connect(addr).await.expect("connect");
        let _ = extra.write_all(GET).await;
        let (answer, closed) = read_until_closed(&mut extra).await;
        assert!(
            closed && answer.is_empty(),
            "extra connection {i} was served: {answer}"
        );
        assert_eq!(gate.refused(), i);
    }
    assert_eq!(gate.open(&limits), limits.max_connections);
    // Closing the idle ones frees their slots: a scrape is served again.
    drop(idle);
    let mut served = String::new();
    for _ in 0..100 {
        served = scrape(addr).await;
        if served.starts_with("HTTP/1.1 200") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served.ends_with("m 1\n"), "{served}");
}
