//! The demo's webhook receiver: an HTTP server inside the same process that checks each
//! `X-Exavault-Signature` and prints what arrived, the way a listener would see it.

use std::convert::Infallible;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::core::sign::{self, Token};

const MAX_BODY: usize = 1024 * 1024;

/// Serves until the task is dropped; prints one line per webhook received.
pub async fn serve(listener: TcpListener, token: Token) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                log::warn!("demo receiver: cannot accept a connection: {e}");
                continue;
            }
        };
        let token = token.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(req, token.clone()));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                log::debug!("demo receiver: connection ended: {e}");
            }
        });
    }
}

async fn handle(req: Request<Incoming>, token: Token) -> Result<Response<Full<Bytes>>, Infallible> {
    let signature = req
        .headers()
        .get("x-exavault-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            return Ok(answer(
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {e}"),
            ));
        }
    };
    let ok = sign::verify_exavault(token.expose(), &body, &signature);
    // The sender chose these bytes: nothing in them may drive the terminal.
    println!(
        "{}",
        crate::core::event::escape_controls(&describe(&body, ok))
    );
    Ok(answer(StatusCode::OK, "ok".into()))
}

/// One line about a received v1 body: operation, path, source path, attempt, signature.
pub fn describe(body: &[u8], signature_ok: bool) -> String {
    let check = if signature_ok {
        "signature ok"
    } else {
        "signature BAD"
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return format!(
            "received a body that is not JSON ({} bytes), {check}",
            body.len()
        );
    };
    let text = |key: &str| {
        json.get(key)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned()
    };
    let source = text("sourcepath");
    let from = if source.is_empty() {
        String::new()
    } else {
        format!(" (from {source})")
    };
    let attempt = json.get("attempt").and_then(|v| v.as_u64()).unwrap_or(0);
    format!(
        "received: {} {}{from} by {}, attempt {attempt}, {check}",
        text("operation"),
        text("path"),
        text("username")
    )
}

fn answer(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_operation_paths_and_signature() {
        let body = br#"{"accountname":"a","username":"bob","operation":"Move","protocol":"smb","path":"\/d\/x","sourcepath":"\/x","attempt":2}"#;
        assert_eq!(
            describe(body, true),
            "received: Move /d/x (from /x) by bob, attempt 2, signature ok"
        );
        assert_eq!(
            describe(b"nope", false),
            "received a body that is not JSON (4 bytes), signature BAD"
        );
    }
}
