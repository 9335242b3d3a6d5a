//! The management API against its real clients: ExaVault's own Python and JavaScript SDKs
//! unchanged, schemathesis driven by the OpenAPI document, and a brute force of access tokens.
//! Each runs a script of tests/api/ (with the Python of `SHAREHOOK_PYTHON`, made by
//! `bash tests/api/venv.sh`, or with node and the SDK of `SHAREHOOK_NODE_MODULES`, made by
//! `bash tests/api/node.sh`) against the real daemon, with users, a key and tokens made
//! through the real command line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::*;

/// The Python with exavault, schemathesis and standardwebhooks installed.
fn python() -> PathBuf {
    venv_python(&["exavault", "schemathesis", "standardwebhooks"])
}

/// node, and the folder of ExaVault's JavaScript SDK installed from tests/api/js's lock; a
/// clear failure saying how to install either when it is missing.
fn node_and_modules() -> (PathBuf, PathBuf) {
    let node = need("node", "nodejs npm");
    let how = "make it with `bash tests/api/node.sh` and run the tests with \
               SHAREHOOK_NODE_MODULES=\"$(bash tests/api/node.sh)\" (tests/all.sh does)";
    let modules = std::env::var_os("SHAREHOOK_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("SHAREHOOK_NODE_MODULES is not set: {how}"));
    assert!(
        modules.join("@exavault/exavault-api/package.json").exists(),
        "SHAREHOOK_NODE_MODULES={} holds no @exavault/exavault-api: {how}",
        modules.display()
    );
    (node, modules)
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/api")
        .join(name)
}

/// A running box with an admin (`ana`) and a viewer (`vic`), one API key and a token each.
struct ApiBox {
    receiver: Receiver,
    nas: Nas,
    daemon: Daemon,
    /// `http://127.0.0.1:PORT/api/v2`
    base: String,
    key: String,
    admin_token: String,
    viewer_token: String,
}

/// The share's files open to the API, for reading and deleting.
const READ_WRITE: &str = "resources = \"read-write\"\n";

/// The secret a command printed alone on its last line.
fn secret(nas: &Nas, args: &[&str]) -> String {
    let out = nas.cli(args);
    assert!(
        out.status.success(),
        "sharehook {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 output");
    text.lines()
        .last()
        .unwrap_or_else(|| panic!("sharehook {args:?} printed nothing"))
        .trim()
        .to_owned()
}

/// `share_lines` are added to the share's table (e.g. `resources = "read-write"`).
fn start_box(share_lines: &str) -> ApiBox {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config_with(&receiver.url(), "0", share_lines, "");
    let daemon = nas.start();
    let base = format!("{}/api/v2", daemon.web_url());
    secret(&nas, &["user", "add", "ana", "--role", "admin"]);
    secret(&nas, &["user", "add", "vic", "--role", "viewer"]);
    let key = secret(
        &nas,
        &["apikey", "add", "sdk", "--description", "the SDK tests"],
    );
    let admin_token = secret(&nas, &["token", "add", "--key", &key, "--user", "ana"]);
    let viewer_token = secret(&nas, &["token", "add", "--key", &key, "--user", "vic"]);
    ApiBox {
        receiver,
        nas,
        daemon,
        base,
        key,
        admin_token,
        viewer_token,
    }
}

/// The id of the webhook the configuration file defines (the one to the Rust receiver).
fn file_webhook_id(b: &ApiBox) -> String {
    let a = api(
        "GET",
        &format!("{}/webhooks", b.base),
        &[("ev-api-key", &b.key), ("ev-access-token", &b.admin_token)],
        None,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let url = b.receiver.url();
    a.body["data"]
        .as_array()
        .and_then(|hooks| {
            hooks
                .iter()
                .find(|h| h["attributes"]["endpointUrl"] == url.as_str())
        })
        .map(|h| h["id"].to_string())
        .unwrap_or_else(|| panic!("the file's webhook is listed: {}", a.body))
}

/// Runs the SDK script `name` of tests/api/ with `program` against the box, with the box's
/// credentials, share and webhook in its environment (and `more`); fails unless it ends "OK".
fn run_sdk(b: &ApiBox, program: &Path, name: &str, more: &[(&str, &str)], what: &str) -> Run {
    let file_hook = file_webhook_id(b);
    let share = b.nas.share();
    let patience = patience().as_secs().to_string();
    let mut env = vec![
        ("SHAREHOOK_API", b.base.as_str()),
        ("SHAREHOOK_KEY", &b.key),
        ("SHAREHOOK_TOKEN", &b.admin_token),
        ("SHAREHOOK_ADMIN", "ana"),
        ("SHAREHOOK_VIEWER_TOKEN", &b.viewer_token),
        ("SHAREHOOK_VIEWER", "vic"),
        ("SHAREHOOK_SHARE", share.to_str().unwrap()),
        ("SHAREHOOK_ACCOUNT", "testnas"),
        ("SHAREHOOK_FILE_WEBHOOK", &file_hook),
        ("SHAREHOOK_PATIENCE", &patience),
    ];
    env.extend_from_slice(more);
    let path = script(name);
    let r = run_script(
        program,
        &[path.to_str().unwrap()],
        &env,
        b.nas.dir.path(),
        Duration::from_secs(600),
    );
    assert!(
        r.ok && r.output.lines().last() == Some("OK"),
        "{what} against sharehook failed:\n{}\n--- daemon log:\n{}",
        r.output,
        b.daemon.log()
    );
    r
}

#[test]
fn exavault_python_sdk_manages_webhooks_reads_logs_and_runs_the_download_then_delete_automation() {
    let python = python();
    let b = start_box(READ_WRITE);
    let r = run_sdk(&b, &python, "sdk_check.py", &[], "ExaVault's SDK");
    for step in [
        "wrong token: 401",
        "regenerate-token: the next delivery verifies with the new token",
        "resources: info by path and by id:N, list",
        "automation: Upload, download, delete_resource_by_id, Delete by ana over api",
        "delete_resources: both deleted",
    ] {
        assert!(r.output.contains(step), "no step {step:?}:\n{}", r.output);
    }

    // The file's own webhook saw the same Delete, by the API user, signed as ExaVault did.
    let got = b.receiver.received();
    let delete = got
        .iter()
        .find(|r| {
            r.op()
                == (
                    "Delete".into(),
                    "/incoming/invoice-42.txt".into(),
                    "".into(),
                )
        })
        .unwrap_or_else(|| panic!("the file's webhook got the Delete: {:#?}", ops(&got)));
    let body = delete.json();
    assert_eq!(body["username"], "ana", "{body}");
    assert_eq!(body["protocol"], "api", "{body}");
    assert_eq!(
        delete.header("x-exavault-signature"),
        md5_signature(TOKEN, &delete.body)
    );
}

#[test]
fn exavault_javascript_sdk_reads_every_webhook_log_and_resource_answer_through_its_own_models() {
    let (node, modules) = node_and_modules();
    let b = start_box(READ_WRITE);
    let r = run_sdk(
        &b,
        &node,
        "js/sdk_check.js",
        &[("NODE_PATH", modules.to_str().unwrap())],
        "ExaVault's JavaScript SDK",
    );
    // Every group ran: the script counts at least this many checks when none is skipped.
    let line = r
        .output
        .lines()
        .find(|l| l.starts_with("checks: "))
        .unwrap_or_else(|| panic!("no count of checks:\n{}", r.output));
    let passed: usize = line
        .trim_start_matches("checks: ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 60, "{line}\n{}", r.output);
    println!("ExaVault's JavaScript SDK: {line}");
}

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_outside_the_openapi_document() {
    let python = python();
    let b = start_box(READ_WRITE);
    let schemathesis = python.with_file_name("schemathesis");
    assert!(
        schemathesis.exists(),
        "{} has no schemathesis: bash tests/api/venv.sh",
        python.display()
    );
    // Some files and folders, so that the resources routes have something to find.
    sh(
        &b.nas.share(),
        "mkdir -p docs/old && echo a > docs/a.txt && echo b > docs/old/b.txt",
    );
    // Under qemu every request is several times slower: fewer examples each.
    let examples = if std::env::var_os("SHAREHOOK_RUNNER").is_some() {
        "5"
    } else {
        "25"
    };
    let key = format!("ev-api-key: {}", b.key);
    let token = format!("ev-access-token: {}", b.admin_token);
    let document = format!("{}/openapi.json", b.base);
    // Valid data through every phase, then invalid data by fuzzing. The coverage phase's
    // invalid requests drop the credentials, and the failed sign-ins would soon have every
    // later request limited (429), testing nothing behind it: it runs with valid data only.
    for (mode, phases) in [
        ("positive", "examples,coverage,fuzzing,stateful"),
        ("negative", "fuzzing"),
    ] {
        let r = run_script(
            &schemathesis,
            &[
                "run",
                &document,
                "-H",
                &key,
                "-H",
                &token,
                "--checks",
                "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
                "--mode",
                mode,
                "--phases",
                phases,
                "--max-examples",
                examples,
                "--seed",
                "9",
                "--workers",
                "1",
                "--request-timeout",
                "30",
                "--no-color",
            ],
            &[],
            b.nas.dir.path(),
            Duration::from_secs(270),
        );
        assert!(
            r.ok,
            "schemathesis ({mode} data) found failures:\n{}\n--- daemon log:\n{}",
            r.output,
            b.daemon.log()
        );
        assert!(
            r.output.contains(" passed") && !r.output.contains(" failed"),
            "{}",
            r.output
        );
        assert!(
            !b.daemon.log().contains("failed sign-ins in a row"),
            "schemathesis ({mode} data) was limited: what followed was not tested\n{}",
            r.output
        );
    }
    // The daemon lived through it.
    let a = api(
        "GET",
        &format!("{}/account", b.base),
        &[("ev-api-key", &b.key), ("ev-access-token", &b.admin_token)],
        None,
    );
    assert_eq!(a.status, 200, "{}", a.body);
}

#[test]
fn a_thousand_wrong_tokens_are_limited_and_another_address_still_signs_in() {
    let python = python();
    let b = start_box("");
    let path = script("brute.py");
    let r = run_script(
        &python,
        &[path.to_str().unwrap()],
        &[
            ("SHAREHOOK_API", &b.base),
            ("SHAREHOOK_KEY", &b.key),
            ("SHAREHOOK_TOKEN", &b.admin_token),
            ("SHAREHOOK_ATTEMPTS", "1000"),
        ],
        b.nas.dir.path(),
        Duration::from_secs(300),
    );
    assert!(
        r.ok && r.output.lines().last() == Some("OK"),
        "the brute force was not held back:\n{}",
        r.output
    );
    assert!(
        r.output.contains("1000 wrong tokens") && r.output.contains("429"),
        "{}",
        r.output
    );
    assert!(b.daemon.log().contains("failed sign-ins in a row"));
}
