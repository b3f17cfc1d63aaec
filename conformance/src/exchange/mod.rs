//! The `exchange` suite: real bridges on 127.0.0.1:0 over mutual TLS, each with its own sled
//! store in a temporary directory, trusting each other only through the generated test LOTL and
//! national lists, exercised through the public gRPC API (DESIGN.md "Exchange semantics",
//! "Trust model and roles", "gRPC API" and "Journal").
//!
//! Every case names the rule it checks, its expected outcome and the observed one. Refusals are
//! compared on the status code, the `google.rpc.ErrorInfo` reason and the offending field or
//! check (DESIGN.md "gRPC API": machine-readable reasons), never on "refused" alone.
//!
//! # Layout
//! - `world`: the ecosystem, the bridges, and the operator-side calls (submit, status, Receive).
//! - `fake_peer`: a fake BE bridge that answers with altered receipts.
//! - `flows`: the main FR/BE pair: a down peer, end to end both ways, resends; it runs the
//!   cases of `submit`, `peer`, `roles` and `receive` on the same bridges.
//! - `submit`: refused submits and lookups, each with its exact code, reason and field.
//! - `outbound`: the sending bridge towards its peer: deadline, impostor peers.
//! - `peer`: the bridge-to-bridge cases (TLS identities, seals, receipts).
//! - `receive`: Receive with and without acknowledgement.
//! - `roles`: calls outside the caller's role.
//! - `audit`: the closing journal checks (offline verification and entry kinds).
//!
//! The scenario runs on its own two-thread tokio runtime; the whole suite takes a few seconds.

use std::sync::Arc;

use crate::case::{tally, CaseResult, Expectations};

mod audit;
mod fake_peer;
mod flows;
mod outbound;
mod peer;
mod receive;
mod roles;
mod submit;
mod world;

/// Suite name in reports and in the expectations file.
pub const SUITE: &str = "exchange";

/// The cases of one run, in the order they were made.
#[derive(Debug, Default)]
pub(crate) struct Cases {
    out: Vec<CaseResult>,
}

impl Cases {
    /// Records a case. `rule` is what the case checks, with the DESIGN.md section it comes from;
    /// an `Err` actual is a step that could not be made (reported as `error: ...`).
    pub(crate) fn push(
        &mut self,
        id: &str,
        rule: &str,
        expected: &str,
        actual: Result<String, String>,
    ) {
        let actual = actual.unwrap_or_else(|e| format!("error: {e}"));
        self.out.push(CaseResult {
            suite: SUITE.into(),
            id: id.into(),
            expected: expected.into(),
            pass: actual == expected,
            actual,
            note: Some(rule.into()),
        });
    }

    fn extend(&mut self, other: Cases) {
        self.out.extend(other.out);
    }
}

/// Runs the suite: starts the bridges, plays every case, stops them.
///
/// # Errors
/// A one-line reason when the bridges cannot be set up at all (cases that fail are results,
/// not errors).
pub fn run_suite() -> Result<Vec<CaseResult>, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    rt.block_on(scenario())
}

async fn scenario() -> Result<Vec<CaseResult>, String> {
    let w = Arc::new(world::World::new()?);
    // Independent bridges run at the same time as the main pair: the deadline (a FR bridge
    // whose peer never comes up) and the receipts (a FR bridge whose peer is the fake BE).
    let deadline = tokio::spawn(outbound::deadline(w.clone()));
    let receipts = tokio::spawn(peer::receipts(w.clone()));
    let impostors = tokio::spawn(outbound::impostors(w.clone()));
    let mut cases = flows::main_pair(&w).await?;
    for task in [deadline, receipts, impostors] {
        cases.extend(task.await.map_err(|e| format!("task: {e}"))??);
    }
    Ok(cases.out)
}

const USAGE: &str = "usage: conformance exchange [--expectations FILE]";

/// Entry point of `conformance exchange`: one JSON line per case (`id`, `expected`, `got`,
/// `pass`, `note`; listed expected failures also carry the reason and verdict), then
/// `N passed, M failed`. Exit 0 when every case met its expectation, 1 otherwise, 2 on usage
/// errors or when the bridges cannot be started.
pub fn run(args: &[String]) -> i32 {
    let exp = match args {
        [] => Expectations::embedded(),
        [flag, path] if flag == "--expectations" => match std::fs::read_to_string(path) {
            Ok(t) => Expectations::parse(&t),
            Err(e) => {
                eprintln!("conformance exchange: {path}: {e}");
                return 2;
            }
        },
        _ => {
            eprintln!("{USAGE}");
            return 2;
        }
    };
    let exp = match exp {
        Ok(e) => e,
        Err(e) => {
            eprintln!("conformance exchange: {e}");
            return 2;
        }
    };
    let cases = match run_suite() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("conformance exchange: {e}");
            return 2;
        }
    };
    for c in &cases {
        let mut line = serde_json::json!({
            "id": c.id,
            "expected": c.expected,
            "got": c.actual,
            "pass": c.pass,
        });
        if let (Some(note), Some(obj)) = (&c.note, line.as_object_mut()) {
            obj.insert("rule".into(), note.clone().into());
        }
        crate::case::annotate_line(&mut line, &exp.verdict(c));
        println!("{line}");
    }
    let (passed, failed) = tally(&cases, &exp);
    println!("{passed} passed, {failed} failed");
    i32::from(failed > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_case_passes_only_on_the_exact_outcome() {
        let mut c = Cases::default();
        c.push(
            "a",
            "rule",
            "InvalidArgument X",
            Ok("InvalidArgument X".into()),
        );
        c.push(
            "b",
            "rule",
            "InvalidArgument X",
            Ok("InvalidArgument Y".into()),
        );
        c.push("c", "rule", "DELIVERED", Err("timeout".into()));
        let pass: Vec<bool> = c.out.iter().map(|x| x.pass).collect();
        assert_eq!(pass, [true, false, false]);
        assert_eq!(c.out[2].actual, "error: timeout");
        assert_eq!(c.out[0].note.as_deref(), Some("rule"));
    }

    #[test]
    fn usage_errors() {
        assert_eq!(run(&["--bogus".into()]), 2);
        assert_eq!(run(&["--expectations".into(), "/nonexistent".into()]), 2);
    }
}
