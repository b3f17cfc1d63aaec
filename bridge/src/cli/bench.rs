//! `eidas-bridge bench submit`: a load generator for exchanges. Starts the demo's FR and BE
//! bridges on loopback (mutual TLS, durable journals and stores on both sides), then measures in
//! one run:
//! 1. end-to-end messages per second: 4 KiB submits at FR until every one holds BE's verified
//!    receipt (submit -> outbox -> batch seal -> DeliverBatch -> BE inbox and journal -> receipt
//!    batch -> FR journal);
//! 2. the baseline: a bare tonic unary echo of the same 4 KiB payload (the benchmark-only
//!    `eidas.bridge.bench.v1.BenchEcho`, no layers, no storage), served in this process over the
//!    same OpenSSL mutual-TLS stack and certificates as FR's gateway (FR's QWAC, FR's operator CA)
//!    and called by FR's operator identity, with the same concurrency for the same wall time as 1;
//! 3. submit latency percentiles under an open-loop load at half the rate measured in 1.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge_proto::bench::bench_echo_client::BenchEchoClient;
use bridge_proto::bench::bench_echo_server::{BenchEcho, BenchEchoServer};
use bridge_proto::bench::{EchoReply, EchoRequest};
use bridge_proto::pb;
use bridge_proto::pb::exchange_service_client::ExchangeServiceClient;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::{Request, Response, Status};

use super::cost::{key_cost, process_cpu_seconds, ratio_ceiling};
use crate::config::Config;
use crate::demo::{channel_to, client_identity, start_pair_with, Pair, DEMO_SEED};
use crate::devpki::DevPki;
use crate::exchange::{Address, RetryPolicy};
use crate::grpc::Role;
use crate::grpc::{MAX_CONCURRENT_LIMIT, MAX_RATE_LIMIT};
use crate::journal::JournalStats;
use crate::store::outbox::OutboxState;
use crate::tls::{self, ServerIdentity};

/// Payload size of the benchmark: a typical small S/MIME message.
pub const PAYLOAD_BYTES: usize = 4096;

/// Largest echo request or reply the baseline server decodes or encodes: twice the benchmark
/// payload leaves room for protobuf framing while refusing anything the benchmark never sends.
const ECHO_MAX_MESSAGE: usize = 2 * PAYLOAD_BYTES;

/// `bench` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// End-to-end exchange throughput and submit latency against a unary baseline.
    Submit {
        /// Messages submitted in the throughput phase: enough for about three seconds, so that
        /// the ramp-up and the last receipts weigh little in the rate.
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
        /// Concurrent submitters (and echo callers).
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Duration of the latency phase, in seconds (the echo runs as long as the throughput
        /// phase took).
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
}

const NURSE: &str = "jean-marie.dupont@infirmier.mssante.fr";

/// Lifts the operator's and the peer's per-caller limits to their maximum: the load generators
/// measure what the bridges can carry, and the default rate and concurrency (`grpc::limits`) are
/// a policy a deployment sizes to its own traffic. The concurrency limit matters to the
/// open-loop latency phase: after a stall of the shared machine its ticker fires the missed
/// submits at once, and at a few thousand a second a 100 ms stall is more calls in flight than
/// the default 256, which the bridge would rightly refuse.
pub(crate) fn unthrottled(config: &mut Config) {
    for role in [Role::Operator, Role::Peer] {
        let limits = config.limits.role_mut(role);
        limits.rate = Some(MAX_RATE_LIMIT);
        limits.burst = Some(MAX_RATE_LIMIT);
        limits.max_concurrent = Some(MAX_CONCURRENT_LIMIT);
    }
}

/// The demo pair under [`unthrottled`] limits.
pub(crate) async fn start_loaded_pair(
    eco: &test_ecosystem::Ecosystem,
    root: &std::path::Path,
) -> Result<Pair, String> {
    start_pair_with(eco, root, RetryPolicy::default(), unthrottled)
        .await
        .map_err(|e| e.to_string())
}

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

/// The baseline service: answers every request with its own payload.
#[derive(Debug)]
struct Echo;

#[tonic::async_trait]
impl BenchEcho for Echo {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        Ok(Response::new(EchoReply {
            payload: request.into_inner().payload,
        }))
    }
}

/// Serves [`Echo`] on a fresh loopback port behind `tls::incoming` with FR's gateway identity:
/// FR's QWAC chain and key, FR's operator CA for client certificates. Returns the address and a
/// sender that stops the server.
async fn serve_echo(pair: &Pair) -> Result<(std::net::SocketAddr, oneshot::Sender<()>), String> {
    let identity = ServerIdentity {
        chain: tls::read_certs(&pair.eco_dir.join("qwac-FR.chain.pem"))
            .map_err(|e| e.to_string())?,
        key: tls::read_key(&pair.eco_dir.join("qwac-FR.key.pem")).map_err(|e| e.to_string())?,
        client_cas: tls::read_certs(&DevPki::new(&pair.fr.data_dir).ca_cert())
            .map_err(|e| e.to_string())?,
    };
    let acceptor = identity.acceptor().map_err(|e| e.to_string())?;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let incoming = tls::incoming(
        listener,
        acceptor,
        Config::defaults().server.handshake_timeout,
    );
    let (tx, rx) = oneshot::channel::<()>();
    let service = BenchEchoServer::new(Echo)
        .max_decoding_message_size(ECHO_MAX_MESSAGE)
        .max_encoding_message_size(ECHO_MAX_MESSAGE);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = rx.await;
            }),
    );
    Ok((addr, tx))
}

/// Calls the echo from FR's operator identity (the same client stack as the submits: one
/// channel, `concurrency` callers) for `d`. Returns calls per second and sorted call latencies.
async fn echo_baseline(
    pair: &Pair,
    concurrency: usize,
    d: Duration,
) -> Result<(f64, Vec<Duration>), String> {
    let (addr, stop) = serve_echo(pair).await?;
    let pki = DevPki::new(&pair.fr.data_dir);
    let operator = client_identity(
        &pki.client_cert(Role::Operator),
        &pki.client_key(Role::Operator),
        Vec::new(),
    )
    .map_err(|e| e.to_string())?;
    let channel =
        channel_to(addr, "FR", &operator, pair.trust.clone()).map_err(|e| e.to_string())?;
    let payload = vec![0x3cu8; PAYLOAD_BYTES];
    // One call before the clock starts, so the handshake is not counted and a broken TLS setup
    // fails the benchmark instead of producing a rate of zero.
    BenchEchoClient::new(channel.clone())
        .echo(EchoRequest {
            payload: payload.clone(),
        })
        .await
        .map_err(|s| format!("echo: {}", s.message()))?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let mut client = BenchEchoClient::new(channel.clone());
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while start.elapsed() < d {
                let t = Instant::now();
                let reply = client
                    .echo(EchoRequest {
                        payload: payload.clone(),
                    })
                    .await
                    .map_err(|s| format!("echo: {}", s.message()))?;
                if reply.get_ref().payload.len() != PAYLOAD_BYTES {
                    return Err("echo: reply differs from the request".to_owned());
                }
                lat.push(t.elapsed());
            }
            Ok::<_, String>(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.map_err(|e| e.to_string())??);
    }
    let rate = lat.len() as f64 / start.elapsed().as_secs_f64();
    let _ = stop.send(());
    lat.sort();
    Ok((rate, lat))
}

/// What the throughput phase measured.
#[derive(Debug)]
struct Throughput {
    /// Delivered messages per second (submit of the first to verified receipt of the last).
    rate: f64,
    /// Wall time of the phase.
    took: Duration,
    /// When the last submit was acknowledged: close to `took` when Submit bounds the rate,
    /// well before it when the relay does.
    submits_done: Duration,
    /// Journal entries per group commit during the phase, FR then BE (how well appends batch).
    entries_per_commit: [f64; 2],
    /// Envelopes per DeliverBatch call of FR's relay during the phase (how well the relay
    /// batches).
    envelopes_per_batch: f64,
}

fn entries_per_commit(before: JournalStats, after: JournalStats) -> f64 {
    let commits = after.commits.saturating_sub(before.commits).max(1);
    (after.entries.saturating_sub(before.entries) as f64 / commits as f64 * 10.0).round() / 10.0
}

/// Submits `messages` from `concurrency` callers and waits until each is delivered.
async fn end_to_end(
    pair: &Pair,
    messages: usize,
    concurrency: usize,
) -> Result<Throughput, String> {
    let stats = [pair.fr.journal.stats(), pair.be.journal.stats()];
    let relay = pair.fr.exchange.relay_stats();
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
    let submits_done = start.elapsed();
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
    let took = start.elapsed();
    let relayed = pair.fr.exchange.relay_stats();
    let batches = relayed.batches.saturating_sub(relay.batches).max(1);
    let envelopes = relayed.envelopes.saturating_sub(relay.envelopes);
    Ok(Throughput {
        envelopes_per_batch: (envelopes as f64 / batches as f64 * 10.0).round() / 10.0,
        rate: messages as f64 / took.as_secs_f64(),
        took,
        submits_done,
        entries_per_commit: [
            entries_per_commit(stats[0], pair.fr.journal.stats()),
            entries_per_commit(stats[1], pair.be.journal.stats()),
        ],
    })
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
    let pair = start_loaded_pair(&eco, dir.path()).await?;
    let report = measure(&pair, messages, concurrency, d).await;
    // Both bridges stop before their directory goes, whatever the outcome: a relay still running
    // would otherwise report the removed store as an i/o failure.
    pair.fr.stop().await;
    pair.be.stop().await;
    report
}

/// The three phases of `bench submit` against a running pair.
async fn measure(
    pair: &Pair,
    messages: usize,
    concurrency: usize,
    d: Duration,
) -> Result<serde_json::Value, String> {
    let cpu_start = process_cpu_seconds();
    let tput = end_to_end(pair, messages, concurrency).await?;
    let cpu_tput = process_cpu_seconds();
    let (e2e, took) = (tput.rate, tput.took);
    let (echo, echo_lat) =
        echo_baseline(pair, concurrency, took.max(Duration::from_secs(1))).await?;
    let cpu_echo = process_cpu_seconds();
    let (sent, lat) = latency(pair, e2e / 2.0, d).await?;
    // CPU per message and per echo call, and the ratio no design with a seal and a receipt per
    // message could exceed here (`cost`).
    let per = |from: Option<f64>, to: Option<f64>, n: usize| {
        from.zip(to).map(|(a, b)| (b - a) * 1e6 / n.max(1) as f64)
    };
    let message_cpu_us = per(cpu_start, cpu_tput, messages);
    let echo_cpu_us = per(cpu_tput, cpu_echo, echo_lat.len());
    let keys = key_cost(
        &pair.eco_dir.join("seal-FR.chain.pem"),
        &pair.eco_dir.join("seal-FR.key.pem"),
    )?;
    let round = |x: f64| (x * 10.0).round() / 10.0;
    Ok(json!({
        "payload_bytes": PAYLOAD_BYTES,
        "concurrency": concurrency,
        "messages": messages,
        "end_to_end_seconds": (took.as_secs_f64() * 1000.0).round() / 1000.0,
        "echo_rps": echo.round(),
        "echo_calls": echo_lat.len(),
        "echo_p50_ms": pct(&echo_lat, 0.50),
        "echo_p99_ms": pct(&echo_lat, 0.99),
        "end_to_end_msgs_per_s": e2e.round(),
        "submits_acknowledged_seconds": (tput.submits_done.as_secs_f64() * 1000.0).round() / 1000.0,
        "fr_journal_entries_per_commit": tput.entries_per_commit[0],
        "be_journal_entries_per_commit": tput.entries_per_commit[1],
        "envelopes_per_batch": tput.envelopes_per_batch,
        "ratio": (e2e / echo * 1000.0).round() / 1000.0,
        "latency_phase_rate": (e2e / 2.0).round(),
        "latency_phase_submits": sent,
        "submit_p50_ms": pct(&lat, 0.50),
        "submit_p99_ms": pct(&lat, 0.99),
        "submit_max_ms": pct(&lat, 1.0),
        "cpu_us_per_message": message_cpu_us.map(round),
        "cpu_us_per_echo_call": echo_cpu_us.map(round),
        "seal_sign_us": round(keys.sign_us),
        "seal_verify_us": round(keys.verify_us),
        "ratio_ceiling_per_message_seals": echo_cpu_us
            .map(|c| (ratio_ceiling(c, keys) * 1000.0).round() / 1000.0),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::start_pair;

    #[test]
    fn percentiles_pick_the_ceiling_rank() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(pct(&ms, 0.50), 50.0);
        assert_eq!(pct(&ms, 0.99), 99.0);
        assert_eq!(pct(&ms, 1.0), 100.0);
        assert_eq!(pct(&[], 0.99), 0.0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn echo_returns_the_payload_over_mutual_tls_and_refuses_strangers() {
        let dir = tempfile::tempdir().unwrap();
        let eco = test_ecosystem::Ecosystem::generate(DEMO_SEED).unwrap();
        let pair = start_pair(&eco, dir.path(), RetryPolicy::default())
            .await
            .unwrap();
        let (addr, stop) = serve_echo(&pair).await.unwrap();
        let pki = DevPki::new(&pair.fr.data_dir);
        let operator = client_identity(
            &pki.client_cert(Role::Operator),
            &pki.client_key(Role::Operator),
            Vec::new(),
        )
        .unwrap();
        let channel = channel_to(addr, "FR", &operator, pair.trust.clone()).unwrap();
        let payload: Vec<u8> = (0..PAYLOAD_BYTES).map(|i| (i % 251) as u8).collect();
        let reply = BenchEchoClient::new(channel)
            .echo(EchoRequest {
                payload: payload.clone(),
            })
            .await
            .unwrap();
        assert_eq!(reply.into_inner().payload, payload);

        // Without a client certificate the handshake is refused: the echo is mutual TLS.
        let mut stranger = operator.clone();
        stranger.chain.clear();
        stranger.key = None;
        let channel = channel_to(addr, "FR", &stranger, pair.trust.clone()).unwrap();
        let refused = BenchEchoClient::new(channel)
            .echo(EchoRequest { payload })
            .await
            .unwrap_err();
        assert!(
            matches!(
                refused.code(),
                tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
            ),
            "{refused:?}"
        );

        let _ = stop.send(());
        pair.fr.stop().await;
        pair.be.stop().await;
    }
}
