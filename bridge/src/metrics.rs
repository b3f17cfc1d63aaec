//! Prometheus metrics: the registry the gRPC layer records into, and the plain-HTTP `/metrics`
//! endpoint on its own port (so scrapers need no client certificate and the gRPC port stays mTLS-only).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use tokio::net::TcpListener;

use crate::memory::HeapMetrics;

/// Latency buckets in seconds: from 1 ms (a cached trust decision) to 10 s (a relay that waits for a
/// slow peer), roughly doubling, as Prometheus' client guidelines suggest for request latencies.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The bridge's metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// Completed RPCs by method and gRPC status code name.
    pub rpc_total: IntCounterVec,
    /// RPC latency by method, to the response headers.
    pub rpc_seconds: HistogramVec,
    /// Calls refused by a per-caller limit, by `ErrorInfo` reason (three values: the label set
    /// is bounded; callers are deliberately not a label, which would be unbounded).
    pub limit_refusals: IntCounterVec,
    /// Exchange records removed by the retention sweep, by `box` (`outbox` or `inbox`: two
    /// values); see `exchange::spawn_retention`.
    pub records_purged: IntCounterVec,
    /// The resident set and the periodic heap release (`memory`).
    pub heap: HeapMetrics,
}

impl Metrics {
    /// A fresh registry with the bridge's metrics registered.
    ///
    /// # Errors
    /// Only if two metrics share a name, which is a programming error caught by the tests.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("eidas_bridge".into()), None)?;
        let rpc_total = IntCounterVec::new(
            Opts::new(
                "grpc_server_handled_total",
                "RPCs completed, by method and status code",
            ),
            &["grpc_service", "grpc_method", "grpc_code"],
        )?;
        let rpc_seconds = HistogramVec::new(
            HistogramOpts::new(
                "grpc_server_handling_seconds",
                "Time from request to response headers, by method",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["grpc_service", "grpc_method"],
        )?;
        let limit_refusals = IntCounterVec::new(
            Opts::new(
                "grpc_server_limit_refusals_total",
                "Calls refused by a per-caller concurrency or rate limit, by reason",
            ),
            &["reason"],
        )?;
        let records_purged = IntCounterVec::new(
            Opts::new(
                "exchange_records_purged_total",
                "Outbox and inbox records removed after exchange.retention, by box",
            ),
            &["box"],
        )?;
        registry.register(Box::new(limit_refusals.clone()))?;
        registry.register(Box::new(records_purged.clone()))?;
        registry.register(Box::new(rpc_total.clone()))?;
        registry.register(Box::new(rpc_seconds.clone()))?;
        let heap = HeapMetrics::register(&registry)?;
        Ok(Metrics {
            registry,
            rpc_total,
            rpc_seconds,
            limit_refusals,
            records_purged,
            heap,
        })
    }

    /// The registry, for other modules to register their own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition format of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for the text encoder except on invalid metric names,
        // which registration has already refused.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics accept failed");
                    continue;
                }
            },
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let metrics = metrics.clone();
                async move {
                    let response = if req.uri().path() == "/metrics" {
                        hyper::Response::builder()
                            .header("content-type", "text/plain; version=0.0.4")
                            .body(Full::new(Bytes::from(metrics.render())))
                    } else {
                        hyper::Response::builder()
                            .status(404)
                            .body(Full::new(Bytes::from_static(b"not found\n")))
                    };
                    Ok::<_, Infallible>(response.unwrap_or_default())
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purged_records_are_exposed_by_box() {
        let metrics = Metrics::new().unwrap();
        metrics
            .records_purged
            .with_label_values(&["outbox"])
            .inc_by(3);
        metrics.records_purged.with_label_values(&["inbox"]).inc();
        let text = metrics.render();
        assert!(
            text.contains("eidas_bridge_exchange_records_purged_total{box=\"outbox\"} 3"),
            "{text}"
        );
        assert!(text.contains("eidas_bridge_exchange_records_purged_total{box=\"inbox\"} 1"));
    }
}
