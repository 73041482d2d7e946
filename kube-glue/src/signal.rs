//! When a binary should stop: SIGTERM (the kubelet stopping the Pod) or SIGINT (Ctrl-C). The
//! one definition for the controller, the webhook and the speaker, each of which then stops
//! the way its module docs say (the webhook drains its connections, the speaker hands over,
//! every binary flushes its traces on the way out).

/// Resolves on the first SIGTERM or SIGINT. Without a SIGTERM handler (it cannot be installed)
/// only SIGINT counts, and a warning says so.
pub async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot install the SIGTERM handler");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
