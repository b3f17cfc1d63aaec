//! Process signals: the ones that start a graceful shutdown, and SIGHUP, which asks for the TLS
//! material to be read again. The library never installs handlers itself: `run` takes the
//! shutdown as a future, `main` passes [`signal`] and spawns [`forward_reloads`], tests pass a
//! oneshot and call the reload handle directly.

use crate::tls::ReloadHandle;

/// Completes on the first SIGINT or SIGTERM (Ctrl-C elsewhere).
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => tracing::info!("SIGINT received, draining"),
                    _ = term.recv() => tracing::info!("SIGTERM received, draining"),
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Turns every SIGHUP into a reload request until the process ends. Without SIGHUP (not Unix, or
/// the handler cannot be installed) reloads are simply not offered, which is logged.
pub async fn forward_reloads(handle: ReloadHandle) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::hangup()) {
            Ok(mut hup) => {
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP received, reloading the TLS identity");
                    handle.reload();
                }
            }
            Err(e) => tracing::warn!(error = %e, "no SIGHUP handler: TLS reload unavailable"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = handle;
        tracing::info!("no SIGHUP on this platform: TLS reload unavailable");
    }
}
