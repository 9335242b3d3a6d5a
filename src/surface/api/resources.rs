//! `/resources`: a share's files for the automation ExaVault documented (a listener gets the
//! Upload webhook, downloads the file, then deletes it): info, list, download, delete. The
//! work is `crate::service::resources`'; this module reads requests and shapes answers as ExaVault's
//! SDKs read them (a resource's `id` is a number, taken back alone or as `id:N`; a download
//! is exactly 200 with `Content-Disposition: attachment; filename*=UTF-8''<name>`, or 413,
//! 429 or 507 when its zip is over a bound; a delete of several is 207 when its results
//! differ, and an error when it is refused whole or nothing could be deleted).

use std::io::Read;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State as AxumState;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, JsonBody, Query, Signed, State, answer, blocking};
use crate::service::resources::{
    Resource, ResourceError, ResourceKind, STALL, ZipLease, ZipRefusal,
};

/// What RFC 5987 lets a `filename*` value hold as it is; the rest is percent-encoded.
const ATTR_CHAR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

fn fault(e: ResourceError) -> ApiError {
    match e {
        // The bounds of zips: the API's own statuses, which the kinds the CLI shares lack.
        ResourceError::Zip(refusal) => {
            let (status, code, retry) = match &refusal {
                ZipRefusal::TooLarge(_) => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "ERROR_DOWNLOAD_TOO_LARGE",
                    None,
                ),
                ZipRefusal::TooMany(_) => {
                    (StatusCode::TOO_MANY_REQUESTS, "ERROR_RATE_LIMIT", Some(10))
                }
                ZipRefusal::NoRoom(_) => (
                    StatusCode::INSUFFICIENT_STORAGE,
                    "ERROR_INSUFFICIENT_STORAGE",
                    Some(60),
                ),
            };
            let mut error = ApiError::new(status, code, refusal.to_string());
            if let Some(secs) = retry {
                error
                    .headers
                    .push((header::RETRY_AFTER, HeaderValue::from(secs)));
            }
            error
        }
        other => ApiError::from_fault(&other),
    }
}

/// A resource as ExaVault's SDKs read one, with sharehook's `share` and hex `id` beside.
fn resource_json(r: &Resource) -> Value {
    let extension = match r.kind {
        ResourceKind::File => r
            .name
            .rsplit_once('.')
            .filter(|(stem, _)| !stem.is_empty())
            .map_or("", |(_, ext)| ext),
        ResourceKind::Dir => "",
    };
    json!({
        "id": r.number,
        "type": "resource",
        "attributes": {
            "hash": r.hash,
            "name": r.name,
            "extension": extension,
            "type": r.kind,
            "createdBy": r.created_by,
            "createdAt": r.created_at,
            "updatedAt": r.updated_at,
            "uploadDate": r.created_at,
            "path": r.path,
            "size": r.size,
            "fileCount": r.file_count,
            "previewable": false,
            "share": r.share,
            "resourceId": r.id,
        },
    })
}

/// The `{id}` of `/resources/{id}` and `/resources/list/{id}` (the last part of the path),
/// percent-decoded to bytes (names need not be UTF-8). The route is matched on the raw path,
/// so a `/` sent as `%2F` stays inside the parameter.
fn id_param(uri: &Uri) -> Result<Vec<u8>, ApiError> {
    let raw = uri
        .path()
        .rsplit_once('/')
        .map(|(_, id)| id)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            ApiError::invalid("id", "name a resource: its id, a path, id:N or hash:X")
        })?;
    Ok(percent_encoding::percent_decode_str(raw).collect())
}

/// `GET /resources/{id}`: one file or folder, by its id (the number the API gives), its
/// path, `id:N` or `hash:X`.
pub async fn info(AxumState(state): AxumState<State>, _: Signed, uri: Uri) -> ApiResult {
    let id = id_param(&uri)?;
    info_of(&state, id, "id").await
}

/// `GET /resources?resource=...`: ExaVault's properties of one file or folder, named as
/// `/resources/{id}` names it, in the query.
pub async fn info_by_query(
    AxumState(state): AxumState<State>,
    _: Signed,
    query: Query,
) -> ApiResult {
    let name = query.get("resource").ok_or_else(|| {
        ApiError::invalid(
            "resource",
            "name a resource: its id, a path, id:N or hash:X",
        )
    })?;
    info_of(&state, name.as_bytes().to_vec(), "resource").await
}

async fn info_of(state: &State, id: Vec<u8>, field: &'static str) -> ApiResult {
    let control = Arc::clone(&state.control);
    let found = blocking(move || {
        control
            .resources
            .info(&id)
            .map_err(|e| fault(e.in_field(field)))
    })
    .await?;
    answer(
        StatusCode::OK,
        json!({ "responseStatus": 200, "data": resource_json(&found), "included": [] }),
    )
}

/// `GET /resources/list?resource=/folder`: a folder's entries, with `offset`, `limit`,
/// `sort`, `type` (`file` or `dir`) and `name` (`*` for any run of characters).
pub async fn list(AxumState(state): AxumState<State>, _: Signed, query: Query) -> ApiResult {
    let folder = query.get("resource").unwrap_or("/").as_bytes().to_vec();
    list_of(&state, folder, "resource", &query).await
}

/// `GET /resources/list/{id}`: ExaVault's contents of a folder named by its id (or as
/// `/resources/{id}` names one), with the same parameters as `/resources/list`.
pub async fn list_contents(
    AxumState(state): AxumState<State>,
    _: Signed,
    uri: Uri,
    query: Query,
) -> ApiResult {
    let folder = id_param(&uri)?;
    list_of(&state, folder, "id", &query).await
}

async fn list_of(state: &State, folder: Vec<u8>, field: &'static str, query: &Query) -> ApiResult {
    let offset =
        usize::try_from(query.number("offset", 0, u64::from(u32::MAX), 0)?).unwrap_or(usize::MAX);
    let limit = usize::try_from(query.number("limit", 1, 1000, 100)?).unwrap_or(100);
    let sort = query.get("sort").map(str::to_owned);
    let kind = match query.get("type") {
        None => None,
        Some("file") => Some(ResourceKind::File),
        Some("dir") => Some(ResourceKind::Dir),
        Some(other) => {
            return Err(ApiError::invalid(
                "type",
                format!(
                    "\"{}\" is neither file nor dir",
                    crate::core::event::escape_controls(other)
                ),
            ));
        }
    };
    let name = super::activity::pattern(query, "name")?;
    let control = Arc::clone(&state.control);
    let (total, page) = blocking(move || {
        let (_, all) = control
            .resources
            .list(&folder, 0, 0, sort.as_deref())
            .map_err(|e| fault(e.in_field(field)))?;
        let kept: Vec<Resource> = all
            .into_iter()
            .filter(|r| kind.is_none_or(|k| r.kind == k))
            .filter(|r| name.as_ref().is_none_or(|p| p.matches(&r.name)))
            .collect();
        let total = kept.len();
        let page: Vec<Value> = kept
            .iter()
            .skip(offset)
            .take(limit)
            .map(resource_json)
            .collect();
        Ok((total, page))
    })
    .await?;
    answer(
        StatusCode::OK,
        json!({
            "responseStatus": 200,
            "totalResults": total,
            "returnedResults": page.len(),
            "data": page,
            "included": [],
        }),
    )
}

/// `GET /resources/download?resources[]=...`: one file as it is, several or a folder as a
/// zip (named by `downloadArchiveName` when given). Always 200 with the bytes.
pub async fn download(
    AxumState(state): AxumState<State>,
    Signed(caller): Signed,
    query: Query,
) -> ApiResult {
    let names: Vec<Vec<u8>> = query
        .all("resources")
        .into_iter()
        .map(|n| n.as_bytes().to_vec())
        .collect();
    if names.is_empty() {
        return Err(ApiError::invalid(
            "resources[]",
            "name at least one resource to download",
        ));
    }
    let archive = query.get("downloadArchiveName").map(str::to_owned);
    let control = Arc::clone(&state.control);
    let got = blocking(move || {
        let ids: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
        control.resources.download(&caller, &ids).map_err(fault)
    })
    .await?;
    let mut name = crate::core::event::escape_bytes(&got.name);
    if got.zip
        && let Some(archive) = archive
    {
        name = if archive.to_ascii_lowercase().ends_with(".zip") {
            archive
        } else {
            format!("{archive}.zip")
        };
    }
    let disposition = format!(
        "attachment; filename*=UTF-8''{}",
        percent_encoding::utf8_percent_encode(&name, ATTR_CHAR)
    );
    let content_type = if got.zip {
        "application/zip"
    } else {
        "application/octet-stream"
    };
    let mut response = Body::new(FileBody::start(got.file, got.lease, STALL)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(got.size));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition)
            .map_err(|e| ApiError::internal(format!("a download's name: {e}")))?,
    );
    Ok(response)
}

/// `DELETE /resources/{id}`: one file, or a folder with everything in it.
pub async fn delete_one(
    AxumState(state): AxumState<State>,
    Signed(caller): Signed,
    uri: Uri,
) -> ApiResult {
    let id = id_param(&uri)?;
    let control = Arc::clone(&state.control);
    let mut results = blocking(move || {
        control
            .resources
            .delete(&caller, &[&id])
            .map_err(|e| fault(e.in_field("id")))
    })
    .await?;
    match results.pop() {
        Some((_, Ok(()))) => answer(StatusCode::OK, json!({ "responseStatus": 200, "data": [] })),
        Some((_, Err(e))) => Err(fault(e)),
        None => Err(ApiError::internal("a delete gave no result")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteBody {
    resources: Vec<Name>,
}

/// A resource in a JSON body: a name, or the number the API gave as its `id` (a client
/// holding a resource as the SDK read it sends the number as it is).
#[derive(Deserialize)]
#[serde(untagged)]
enum Name {
    Text(String),
    Number(u64),
}

impl Name {
    fn into_bytes(self) -> Vec<u8> {
        match self {
            Name::Text(text) => text.into_bytes(),
            Name::Number(n) => n.to_string().into_bytes(),
        }
    }
}

/// `DELETE /resources` with `{"resources":[...]}`: 207, one answer per resource in order,
/// when at least one was deleted. A request refused as a whole (a viewer, a share that does
/// not allow deleting, a name that cannot be) is refused with that refusal's status before
/// anything is deleted; one where no resource could be deleted is answered with the first
/// failure's status and every resource's error, so that a client sees it failed.
pub async fn delete_many(
    AxumState(state): AxumState<State>,
    Signed(caller): Signed,
    JsonBody(body): JsonBody<DeleteBody>,
) -> ApiResult {
    if body.resources.is_empty() {
        return Err(ApiError::invalid(
            "resources",
            "name at least one resource to delete",
        ));
    }
    if body.resources.len() > 1000 {
        return Err(ApiError::invalid(
            "resources",
            "at most 1000 resources in one request",
        ));
    }
    let control = Arc::clone(&state.control);
    let names: Vec<Vec<u8>> = body.resources.into_iter().map(Name::into_bytes).collect();
    let results = blocking(move || {
        let ids: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
        control.resources.delete(&caller, &ids).map_err(fault)
    })
    .await?;
    let results: Vec<(String, Result<(), ApiError>)> = results
        .into_iter()
        .map(|(name, result)| (name, result.map_err(fault)))
        .collect();
    if results.iter().all(|(_, r)| r.is_err()) {
        let errors: Vec<Value> = results
            .iter()
            .filter_map(|(_, r)| r.as_ref().err())
            .map(|e| json!({ "code": e.code, "detail": e.detail }))
            .collect();
        let status = results
            .iter()
            .find_map(|(_, r)| r.as_ref().err())
            .map_or(StatusCode::INTERNAL_SERVER_ERROR, |e| e.status);
        return Ok((
            status,
            axum::Json(json!({ "responseStatus": status.as_u16(), "errors": errors })),
        )
            .into_response());
    }
    let responses: Vec<Value> = results
        .into_iter()
        .map(|(name, result)| match result {
            Ok(()) => json!({ "responseStatus": 200, "data": { "resource": name } }),
            Err(e) => json!({
                "responseStatus": e.status.as_u16(),
                "errors": [{ "code": e.code, "detail": e.detail }],
            }),
        })
        .collect();
    answer(
        StatusCode::MULTI_STATUS,
        json!({ "responseStatus": 207, "data": [], "responses": responses }),
    )
}

/// A file sent in chunks read on a blocking thread; the reading stops when the client goes,
/// or has read nothing for `stall` (`STALL`). The file (a zip's is unnamed: its room is given
/// back as it closes) and the zip's lease are dropped then.
struct FileBody {
    chunks: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
}

impl FileBody {
    /// Reads `file` a chunk at a time on a blocking thread, held only while it reads: a slow
    /// client keeps no thread.
    fn start(file: std::fs::File, lease: Option<ZipLease>, stall: std::time::Duration) -> FileBody {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let _lease = lease;
            let mut file = Some(file);
            while let Some(mut f) = file.take() {
                let read = tokio::task::spawn_blocking(move || {
                    let mut buf = vec![0; 64 * 1024];
                    loop {
                        match f.read(&mut buf) {
                            Ok(n) => {
                                buf.truncate(n);
                                return (f, Ok(buf));
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(e) => return (f, Err(e)),
                        }
                    }
                })
                .await;
                let chunk = match read {
                    Ok((_, Ok(buf))) if buf.is_empty() => return,
                    Ok((f, Ok(buf))) => {
                        file = Some(f);
                        Ok(Bytes::from(buf))
                    }
                    Ok((_, Err(e))) => {
                        log::warn!("api: a download stopped: {e}");
                        Err(e)
                    }
                    Err(e) => Err(std::io::Error::other(e)),
                };
                match tokio::time::timeout(stall, tx.send(chunk)).await {
                    Ok(Ok(())) => {}
                    // The client went away.
                    Ok(Err(_)) => return,
                    Err(_) => {
                        log::info!(
                            "api: a download's client read nothing for {} s; it is ended",
                            stall.as_secs()
                        );
                        return;
                    }
                }
            }
        });
        FileBody { chunks: rx }
    }
}

impl axum::body::HttpBody for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        self.chunks
            .poll_recv(cx)
            .map(|chunk| chunk.map(|r| r.map(http_body::Frame::data)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::service::resources::{ZipGate, ZipLimits};

    /// A zip's lease on a gate of its own, and a file of `len` bytes standing for its zip.
    fn leased_file(dir: &std::path::Path, len: usize) -> (Arc<ZipGate>, ZipLease, std::fs::File) {
        let gate = ZipGate::new(ZipLimits::default());
        let lease = gate.admit("ann", dir).unwrap();
        let path = dir.join("zip");
        std::fs::write(&path, vec![7u8; len]).unwrap();
        (gate, lease, std::fs::File::open(path).unwrap())
    }

    async fn until_given_back(gate: &ZipGate) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while gate.in_use().0 != 0 {
            assert!(Instant::now() < deadline, "the lease was never given back");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_download_whose_client_reads_nothing_ends_after_the_stall_and_gives_its_zip_back() {
        let dir = tempfile::tempdir().unwrap();
        // More than the chunks the channel holds, so that the reader waits on the client.
        let (gate, lease, file) = leased_file(dir.path(), 1 << 20);
        let body = FileBody::start(file, Some(lease), Duration::from_millis(200));
        assert_eq!(gate.in_use().0, 1);
        until_given_back(&gate).await;
        drop(body);
    }

    #[tokio::test]
    async fn a_download_whose_client_goes_gives_its_zip_back_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let (gate, lease, file) = leased_file(dir.path(), 1 << 20);
        let body = FileBody::start(file, Some(lease), Duration::from_secs(3600));
        drop(body);
        until_given_back(&gate).await;
    }

    #[tokio::test]
    async fn a_download_read_to_its_end_gives_its_zip_back() {
        let dir = tempfile::tempdir().unwrap();
        let (gate, lease, file) = leased_file(dir.path(), 300_000);
        let body = FileBody::start(file, Some(lease), Duration::from_secs(3600));
        let bytes = axum::body::to_bytes(Body::new(body), 1 << 20)
            .await
            .unwrap();
        assert_eq!(bytes.len(), 300_000);
        until_given_back(&gate).await;
    }
}
