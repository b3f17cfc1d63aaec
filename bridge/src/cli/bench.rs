//! `eidas-bridge bench submit`: a load generator for exchanges. Starts the demo's FR and BE
//! bridges on loopback (mutual TLS, durable journals and stores on both sides), then measures in
//! one run:
//! 1. a unary gRPC call over the same mutual TLS (the gateway's `grpc.health.v1.Health/Check`,
//!    the cheapest call it serves) as the baseline rate;
//! 2. end-to-end messages per second: 4 KiB submits at FR until every one holds BE's verified
//!    receipt (submit -> outbox -> seal -> Deliver -> BE inbox and journal -> receipt -> FR journal);
//! 3. submit latency percentiles under an open-loop load at half the rate measured in 2.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge_proto::pb;
use bridge_proto::pb::exchange_service_client::ExchangeServiceClient;
use serde_json::json;
use sha2::{Digest, Sha256};
use tonic_health::pb::health_client::HealthClient;

use crate::demo::{start_pair, Pair, DEMO_SEED};
use crate::exchange::{Address, RetryPolicy};
use crate::store::outbox::OutboxState;

/// Payload size of the benchmark: a typical small S/MIME message.
pub const PAYLOAD_BYTES: usize = 4096;

/// `bench` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// End-to-end exchange throughput and submit latency against a unary baseline.
    Submit {
        /// Messages submitted in the throughput phase.
        #[arg(long, default_value_t = 2000)]
        messages: usize,
        /// Concurrent submitters (and baseline callers).
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Duration of the baseline and of the latency phase, in seconds.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
}

const NURSE: &str = "jean-marie.dupont@infirmier.mssante.fr";

fn request(id: String, payload: &[u8]) -> pb::SubmitRequest {
    pb::SubmitRequest {
        envelope: Some(pb::Envelope {
            message_id: id,
            sender: Some(pb::Address {
                space: "mssante".into(),
                value: NURSE.into(),
            }),
            recipient: Some(pb::Address {
                space: "canonical".into(),
                value: "hcid:BE:nihii-hospital:71000436".into(),
            }),
            payload: payload.to_vec(),
            payload_sha256: Sha256::digest(payload).to_vec(),
            ..Default::default()
        }),
    }
}

/// Runs a bench command.
pub fn run(cmd: BenchCommand, json: bool) -> ExitCode {
    let BenchCommand::Submit {
        messages,
        concurrency,
        seconds,
    } = cmd;
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(bench(
        messages,
        concurrency.max(1),
        Duration::from_secs(seconds.max(1)),
    )) {
        Ok(report) => {
            if json {
                println!("{report}");
            } else if let Some(map) = report.as_object() {
                for (k, v) in map {
                    println!("{k}: {v}");
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn baseline(pair: &Pair, concurrency: usize, d: Duration) -> Result<f64, String> {
    let channel = pair.fr.operator_channel().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let mut client = HealthClient::new(channel.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while start.elapsed() < d {
                if client
                    .check(tonic_health::pb::HealthCheckRequest::default())
                    .await
                    .is_ok()
                {
                    n += 1;
                }
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.map_err(|e| e.to_string())?;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

async fn end_to_end(pair: &Pair, messages: usize, concurrency: usize) -> Result<f64, String> {
    let channel = pair.fr.operator_channel().map_err(|e| e.to_string())?;
    let payload = Arc::new(vec![0x5au8; PAYLOAD_BYTES]);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let mut client = ExchangeServiceClient::new(channel.clone());
        let (payload, next) = (payload.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= messages {
                    return Ok::<(), String>(());
                }
                client
                    .submit(request(format!("tput-{i}"), &payload))
                    .await
                    .map_err(|s| s.message().to_owned())?;
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let sender = Address::new("sender", "mssante", NURSE.into()).map_err(|e| e.to_string())?;
    for i in (0..messages).rev() {
        loop {
            let r = pair
                .fr
                .exchange
                .status(&sender, &format!("tput-{i}"))
                .map_err(|e| e.to_string())?;
            match r.state {
                OutboxState::Delivered => break,
                OutboxState::Failed => return Err(format!("tput-{i} failed")),
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }
    Ok(messages as f64 / start.elapsed().as_secs_f64())
}

async fn latency(pair: &Pair, rate: f64, d: Duration) -> Result<(usize, Vec<Duration>), String> {
    let channel = pair.fr.operator_channel().map_err(|e| e.to_string())?;
    let payload = Arc::new(vec![0xa5u8; PAYLOAD_BYTES]);
    let period = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let start = Instant::now();
    let mut tasks = Vec::new();
    let mut i = 0usize;
    while start.elapsed() < d {
        ticker.tick().await;
        let mut client = ExchangeServiceClient::new(channel.clone());
        let payload = payload.clone();
        let id = format!("lat-{i}");
        i += 1;
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            client
                .submit(request(id, &payload))
                .await
                .map(|_| t.elapsed())
                .map_err(|s| s.message().to_owned())
        }));
    }
    let mut lat = Vec::with_capacity(tasks.len());
    for t in tasks {
        lat.push(t.await.map_err(|e| e.to_string())??);
    }
    lat.sort();
    Ok((i, lat))
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx].as_secs_f64() * 1000.0
}

async fn bench(
    messages: usize,
    concurrency: usize,
    d: Duration,
) -> Result<serde_json::Value, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let eco = test_ecosystem::Ecosystem::generate(DEMO_SEED).map_err(|e| e.to_string())?;
    let pair = start_pair(&eco, dir.path(), RetryPolicy::default())
        .await
        .map_err(|e| e.to_string())?;
    let echo = baseline(&pair, concurrency, d).await?;
    let e2e = end_to_end(&pair, messages, concurrency).await?;
    let (sent, lat) = latency(&pair, e2e / 2.0, d).await?;
    let report = json!({
        "payload_bytes": PAYLOAD_BYTES,
        "concurrency": concurrency,
        "baseline_unary_rps": echo.round(),
        "end_to_end_msgs_per_s": e2e.round(),
        "ratio": (e2e / echo * 1000.0).round() / 1000.0,
        "latency_phase_rate": (e2e / 2.0).round(),
        "latency_phase_submits": sent,
        "submit_p50_ms": pct(&lat, 0.50),
        "submit_p99_ms": pct(&lat, 0.99),
        "submit_max_ms": pct(&lat, 1.0),
    });
    pair.fr.stop().await;
    pair.be.stop().await;
    Ok(report)
}
