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
//!
//! Phases 1 and 2 run at each level of `--concurrency` (64, 128, 192 and 256 callers by default),
//! each level on a fresh pair, and the report compares each side's best level: both rates are
//! maxima, and a closed loop reaches its maximum only with enough calls in flight to cover its
//! latency (Little's law). An echo call is one round trip and saturates two cores with 64
//! callers; a submit waits for two group commits and its message for four more before the
//! receipt, so the exchange needs more. Every level is in the report (`levels`).

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
        /// Concurrent submitters (and echo callers), one level or a comma-separated list of levels
        /// each measured on a fresh pair; the report compares each side's best level.
        #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_LEVELS)]
        concurrency: Vec<usize>,
        /// Duration of the latency phase, in seconds (the echo runs as long as the throughput
        /// phase took).
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
}

/// Concurrency levels measured by default: the echo saturates two cores at the first, the
/// exchange at one of the later ones (module doc).
const DEFAULT_LEVELS: [usize; 4] = [64, 128, 192, 256];

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
    let mut levels: Vec<usize> = concurrency.into_iter().map(|c| c.max(1)).collect();
    levels.dedup();
    if levels.is_empty() {
        levels = DEFAULT_LEVELS.to_vec();
    }
    match rt.block_on(bench(
        messages,
        &levels,
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
    /// Messages submitted and delivered.
    messages: usize,
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
        messages,
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
    levels: &[usize],
    d: Duration,
) -> Result<serde_json::Value, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let eco = test_ecosystem::Ecosystem::generate(DEMO_SEED).map_err(|e| e.to_string())?;
    let mut measured = Vec::with_capacity(levels.len());
    for (i, &concurrency) in levels.iter().enumerate() {
        // A fresh pair per level: a later level on the same stores would start with every earlier
        // message in its trees, and a longer run costs more per message.
        let root = dir.path().join(format!("level-{i}"));
        let pair = start_loaded_pair(&eco, &root).await?;
        let level = measure_level(&pair, messages, concurrency).await;
        stop(pair).await;
        // Each level leaves about 200 MB of payload segments behind; the next needs none of it.
        let _ = std::fs::remove_dir_all(&root);
        measured.push(level?);
    }
    let pair = start_loaded_pair(&eco, &dir.path().join("latency")).await?;
    let report = report(&pair, &measured, d).await;
    stop(pair).await;
    report
}

/// Stops both bridges before their directory goes, whatever the outcome: a relay still running
/// would otherwise report the removed store as an i/o failure.
async fn stop(pair: Pair) {
    pair.fr.stop().await;
    pair.be.stop().await;
}

/// Phases 1 and 2 at one concurrency level.
#[derive(Debug)]
struct Level {
    concurrency: usize,
    tput: Throughput,
    /// Process CPU per delivered message during phase 1, in µs.
    message_cpu_us: Option<f64>,
    /// Echo calls per second.
    echo: f64,
    /// Sorted echo call latencies.
    echo_lat: Vec<Duration>,
    /// Process CPU per echo call, in µs.
    echo_cpu_us: Option<f64>,
}

/// Process CPU between two readings, per event, in µs.
fn cpu_per(from: Option<f64>, to: Option<f64>, events: usize) -> Option<f64> {
    from.zip(to)
        .map(|(a, b)| (b - a) * 1e6 / events.max(1) as f64)
}

/// Phase 1, then phase 2 for as long as phase 1 took, with `concurrency` callers.
async fn measure_level(pair: &Pair, messages: usize, concurrency: usize) -> Result<Level, String> {
    let cpu_start = process_cpu_seconds();
    let tput = end_to_end(pair, messages, concurrency).await?;
    let cpu_tput = process_cpu_seconds();
    let (echo, echo_lat) =
        echo_baseline(pair, concurrency, tput.took.max(Duration::from_secs(1))).await?;
    let cpu_echo = process_cpu_seconds();
    Ok(Level {
        concurrency,
        message_cpu_us: cpu_per(cpu_start, cpu_tput, messages),
        echo_cpu_us: cpu_per(cpu_tput, cpu_echo, echo_lat.len()),
        tput,
        echo,
        echo_lat,
    })
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The level with the largest `rate` (the first of equals).
fn best_by(levels: &[Level], rate: impl Fn(&Level) -> f64) -> Option<&Level> {
    levels
        .iter()
        .reduce(|best, l| if rate(l) > rate(best) { l } else { best })
}

/// Phase 3 at half the best end-to-end rate, and the report: the best level of each side at the
/// top, every level under `levels`. The CPU figures and the ratio no design with a seal and a
/// receipt per message could exceed here are explained in `cost`.
async fn report(pair: &Pair, levels: &[Level], d: Duration) -> Result<serde_json::Value, String> {
    let (Some(best), Some(echo)) = (
        best_by(levels, |l| l.tput.rate),
        best_by(levels, |l| l.echo),
    ) else {
        return Err("no concurrency level to measure".into());
    };
    let (sent, lat) = latency(pair, best.tput.rate / 2.0, d).await?;
    let keys = key_cost(
        &pair.eco_dir.join("seal-FR.chain.pem"),
        &pair.eco_dir.join("seal-FR.key.pem"),
    )?;
    let per_level: Vec<serde_json::Value> = levels
        .iter()
        .map(|l| {
            json!({
                "concurrency": l.concurrency,
                "end_to_end_msgs_per_s": l.tput.rate.round(),
                "echo_rps": l.echo.round(),
                "ratio": round3(l.tput.rate / l.echo),
                "cpu_us_per_message": l.message_cpu_us.map(round1),
                "cpu_us_per_echo_call": l.echo_cpu_us.map(round1),
                "envelopes_per_batch": l.tput.envelopes_per_batch,
            })
        })
        .collect();
    let tput = &best.tput;
    Ok(json!({
        "payload_bytes": PAYLOAD_BYTES,
        "concurrency": levels.iter().map(|l| l.concurrency).collect::<Vec<_>>(),
        "messages": tput.messages,
        "end_to_end_concurrency": best.concurrency,
        "end_to_end_seconds": round3(tput.took.as_secs_f64()),
        "echo_concurrency": echo.concurrency,
        "echo_rps": echo.echo.round(),
        "echo_calls": echo.echo_lat.len(),
        "echo_p50_ms": pct(&echo.echo_lat, 0.50),
        "echo_p99_ms": pct(&echo.echo_lat, 0.99),
        "end_to_end_msgs_per_s": tput.rate.round(),
        "submits_acknowledged_seconds": round3(tput.submits_done.as_secs_f64()),
        "fr_journal_entries_per_commit": tput.entries_per_commit[0],
        "be_journal_entries_per_commit": tput.entries_per_commit[1],
        "envelopes_per_batch": tput.envelopes_per_batch,
        "ratio": round3(tput.rate / echo.echo),
        "latency_phase_rate": (tput.rate / 2.0).round(),
        "latency_phase_submits": sent,
        "submit_p50_ms": pct(&lat, 0.50),
        "submit_p99_ms": pct(&lat, 0.99),
        "submit_max_ms": pct(&lat, 1.0),
        "cpu_us_per_message": best.message_cpu_us.map(round1),
        "cpu_us_per_echo_call": echo.echo_cpu_us.map(round1),
        "seal_sign_us": round1(keys.sign_us),
        "seal_verify_us": round1(keys.verify_us),
        "ratio_ceiling_per_message_seals": echo
            .echo_cpu_us
            .map(|c| round3(ratio_ceiling(c, keys))),
        "levels": per_level,
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
