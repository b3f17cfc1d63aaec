//! `conformance SUITE ARGS...`: runs one corpus suite, one JSON line per case and a closing
//! `N passed, M failed` line. Exit 0 when every case met its expectation, 1 otherwise, 2 on usage errors.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("addressing") => conformance::addressing::run(&args[1..]),
        Some("trust") => conformance::trust::run(&args[1..]),
        _ => {
            eprintln!("usage: conformance <addressing|wallet|trust> ARGS...");
            2
        }
    };
    std::process::exit(code);
}
