//! What `bench submit` adds to its rates so that a reader can tell where the CPU of an exchange
//! goes: the process CPU time spent per phase, and the cost of the four public-key operations
//! every message needs (FR seals, BE verifies the seal, BE signs the receipt, FR verifies it).
//!
//! From these it derives a ceiling for the end-to-end/echo ratio. On a machine where the echo is
//! CPU-bound, the echo rate is `cores / c_echo` (CPU per echo call, client and server). One
//! exchange is at least two such calls (Submit, Deliver) plus the four operations, so its rate is
//! at most `cores / (2 c_echo + 2 (sign + verify))`: the ratio cannot exceed
//! `c_echo / (2 c_echo + 2 (sign + verify))` however cheap storage and journaling become, as long
//! as each message carries its own seal and its own receipt. An exchange call carries the payload
//! one way where the echo carries it both ways, but that is not what a call costs: 4 KiB of
//! AES-GCM and copies are a few microseconds against the tens of the HTTP/2, TLS record and
//! syscall work each call pays whatever its size.

use std::time::Instant;

use openssl::pkey::PKey;

use crate::exchange::{SealKey, SignerKeys};
use crate::tls;

/// Ticks per second of the CPU times in `/proc/self/stat`: `USER_HZ`, fixed at 100 by the Linux
/// ABI for these files whatever the kernel's internal tick rate.
const PROC_TICKS_PER_SECOND: f64 = 100.0;

/// Signatures (and verifications) timed to measure their cost: a few tens of milliseconds of
/// work, enough to average out scheduling noise without lengthening the benchmark.
const KEY_OPERATIONS: u32 = 400;

/// CPU seconds (user and system, all threads) this process has used; `None` without procfs.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_cpu_ticks(&stat).map(|ticks| ticks as f64 / PROC_TICKS_PER_SECOND)
}

/// utime + stime from a `/proc/PID/stat` line: fields 14 and 15, counted after the command name,
/// which is parenthesised and may itself contain spaces or parentheses.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards: utime is the 12th of them, stime the 13th.
    let mut fields = after_comm.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Microseconds of one seal signature and one verification with the bridge's own seal key type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyCost {
    /// One signature, µs.
    pub sign_us: f64,
    /// One verification with a cached public key (as the exchange does), µs.
    pub verify_us: f64,
}

/// Times `KEY_OPERATIONS` signatures and verifications with the seal whose chain and key are
/// the PEM files `chain_pem` and `key_pem`.
///
/// # Errors
/// Unreadable files, or a key the seal does not support.
pub fn key_cost(chain_pem: &std::path::Path, key_pem: &std::path::Path) -> Result<KeyCost, String> {
    let chain = tls::read_certs(chain_pem).map_err(|e| e.to_string())?;
    let leaf = chain
        .first()
        .ok_or("seal chain is empty")?
        .to_der()
        .map_err(|e| e.to_string())?;
    let key_bytes = std::fs::read(key_pem).map_err(|e| e.to_string())?;
    let key = PKey::private_key_from_pem(&key_bytes).map_err(|e| e.to_string())?;
    let seal = SealKey::new(key, chain);
    let content = [0x42u8; 256];
    let start = Instant::now();
    let mut signature = Vec::new();
    for _ in 0..KEY_OPERATIONS {
        signature = seal.sign(&content).map_err(|e| e.to_string())?;
    }
    let sign_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(KEY_OPERATIONS);
    let keys = SignerKeys::new();
    keys.verify(&leaf, &content, &signature)
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    for _ in 0..KEY_OPERATIONS {
        keys.verify(&leaf, &content, &signature)
            .map_err(|e| e.to_string())?;
    }
    let verify_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(KEY_OPERATIONS);
    Ok(KeyCost { sign_us, verify_us })
}

/// The highest end-to-end/echo ratio reachable with two calls and four key operations per
/// message, given the CPU of one echo call (module doc).
pub fn ratio_ceiling(echo_cpu_us: f64, keys: KeyCost) -> f64 {
    let per_message = 2.0 * echo_cpu_us + 2.0 * (keys.sign_us + keys.verify_us);
    if per_message > 0.0 {
        echo_cpu_us / per_message
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_after_a_command_name_with_spaces_and_parentheses() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0";
        assert_eq!(parse_cpu_ticks(stat), Some(1801));
        assert_eq!(parse_cpu_ticks("4242 (short) S 1 2"), None);
        assert_eq!(parse_cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn this_process_has_used_some_cpu() {
        let spin: u64 = (0..2_000_000u64).fold(0, |a, b| a.wrapping_add(b * b));
        assert_ne!(spin, 1);
        let used = process_cpu_seconds().expect("procfs on the test machines");
        assert!(used > 0.0, "{used}");
    }

    #[test]
    fn the_ceiling_counts_two_calls_and_four_key_operations() {
        let keys = KeyCost {
            sign_us: 15.0,
            verify_us: 45.0,
        };
        // 60 µs per echo call: 120 µs of calls + 120 µs of keys per message.
        assert!((ratio_ceiling(60.0, keys) - 0.25).abs() < 1e-12);
        assert_eq!(
            ratio_ceiling(
                0.0,
                KeyCost {
                    sign_us: 0.0,
                    verify_us: 0.0
                }
            ),
            0.0
        );
    }
}
