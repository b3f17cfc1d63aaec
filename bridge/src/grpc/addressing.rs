//! `AddressingService`: translation between national spaces, home-peer resolution, directory
//! lookup and (admin) import. Requests are validated here; the rules live in `addressing`.

use std::io::BufReader;
use std::sync::Arc;

use bridge_proto::pb;
use bridge_proto::pb::addressing_service_server::AddressingService;
use tonic::{Request, Response, Status};

use crate::addressing::{
    parse_records, Directory, Entry, Hcid, ImportFormat, Space, Translator, MAX_INPUT_LEN,
};
use crate::error::Error;
use crate::store::directory::DirectoryStore;

/// Largest directory file accepted over gRPC; larger extractions go through `eidas-bridge address
/// import`, which streams from disk. 64 MiB also bounds the FHIR importer, which reads whole.
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;

/// The service over the sled-backed directory.
#[derive(Debug, Clone)]
pub struct AddressingApi {
    translator: Arc<Translator<DirectoryStore>>,
}

impl AddressingApi {
    /// Serves `translator`.
    pub fn new(translator: Arc<Translator<DirectoryStore>>) -> AddressingApi {
        AddressingApi { translator }
    }
}

fn required<'a>(field: &'static str, value: &'a str) -> Result<&'a str, Error> {
    if value.is_empty() {
        return Err(Error::InvalidField {
            field,
            reason: "required".into(),
        });
    }
    if value.len() > MAX_INPUT_LEN {
        return Err(Error::InvalidField {
            field,
            reason: format!("longer than {MAX_INPUT_LEN} bytes"),
        });
    }
    Ok(value)
}

fn entry_to_pb(e: Entry) -> pb::DirectoryEntry {
    pb::DirectoryEntry {
        space: e.space.to_string(),
        address: e.address,
        hcid: e.hcid.to_string(),
        role: e.role.map(|r| r.to_string()).unwrap_or_default(),
        box_type: e.box_type.map(|b| b.code().to_owned()).unwrap_or_default(),
        source: e.source,
    }
}

#[tonic::async_trait]
impl AddressingService for AddressingApi {
    async fn translate(
        &self,
        req: Request<pb::TranslateRequest>,
    ) -> Result<Response<pb::TranslateResponse>, Status> {
        let req = req.into_inner();
        let address = required("address", &req.address)?.to_owned();
        let from = Space::parse(required("from_space", &req.from_space)?).map_err(Error::from)?;
        let to = Space::parse(required("to_space", &req.to_space)?).map_err(Error::from)?;
        let translator = self.translator.clone();
        // The directory is sled: reads may touch disk.
        let out = tokio::task::spawn_blocking(move || -> Result<_, Error> {
            let participant = translator.identify(from, &address)?;
            let output = translator.render(&participant, to)?;
            Ok(pb::TranslateResponse {
                output,
                hcid: participant.hcid.to_string(),
            })
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
        Ok(Response::new(out))
    }

    async fn resolve(
        &self,
        req: Request<pb::ResolveRequest>,
    ) -> Result<Response<pb::ResolveResponse>, Status> {
        let req = req.into_inner();
        let hcid = Hcid::parse(required("hcid", &req.hcid)?).map_err(Error::from)?;
        let peer = self
            .translator
            .directory()
            .home_peer(&hcid)
            .map_err(Error::from)?
            .ok_or(Error::NotFound { what: "home_peer" })?;
        Ok(Response::new(pb::ResolveResponse {
            hcid: hcid.to_string(),
            country: hcid.country().to_owned(),
            peer_id: peer,
            peer_endpoint: String::new(),
        }))
    }

    async fn lookup(
        &self,
        req: Request<pb::LookupRequest>,
    ) -> Result<Response<pb::LookupResponse>, Status> {
        let query = required("query", &req.into_inner().query)?.to_owned();
        let translator = self.translator.clone();
        let entries = tokio::task::spawn_blocking(move || -> Result<Vec<Entry>, Error> {
            let dir = translator.directory();
            if query.starts_with("hcid:") {
                let hcid = Hcid::parse(&query)?;
                let mut all = Vec::new();
                for space in [Space::Mssante, Space::Kim] {
                    all.extend(
                        dir.lookup_hcid(space, &hcid)
                            .map_err(|_| crate::addressing::AddressError::DirectoryUnavailable)?,
                    );
                }
                Ok(all)
            } else {
                let lower = query.to_ascii_lowercase();
                let mut all = Vec::new();
                for space in [Space::Mssante, Space::Kim] {
                    if let Some(e) = dir
                        .lookup_address(space, &lower)
                        .map_err(|_| crate::addressing::AddressError::DirectoryUnavailable)?
                    {
                        all.push(e);
                    }
                }
                Ok(all)
            }
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
        Ok(Response::new(pb::LookupResponse {
            entries: entries.into_iter().map(entry_to_pb).collect(),
        }))
    }

    async fn import_directory(
        &self,
        req: Request<pb::ImportDirectoryRequest>,
    ) -> Result<Response<pb::ImportDirectoryResponse>, Status> {
        let req = req.into_inner();
        let format = match pb::DirectoryFormat::try_from(req.format) {
            Ok(pb::DirectoryFormat::Tsv) => ImportFormat::Tsv,
            Ok(pb::DirectoryFormat::Mssante) => ImportFormat::Mssante,
            Ok(pb::DirectoryFormat::Fhir) => ImportFormat::Fhir,
            Ok(pb::DirectoryFormat::Ldif) => ImportFormat::Ldif,
            _ => {
                return Err(Error::InvalidField {
                    field: "format",
                    reason: "one of TSV, MSSANTE, FHIR, LDIF".into(),
                }
                .into())
            }
        };
        if req.content.len() > MAX_IMPORT_BYTES {
            return Err(Error::InvalidField {
                field: "content",
                reason: format!("larger than {MAX_IMPORT_BYTES} bytes"),
            }
            .into());
        }
        let translator = self.translator.clone();
        let skip = req.skip_bad_rows;
        let report = tokio::task::spawn_blocking(move || {
            let records = parse_records(format, BufReader::new(req.content.as_slice()));
            translator.directory().import(records, skip)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(Error::from)?;
        Ok(Response::new(pb::ImportDirectoryResponse {
            imported: report.imported,
            bad_rows: report
                .skipped
                .iter()
                .map(|r| pb::BadRow {
                    line: r.line,
                    reason: r.kind.to_string(),
                })
                .collect(),
            applied: true,
        }))
    }
}
