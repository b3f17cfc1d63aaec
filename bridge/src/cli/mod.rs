//! The command line of the one binary, `eidas-bridge`. Exit status: 0 success, 1 the thing checked
//! is invalid or untrusted, 2 usage or input error (one-line reason on stderr), 64 bad configuration.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod address;
pub mod bench;
pub mod cost;
pub mod demo;
pub mod identity;
pub mod journal;
pub mod soak;
pub mod trust;

use crate::config::{Config, ConfigErrors, ProcessEnv};
use crate::gateway::Gateway;

/// sysexits.h `EX_USAGE`: the configuration is wrong.
pub const EXIT_CONFIG: u8 = 64;
/// The thing checked is invalid or untrusted (DESIGN.md "Command line").
pub const EXIT_INVALID: u8 = 1;
/// Usage or input error, with a one-line reason on stderr.
pub const EXIT_USAGE: u8 = 2;

/// Ends a reporting command: its own status when it ran, or [`EXIT_USAGE`] with the reason on one
/// line of stderr when its input could not be used.
pub fn finish(outcome: Result<u8, impl std::fmt::Display>) -> ExitCode {
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// eidas-bridge: cross-border bridge for EU health secure messaging.
#[derive(Debug, Parser)]
#[command(name = "eidas-bridge", version, about, long_about = None)]
pub struct Cli {
    /// Print one JSON object per line on stdout (commands that report).
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a gateway. With no configuration: embedded defaults, data under ./data, a generated
    /// development PKI, listening on loopback.
    Serve {
        /// TOML configuration file; every key can be overridden by a BRIDGE_* variable.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Two gateways (FR and BE) on loopback exchange a message end to end, trusting each other
    /// only through a generated test LOTL and national lists.
    Demo(demo::DemoArgs),
    /// Load generators (`bench submit`: end-to-end exchange throughput and latency; `bench soak`:
    /// memory under sustained load).
    #[command(subcommand)]
    Bench(BenchCommands),
    /// Translate addresses between national spaces; import and look up the directory.
    #[command(subcommand)]
    Address(address::AddressCommand),
    /// Verify a wallet presentation (SD-JWT VC or mdoc).
    #[command(subcommand)]
    Identity(identity::IdentityCommand),
    /// Replay, export and verify the exchange journal (auditors).
    #[command(subcommand)]
    Journal(journal::JournalCommand),
    /// Verify trusted lists, load the LOTL into the store, show services, check certificates.
    #[command(subcommand)]
    Trust(trust::TrustCommand),
}

/// `bench` subcommands: those of `cli/bench.rs`, and `soak` (`cli/soak.rs`).
#[derive(Debug, Subcommand)]
pub enum BenchCommands {
    /// The throughput and latency benchmarks.
    #[command(flatten)]
    Load(bench::BenchCommand),
    /// Memory soak: FR -> BE at 80% of the maximum rate, RSS sampled over time; exit 1 when RSS
    /// grows or a message is lost.
    Soak(soak::SoakArgs),
}

/// Parses the process arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(config),
        Command::Demo(args) => demo::run(args, cli.json),
        Command::Bench(BenchCommands::Load(cmd)) => bench::run(cmd, cli.json),
        Command::Bench(BenchCommands::Soak(args)) => soak::run(args, cli.json),
        Command::Address(cmd) => address::run(cmd, cli.json),
        Command::Identity(cmd) => identity::run(cmd, cli.json),
        Command::Journal(cmd) => journal::run(cmd, cli.json),
        Command::Trust(cmd) => trust::run(cmd, cli.json),
    }
}

/// Reads the configuration file (if any) and the environment.
///
/// # Errors
/// Every configuration problem, or the file's I/O error as a configuration problem.
pub fn load_config(path: Option<&PathBuf>) -> Result<Config, String> {
    let text = match path {
        Some(p) => Some(
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
        ),
        None => None,
    };
    Config::load(text.as_deref(), &ProcessEnv).map_err(|ConfigErrors(errors)| {
        let mut out = format!("{} configuration error(s):", errors.len());
        for e in errors {
            out.push_str(&format!("\n  - {e}"));
        }
        out
    })
}

fn serve(config_path: Option<PathBuf>) -> ExitCode {
    let config = match load_config(config_path.as_ref()) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async move {
        let listen = config.server.listen;
        let metrics_listen = config.metrics.listen;
        let (mut gateway, report) = match Gateway::prepare(config) {
            Ok(g) => g,
            Err(e) => {
                eprintln!("cannot start: {e}");
                return ExitCode::from(2);
            }
        };
        // With a seal configured, the gateway relays: peers are trusted through the refreshing
        // trusted lists only.
        if gateway.config().exchange.seal_cert.is_some() {
            let trust: std::sync::Arc<dyn crate::exchange::PeerTrust> =
                gateway.trust().state().clone();
            if let Err(e) = gateway.enable_exchange(trust) {
                eprintln!("cannot start the exchange: {e}");
                return ExitCode::from(2);
            }
        }
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("cannot listen on {listen}: {e}");
                return ExitCode::from(2);
            }
        };
        let metrics_listener = match metrics_listen {
            Some(addr) => match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => Some(l),
                Err(e) => {
                    eprintln!("cannot listen for metrics on {addr}: {e}");
                    return ExitCode::from(2);
                }
            },
            None => None,
        };
        // Written with errors ignored: a closed stdout (a supervisor that stopped reading) must not
        // take the gateway down.
        let mut out = std::io::stdout().lock();
        if let Some((dir, created)) = &report.dev_pki {
            let verb = if *created { "generated" } else { "reusing" };
            let _ = writeln!(out, "development PKI ({verb}) in {}:", dir.display());
            for (what, path) in &report.dev_files {
                let _ = writeln!(out, "  {what:<20} {}", path.display());
            }
        }
        let _ = writeln!(out, "store: {}", report.store.display());
        // DESIGN.md: with no network the gateway serves the stored snapshot, or none, and says so.
        match report.trust_snapshot {
            Some(d) => {
                let _ = writeln!(out, "trust snapshot (stored): {}", hex::encode(d));
            }
            None => {
                let _ = writeln!(
                    out,
                    "no stored trust snapshot: nothing is trusted until a refresh succeeds"
                );
            }
        }
        if let Some(addr) = metrics_listener.as_ref().and_then(|l| l.local_addr().ok()) {
            let _ = writeln!(out, "metrics on http://{addr}/metrics");
        }
        if let Ok(addr) = listener.local_addr() {
            let _ = writeln!(out, "grpc (mutual TLS) listening on {addr}");
        }
        let _ = out.flush();
        drop(out);
        tracing::info!(%listen, "gateway started");
        let reloads = tokio::spawn(crate::shutdown::forward_reloads(gateway.reload_handle()));
        let served = gateway
            .run(listener, metrics_listener, crate::shutdown::signal())
            .await;
        reloads.abort();
        match served {
            Ok(()) => {
                tracing::info!("gateway stopped");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("gateway stopped: {e}");
                ExitCode::from(1)
            }
        }
    })
}
