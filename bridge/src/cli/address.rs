//! `eidas-bridge address translate|import|lookup`: the command-line face of [`crate::addressing`] and the
//! sled directory (DESIGN.md "Command line"). Exit 0 on success, 1 when the address or file is refused,
//! 2 on usage or input errors (one-line reason on stderr). With `--json`, one JSON object per line.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;

use crate::addressing::{
    import_into_memory, parse_records, Directory, Entry, Hcid, ImportFailure, ImportFormat,
    MemoryDirectory, Space, TiEnvironment, Translator, TranslatorConfig, DEFAULT_KIM_GATEWAY,
    DEFAULT_MSSANTE_GATEWAY,
};
use crate::store::directory::{DirectoryStore, DirectoryStoreError};

/// Default data directory, as `eidas-bridge serve` with no configuration (DESIGN.md "first run").
const DEFAULT_DATA_DIR: &str = "data";

/// `address` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AddressCommand {
    /// Translate ADDRESS from one space to another (canonical, mssante, kim, ehealthbox, peppol, ehdsi).
    Translate {
        /// The address in the source space.
        address: String,
        /// Source space.
        #[arg(long)]
        from: String,
        /// Target space.
        #[arg(long)]
        to: String,
        /// Directory as a TSV fixture (`space, address, hcid, role, bal_type, source`).
        #[arg(long, conflicts_with = "data")]
        directory: Option<PathBuf>,
        /// Read the directory from the bridge's data directory instead.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Gateway alias domain in the MSSanté space.
        #[arg(long, default_value = DEFAULT_MSSANTE_GATEWAY)]
        mssante_gateway: String,
        /// Gateway alias domain in the KIM space.
        #[arg(long, default_value = DEFAULT_KIM_GATEWAY)]
        kim_gateway: String,
        /// The bridge runs in the TI test environment (`*.kim.telematik-test`).
        #[arg(long)]
        ti_test: bool,
    },
    /// Import a directory file into the bridge's directory (atomic: all rows or nothing).
    Import {
        /// The file.
        file: PathBuf,
        /// Its format.
        #[arg(long, value_parser = ["tsv", "mssante", "fhir", "ldif"])]
        format: String,
        /// The bridge's data directory.
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data: PathBuf,
        /// Import the good rows and skip (report) the bad ones.
        #[arg(long)]
        skip_bad_rows: bool,
    },
    /// Show the directory entries of an e-mail ADDRESS or an hcid.
    Lookup {
        /// A mailbox address or `hcid:…`.
        query: String,
        /// The bridge's data directory.
        #[arg(long, default_value = DEFAULT_DATA_DIR, conflicts_with = "directory")]
        data: PathBuf,
        /// Directory as a TSV fixture instead of the data directory.
        #[arg(long)]
        directory: Option<PathBuf>,
    },
}

/// Runs an `address` subcommand.
pub fn run(cmd: AddressCommand, json: bool) -> ExitCode {
    match cmd {
        AddressCommand::Translate {
            address,
            from,
            to,
            directory,
            data,
            mssante_gateway,
            kim_gateway,
            ti_test,
        } => {
            let config = TranslatorConfig {
                mssante_gateway: mssante_gateway.to_ascii_lowercase(),
                kim_gateway: kim_gateway.to_ascii_lowercase(),
                ti_environment: if ti_test {
                    TiEnvironment::Test
                } else {
                    TiEnvironment::Production
                },
            };
            match (directory, data) {
                (_, Some(data)) => match open_store(&data) {
                    Ok(store) => {
                        translate(&Translator::new(config, store), &address, &from, &to, json)
                    }
                    Err(code) => code,
                },
                (Some(file), None) => match load_tsv(&file) {
                    Ok(dir) => translate(&Translator::new(config, dir), &address, &from, &to, json),
                    Err(code) => code,
                },
                (None, None) => translate(
                    &Translator::new(config, MemoryDirectory::new()),
                    &address,
                    &from,
                    &to,
                    json,
                ),
            }
        }
        AddressCommand::Import {
            file,
            format,
            data,
            skip_bad_rows,
        } => import(&file, &format, &data, skip_bad_rows, json),
        AddressCommand::Lookup {
            query,
            data,
            directory,
        } => match directory {
            Some(file) => match load_tsv(&file) {
                Ok(dir) => lookup(&dir, None, &query, json),
                Err(code) => code,
            },
            None => match open_store(&data) {
                Ok(store) => lookup(&store, Some(&store), &query, json),
                Err(code) => code,
            },
        },
    }
}

/// Prints a one-line reason and returns exit status 2.
fn input_error(reason: &str) -> ExitCode {
    eprintln!("eidas-bridge address: {reason}");
    ExitCode::from(2)
}

fn open_store(data: &Path) -> Result<DirectoryStore, ExitCode> {
    let store = crate::store::Store::open(data).map_err(|e| {
        input_error(&format!(
            "cannot open data directory {}: {e}",
            data.display()
        ))
    })?;
    store
        .directory()
        .map_err(|e| input_error(&format!("cannot open directory: {e}")))
}

fn load_tsv(file: &Path) -> Result<MemoryDirectory, ExitCode> {
    let f = File::open(file)
        .map_err(|e| input_error(&format!("cannot read {}: {e}", file.display())))?;
    let mut dir = MemoryDirectory::new();
    import_into_memory(
        &mut dir,
        parse_records(ImportFormat::Tsv, BufReader::new(f)),
        false,
    )
    .map_err(|f| input_error(&format!("{}: {}", file.display(), first_error(&f))))?;
    Ok(dir)
}

fn first_error(f: &ImportFailure) -> String {
    f.errors
        .first()
        .map_or_else(|| f.to_string(), |e| format!("{f} (first: {e})"))
}

fn translate<D: Directory>(
    t: &Translator<D>,
    address: &str,
    from: &str,
    to: &str,
    json: bool,
) -> ExitCode {
    match t.translate(address, from, to) {
        Ok(out) => {
            if json {
                println!("{}", json!({ "output": out }));
            } else {
                println!("{out}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if json {
                println!("{}", json!({ "error": e.code() }));
            } else {
                eprintln!("eidas-bridge address: {} ({e})", e.code());
            }
            ExitCode::from(1)
        }
    }
}

fn import(file: &Path, format: &str, data: &Path, skip: bool, json: bool) -> ExitCode {
    let Some(format) = ImportFormat::parse(format) else {
        return input_error("unknown format");
    };
    let f = match File::open(file) {
        Ok(f) => f,
        Err(e) => return input_error(&format!("cannot read {}: {e}", file.display())),
    };
    let store = match open_store(data) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match store.import(parse_records(format, BufReader::new(f)), skip) {
        Ok(report) => {
            for e in &report.skipped {
                print_row_error(e.line, &e.kind.to_string(), json);
            }
            if json {
                let line = json!({ "imported": report.imported, "duplicates": report.duplicates, "skipped": report.skipped_count });
                println!("{line}");
            } else {
                println!(
                    "imported {} mailboxes ({} duplicates, {} bad rows skipped)",
                    report.imported, report.duplicates, report.skipped_count
                );
            }
            ExitCode::SUCCESS
        }
        Err(DirectoryStoreError::Rejected(failure)) => {
            for e in &failure.errors {
                print_row_error(e.line, &e.kind.to_string(), json);
            }
            if json {
                println!("{}", json!({ "imported": 0, "rejected": failure.count }));
            } else {
                eprintln!(
                    "eidas-bridge address: import refused, {} bad rows, nothing changed",
                    failure.count
                );
            }
            ExitCode::from(1)
        }
        Err(e) => input_error(&format!("import failed: {e}")),
    }
}

fn print_row_error(line: u64, error: &str, json: bool) {
    if json {
        println!("{}", json!({ "line": line, "error": error }));
    } else {
        eprintln!("line {line}: {error}");
    }
}

fn entry_json(e: &Entry) -> serde_json::Value {
    json!({
        "space": e.space.name(),
        "address": e.address,
        "hcid": e.hcid.to_string(),
        "role": e.role.map(|r| r.token()),
        "box_type": e.box_type.map(|b| b.code()),
        "source": e.source,
    })
}

fn lookup<D: Directory>(
    dir: &D,
    store: Option<&DirectoryStore>,
    query: &str,
    json: bool,
) -> ExitCode {
    let spaces = [Space::Mssante, Space::Kim];
    let mut found = Vec::new();
    let mut peer = None;
    if query
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("hcid:"))
    {
        let hcid = match Hcid::parse(query) {
            Ok(h) => h,
            Err(e) => return input_error(&format!("invalid hcid: {}", e.code())),
        };
        for space in spaces {
            match dir.lookup_hcid(space, &hcid) {
                Ok(v) => found.extend(v),
                Err(e) => return input_error(&e.to_string()),
            }
        }
        peer = store.and_then(|s| s.home_peer(&hcid).ok().flatten());
    } else {
        let address = query.to_ascii_lowercase();
        for space in spaces {
            match dir.lookup_address(space, &address) {
                Ok(v) => found.extend(v),
                Err(e) => return input_error(&e.to_string()),
            }
        }
    }
    for e in &found {
        if json {
            println!("{}", entry_json(e));
        } else {
            let role = e.role.map_or("", |r| r.token());
            println!("{}\t{}\t{}\t{role}", e.space, e.address, e.hcid);
        }
    }
    if let Some(peer) = peer {
        if json {
            println!("{}", json!({ "home_peer": peer }));
        } else {
            println!("home peer\t{peer}");
        }
    }
    if found.is_empty() {
        if !json {
            eprintln!("eidas-bridge address: not found");
        }
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
