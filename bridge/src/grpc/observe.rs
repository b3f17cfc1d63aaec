//! One tracing span per RPC and the per-RPC Prometheus series, as a tower layer around every service.
//!
//! The status code is read from the response headers: tonic sends errors as trailers-only responses
//! (code in the headers) and successful unary responses with `grpc-status: 0` in the trailers, so a
//! response without `grpc-status` in its headers is counted as OK. A stream that fails midway is
//! counted by its opening, which is the usual compromise of header-based interceptors.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tonic::body::Body;
use tower::{Layer, Service};
use tracing::Instrument;

use crate::metrics::Metrics;

/// The layer.
#[derive(Debug, Clone)]
pub struct ObserveLayer {
    metrics: Arc<Metrics>,
}

impl ObserveLayer {
    /// Records into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> ObserveLayer {
        ObserveLayer { metrics }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// See [`ObserveLayer`].
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

/// Splits `/pkg.Service/Method`; unknown shapes are labelled as such so that a scanner cannot create
/// unbounded label values.
fn labels(path: &str) -> (String, String) {
    match path.trim_start_matches('/').split_once('/') {
        Some((service, method))
            if service.len() <= 128
                && method.len() <= 64
                && crate::grpc::allowed_roles(path).is_some() =>
        {
            (service.to_owned(), method.to_owned())
        }
        _ => ("unknown".to_owned(), "unknown".to_owned()),
    }
}

fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

impl<S> Service<http::Request<Body>> for Observe<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let (service, method) = labels(req.uri().path());
        let remote = req
            .extensions()
            .get::<crate::tls::PeerIdentity>()
            .map(|p| p.remote.to_string())
            .unwrap_or_default();
        let span = tracing::info_span!("rpc", rpc.service = %service, rpc.method = %method, peer.addr = %remote);
        let started = Instant::now();
        let metrics = self.metrics.clone();
        let fut = self.inner.call(req);
        Box::pin(
            async move {
                let result = fut.await;
                let code = match &result {
                    Ok(resp) => resp
                        .headers()
                        .get("grpc-status")
                        .map(|v| tonic::Code::from_bytes(v.as_bytes()))
                        .unwrap_or(tonic::Code::Ok),
                    Err(_) => tonic::Code::Internal,
                };
                let elapsed = started.elapsed().as_secs_f64();
                metrics
                    .rpc_total
                    .with_label_values(&[service.as_str(), method.as_str(), code_name(code)])
                    .inc();
                metrics
                    .rpc_seconds
                    .with_label_values(&[service.as_str(), method.as_str()])
                    .observe(elapsed);
                tracing::debug!(
                    grpc.code = code_name(code),
                    elapsed_ms = elapsed * 1e3,
                    "rpc done"
                );
                result
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(
            labels("/grpc.health.v1.Health/Check"),
            ("grpc.health.v1.Health".to_owned(), "Check".to_owned())
        );
        assert_eq!(labels("/evil/x").0, "unknown");
        assert_eq!(labels("garbage").0, "unknown");
    }
}
