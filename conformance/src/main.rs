//! `conformance SUITE ARGS...`: runs one corpus suite, one JSON line per case and a closing
//! `N passed, M failed` line, or `conformance report ...`, which runs every suite and writes the
//! conformance report. Exit 0 when every case met its expectation (expected failures included),
//! 1 otherwise, 2 on usage errors.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("addressing") => conformance::addressing::run(&args[1..]),
        Some("trust") => conformance::trust::run(&args[1..]),
        Some("wallet") => conformance::wallet::run(&args[1..]),
        Some("exchange") => conformance::exchange::run(&args[1..]),
        Some("report") => conformance::report::run(&args[1..]),
        _ => {
            eprintln!("usage: conformance <addressing|wallet|trust|exchange|report> ARGS...");
            2
        }
    };
    std::process::exit(code);
}
