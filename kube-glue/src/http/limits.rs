//! The limits every HTTP listener of ferrolb serves under (issue 19): the speaker's and the
//! controller's `/metrics` and probe ports and the webhook's HTTPS port. One home, so that no
//! listener is left without them:
//!
//! - a **header-read timeout** ([`Limits::header_read`]): hyper's HTTP/1 header timer starts as
//!   soon as a connection waits for a request head, so it cuts off a slowloris client (headers
//!   trickled byte by byte), a connection that never sends anything, and a keep-alive
//!   connection left idle between requests: one timer is both the header-read and the idle
//!   timeout. [`Limits::header_read`] is also axum-server's first-request timeout, which covers
//!   hyper's protocol detection (the HTTP/2 preface) before that timer runs;
//! - a **connection cap** ([`Limits::max_connections`]): a connection accepted beyond it is closed
//!   at once and counted ([`Gate::refused`]), so 20,000 idle sockets cost a bounded number of
//!   tasks and buffers.
//!
//! MetalLB's Go listeners (`http.Server` without `ReadHeaderTimeout`) have neither; the values are
//! generous for Prometheus scrapes and kubelet probes (a few connections, requests in
//! milliseconds) and for the API server calling the webhook (its timeout is 10 s).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::Server;
use axum_server::accept::Accept;
use hyper_util::rt::TokioTimer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The limits of one listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How long a connection may take to send a complete request head, counted from the moment
    /// it waits for one (so also how long it may stay idle).
    pub header_read: Duration,
    /// Connections served at once; more are closed on accept and counted.
    pub max_connections: usize,
}

impl Limits {
    /// The limits of every ferrolb listener.
    pub const DEFAULT: Limits = Limits {
        header_read: Duration::from_secs(10),
        max_connections: 128,
    };

    /// Applies the timeouts to `server` (HTTP/1 header-read timer, first-request timeout).
    pub fn apply<Acc>(&self, mut server: Server<SocketAddr, Acc>) -> Server<SocketAddr, Acc> {
        server
            .http_builder()
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read);
        server
            .http_builder()
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(self.header_read);
        server.first_request_timeout(self.header_read)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The connection cap of one listener: an [`Accept`] step that admits a connection while fewer
/// than [`Limits::max_connections`] are open and closes it otherwise. Put it first (innermost,
/// before a TLS handshake) so a refused connection costs nothing but the accept.
#[derive(Clone, Debug)]
pub struct Gate {
    permits: Arc<Semaphore>,
    refused: Arc<AtomicU64>,
    what: &'static str,
}

impl Gate {
    /// A gate admitting `limits.max_connections` connections to the listener named `what`.
    pub fn new(limits: &Limits, what: &'static str) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limits.max_connections)),
            refused: Arc::new(AtomicU64::new(0)),
            what,
        }
    }

    /// Connections closed on accept because the cap was reached, since start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// The listener's name, for logs.
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// Connections open now.
    pub fn open(&self, limits: &Limits) -> usize {
        limits.max_connections - self.permits.available_permits()
    }

    fn admit(&self) -> Option<OwnedSemaphorePermit> {
        let permit = self.permits.clone().try_acquire_owned().ok();
        if permit.is_none() {
            let n = self.refused.fetch_add(1, Ordering::Relaxed);
            // The first refusal, then one line per 1,000: a flood must not flood the log.
            if n.is_multiple_of(1000) {
                tracing::warn!(
                    listener = self.what,
                    refused = n + 1,
                    "connection cap reached: closing new connections"
                );
            }
        }
        permit
    }
}

impl<S: Send + 'static> Accept<TcpStream, S> for Gate {
    type Stream = Admitted;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Admitted, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        std::future::ready(match self.admit() {
            Some(permit) => Ok((
                Admitted {
                    stream,
                    _permit: permit,
                },
                service,
            )),
            // Dropping `stream` closes the connection.
            None => Err(io::Error::other(format!(
                "{}: connection cap reached",
                self.what
            ))),
        })
    }
}

/// A connection the [`Gate`] admitted: its slot is freed when the connection is dropped.
#[derive(Debug)]
pub struct Admitted {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Admitted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests;
