//! The tests of `hooks`.

use std::path::PathBuf;

use super::*;
use crate::config::WatchMode;

fn shares(names: &[&str]) -> Vec<Share> {
    names
        .iter()
        .map(|n| Share {
            name: (*n).to_owned(),
            path: PathBuf::from(format!("/srv/{n}")),
            protocol: "smb".into(),
            watch: WatchMode::Auto,
            resources: crate::config::ResourceAccess::Off,
        })
        .collect()
}

fn parsed(shares: &[Share], text: &str) -> Result<(String, String), String> {
    parse_resource(shares, text).map(|(s, f)| (s, f.to_string()))
}

fn ok(share: &str, folder: &str) -> Result<(String, String), String> {
    Ok((share.to_owned(), folder.to_owned()))
}

#[test]
fn with_one_share_a_resource_is_share_relative() {
    let one = shares(&["public"]);
    assert_eq!(parsed(&one, "/"), ok("public", "/"));
    assert_eq!(parsed(&one, ""), ok("public", "/"));
    assert_eq!(parsed(&one, "/in/2024"), ok("public", "/in/2024"));
    assert_eq!(parsed(&one, "/in/2024/"), ok("public", "/in/2024"));
    assert_eq!(parsed(&one, "in//./x"), ok("public", "/in/x"));
    // The share's own name is a folder like any other.
    assert_eq!(parsed(&one, "/public"), ok("public", "/public"));
    let err = parsed(&one, "/in/../../etc").unwrap_err();
    assert!(err.contains("must not contain \"..\""), "{err}");
    assert!(parsed(&one, "/..").is_err());
    assert!(parsed(&one, "/a\0b").is_err());
    for folder in ["/", "/in/2024"] {
        let text = resource_string(&one, "public", &SharePath::from_config(folder));
        assert_eq!(text, folder);
        assert_eq!(parsed(&one, &text), ok("public", folder));
    }
}

#[test]
fn with_several_shares_a_resource_starts_with_its_share() {
    let two = shares(&["public", "scans"]);
    assert_eq!(parsed(&two, "/scans"), ok("scans", "/"));
    assert_eq!(parsed(&two, "/scans/"), ok("scans", "/"));
    assert_eq!(parsed(&two, "/public/in/x/"), ok("public", "/in/x"));
    let err = parsed(&two, "/").unwrap_err();
    assert!(err.contains("shares: public, scans"), "{err}");
    let err = parsed(&two, "/other/in").unwrap_err();
    assert!(err.contains("\"other\" is not one"), "{err}");
    assert!(parsed(&two, "/public/../scans").is_err());
    for (share, folder, text) in [
        ("scans", "/", "/scans"),
        ("public", "/in/x", "/public/in/x"),
    ] {
        let made = resource_string(&two, share, &SharePath::from_config(folder));
        assert_eq!(made, text);
        assert_eq!(parsed(&two, &made), ok(share, folder));
    }
    // A share no longer configured still gets a string that names it.
    let one = shares(&["public"]);
    assert_eq!(
        resource_string(&one, "gone", &SharePath::from_config("/a")),
        "/gone/a"
    );
}

fn changes(json: &str) -> TriggerChanges {
    serde_json::from_str(json).unwrap()
}

#[test]
fn triggers_merge_key_by_key_and_refuse_what_a_watcher_cannot_see() {
    let all = Operation::ALL.to_vec();
    let merged = merge_triggers(&all, &changes(r#"{"resources":{"upload":false}}"#)).unwrap();
    assert_eq!(
        merged,
        [
            Operation::Delete,
            Operation::Move,
            Operation::Rename,
            Operation::CreateFolder,
            Operation::Download,
            Operation::Copy
        ]
    );
    let merged = merge_triggers(
        &[],
        &changes(r#"{"resources":{"createFolder":true,"move":true,"download":false}}"#),
    )
    .unwrap();
    assert_eq!(merged, [Operation::Move, Operation::CreateFolder]);
    let merged = merge_triggers(&merged, &changes(r#"{"resources":{"download":true}}"#)).unwrap();
    assert_eq!(
        merged,
        [
            Operation::Move,
            Operation::CreateFolder,
            Operation::Download
        ]
    );
    // Accepted as false, refused as true, naming the trigger.
    let ok = r#"{"resources":{"compress":false,"extract":false},"shares":{"formSubmit":false}}"#;
    assert_eq!(merge_triggers(&all, &changes(ok)).unwrap(), all);
    for (json, field) in [
        (
            r#"{"resources":{"compress":true}}"#,
            "triggers.resources.compress",
        ),
        (
            r#"{"resources":{"extract":true}}"#,
            "triggers.resources.extract",
        ),
        (
            r#"{"shares":{"formSubmit":true}}"#,
            "triggers.shares.formSubmit",
        ),
    ] {
        let err = merge_triggers(&all, &changes(json)).unwrap_err();
        assert_eq!(err.kind(), Kind::invalid(field), "{json}");
    }
    let shown = Triggers::of(&[Operation::Upload, Operation::CreateFolder]);
    let json = serde_json::to_value(&shown).unwrap();
    assert_eq!(json["resources"]["upload"], true);
    assert_eq!(json["resources"]["createFolder"], true);
    assert_eq!(json["resources"]["move"], false);
    assert_eq!(json["resources"]["download"], false);
    let shown = Triggers::of(&[Operation::Download]);
    assert_eq!(
        serde_json::to_value(&shown).unwrap()["resources"]["download"],
        true
    );
    assert_eq!(json["shares"]["formSubmit"], false);
}

#[test]
fn a_body_of_the_wrong_shape_names_its_field() {
    let kind = |body: &str| Spec::from_json(body.as_bytes()).unwrap_err().kind();
    assert_eq!(
        kind(r#"{"triggers":{"resources":{"upload":"yes"}}}"#),
        Kind::invalid("triggers.resources.upload")
    );
    assert_eq!(kind(r#"{"endpointUrl":7}"#), Kind::invalid("endpointUrl"));
    assert_eq!(
        kind(r#"{"responseVersion":null,"resource":[]}"#),
        Kind::invalid("resource")
    );
    assert_eq!(kind("[1]"), Kind::invalid("body"));
    assert_eq!(kind("{"), Kind::invalid("body"));
    let spec = Spec::from_json(
        br#"{"endpointUrl":"http://a/","extra":1,"triggers":{"resources":{"move":true}}}"#,
    )
    .unwrap();
    assert_eq!(spec.endpoint_url.as_deref(), Some("http://a/"));
    assert_eq!(spec.triggers.unwrap().resources.moved, Some(true));
}

#[test]
fn a_spec_is_checked_field_by_field() {
    let one = shares(&["public"]);
    let mut record = ApiWebhook {
        id: 1000,
        url: "http://a/".into(),
        share: "public".into(),
        folder: SharePath::root(),
        format: "v1".into(),
        triggers: Operation::ALL.to_vec(),
        signature: "exavault".into(),
        created_ms: 0,
        modified_ms: 0,
        created_by: "root".into(),
    };
    let field =
        |spec: Spec, record: &mut ApiWebhook| apply(&one, record, &spec).unwrap_err().kind();
    let url = |u: &str| Spec {
        endpoint_url: Some(u.into()),
        ..Spec::default()
    };
    assert_eq!(
        field(url("ftp://x/"), &mut record),
        Kind::invalid("endpointUrl")
    );
    assert_eq!(
        field(url("not a url"), &mut record),
        Kind::invalid("endpointUrl")
    );
    let version = Spec {
        response_version: Some("v3".into()),
        ..Spec::default()
    };
    assert_eq!(
        field(version, &mut record),
        Kind::invalid("responseVersion")
    );
    let resource = Spec {
        resource: Some("/a/../..".into()),
        ..Spec::default()
    };
    assert_eq!(field(resource, &mut record), Kind::invalid("resource"));
    // Nothing was changed by the refused specs; a good one changes only what it names.
    assert_eq!(record.url, "http://a/");
    let spec = Spec {
        endpoint_url: Some(" https://b.example/h ".into()),
        resource: Some("/in/".into()),
        response_version: Some("v2".into()),
        triggers: None,
    };
    apply(&one, &mut record, &spec).unwrap();
    assert_eq!(record.url, "https://b.example/h");
    assert_eq!(record.folder, SharePath::from_config("/in"));
    assert_eq!(record.format, "v2");
    assert_eq!(record.triggers, Operation::ALL.to_vec());
}
