//! A webhook made or changed through the API: what is asked for (`Spec`, the trigger and
//! resource changes), how it is checked and applied, and how the file's and the state's
//! webhooks become one list.

use super::*;

/// What a webhook made or changed through the API asks for; ExaVault's keys, each optional
/// (a change leaves what it does not name as it is; triggers merge key by key).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub endpoint_url: Option<String>,
    /// A folder: share-relative with one share (`/folder/sub`, `/` the whole share); with
    /// several, `/<share>/folder/sub` (`/<share>` the whole share).
    pub resource: Option<String>,
    /// `v1` or `v2`.
    pub response_version: Option<String>,
    pub triggers: Option<TriggerChanges>,
}

impl Spec {
    /// Reads a request body (JSON); a value of the wrong type is refused naming its field as
    /// ExaVault spells it (`triggers.resources.upload`). Unknown keys are ignored.
    pub fn from_json(body: &[u8]) -> Result<Spec, HookError> {
        let not_object = |detail: String| {
            invalid(
                "body",
                format!("not a JSON object of webhook settings: {detail}"),
            )
        };
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| not_object(e.to_string()))?;
        if !value.is_object() {
            let kind = match value {
                serde_json::Value::Array(_) => "an array",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::Bool(_) => "a boolean",
                _ => "null",
            };
            return Err(not_object(format!("it is {kind}")));
        }
        serde_path_to_error::deserialize(value)
            .map_err(|e| invalid(&e.path().to_string(), e.inner().to_string()))
    }
}

/// ExaVault's triggers as a request gives them: each key set, or left as it was.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct TriggerChanges {
    #[serde(default)]
    pub resources: ResourceChanges,
    #[serde(default)]
    pub shares: ShareChanges,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceChanges {
    pub upload: Option<bool>,
    pub download: Option<bool>,
    pub delete: Option<bool>,
    pub rename: Option<bool>,
    pub copy: Option<bool>,
    #[serde(rename = "move")]
    pub moved: Option<bool>,
    pub compress: Option<bool>,
    pub extract: Option<bool>,
    pub create_folder: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShareChanges {
    pub form_submit: Option<bool>,
}

/// ExaVault's triggers as shown: the ones a watcher cannot see are always false.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Triggers {
    pub resources: ResourceTriggers,
    pub shares: ShareTriggers,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceTriggers {
    pub upload: bool,
    pub download: bool,
    pub delete: bool,
    pub rename: bool,
    pub copy: bool,
    #[serde(rename = "move")]
    pub moved: bool,
    pub compress: bool,
    pub extract: bool,
    pub create_folder: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShareTriggers {
    pub form_submit: bool,
}

impl Triggers {
    pub(super) fn of(ops: &[Operation]) -> Triggers {
        let has = |op| ops.contains(&op);
        Triggers {
            resources: ResourceTriggers {
                upload: has(Operation::Upload),
                delete: has(Operation::Delete),
                rename: has(Operation::Rename),
                moved: has(Operation::Move),
                create_folder: has(Operation::CreateFolder),
                download: has(Operation::Download),
                copy: has(Operation::Copy),
                ..ResourceTriggers::default()
            },
            shares: ShareTriggers::default(),
        }
    }
}

/// Every webhook the daemon would run on `store` with `config`: the file's, then those made
/// through the API (for the commands that act on a webhook while no daemon runs).
pub fn all_webhooks(config: &Config, store: &Store) -> Result<Vec<Webhook>, StoreError> {
    let mut all = config.webhooks.clone();
    all.extend(
        store
            .api_webhooks()?
            .iter()
            .filter(|api| !config.webhooks.iter().any(|w| w.id == api.id))
            .map(to_webhook),
    );
    Ok(all)
}

/// An API webhook as the rest of sharehook sees a webhook.
pub(super) fn to_webhook(api: &ApiWebhook) -> Webhook {
    Webhook {
        id: api.id,
        url: api.url.clone(),
        share: api.share.clone(),
        folder: api.folder.clone(),
        format: if api.format == Format::V2.name() {
            Format::V2
        } else {
            Format::V1
        },
        triggers: api.triggers.clone(),
        token: None,
        secret: None,
        signature: SignatureMode::Exavault,
        ca_file: None,
        credentials: None,
    }
}

/// Checks `spec` and applies it to `record`: what it names replaces what was, triggers key
/// by key.
pub(super) fn apply(
    shares: &[Share],
    record: &mut ApiWebhook,
    spec: &Spec,
) -> Result<(), HookError> {
    if let Some(url) = &spec.endpoint_url {
        let url = url.trim();
        crate::config::check_url(url).map_err(|m| invalid("endpointUrl", m))?;
        record.url = url.to_owned();
    }
    if let Some(resource) = &spec.resource {
        let (share, folder) =
            parse_resource(shares, resource).map_err(|m| invalid("resource", m))?;
        record.share = share;
        record.folder = folder;
    }
    if let Some(version) = &spec.response_version {
        record.format = match version.as_str() {
            "v1" | "v2" => version.clone(),
            other => {
                return Err(invalid(
                    "responseVersion",
                    format!("\"{other}\" is neither \"v1\" nor \"v2\""),
                ));
            }
        };
    }
    if let Some(t) = &spec.triggers {
        record.triggers = merge_triggers(&record.triggers, t)?;
    }
    Ok(())
}

/// `ops` with the changes of `t`; a trigger sharehook cannot see is refused when set true.
pub(super) fn merge_triggers(
    ops: &[Operation],
    t: &TriggerChanges,
) -> Result<Vec<Operation>, HookError> {
    let r = &t.resources;
    for (name, value, what) in [
        ("compress", r.compress, "archives made on the server"),
        ("extract", r.extract, "archives extracted on the server"),
    ] {
        if value == Some(true) {
            return Err(invalid(
                &format!("triggers.resources.{name}"),
                format!("sharehook watches the disk and cannot see {what}; it may only be false"),
            ));
        }
    }
    if t.shares.form_submit == Some(true) {
        return Err(invalid(
            "triggers.shares.formSubmit",
            "sharehook has no share forms; it may only be false",
        ));
    }
    let mut out = Vec::new();
    for (op, change) in [
        (Operation::Upload, r.upload),
        (Operation::Delete, r.delete),
        (Operation::Move, r.moved),
        (Operation::Rename, r.rename),
        (Operation::CreateFolder, r.create_folder),
        (Operation::Download, r.download),
        (Operation::Copy, r.copy),
    ] {
        if change.unwrap_or_else(|| ops.contains(&op)) {
            out.push(op);
        }
    }
    Ok(out)
}

/// The `resource` string of folder `folder` of share `share`: share-relative when it is the
/// only share (`/`, `/folder/sub`), else led by the share's name (`/share`, `/share/folder`).
pub fn resource_string(shares: &[Share], share: &str, folder: &SharePath) -> String {
    let folder = String::from_utf8_lossy(folder.as_bytes());
    if shares.len() == 1 && shares[0].name == share {
        return folder.into_owned();
    }
    if folder == "/" {
        format!("/{share}")
    } else {
        format!("/{share}{folder}")
    }
}

/// The share and folder a `resource` string names (see `resource_string`); the folder need
/// not exist. Refuses `..`, a share that is not configured, and, with several shares, a
/// string that names none.
pub fn parse_resource(shares: &[Share], text: &str) -> Result<(String, SharePath), String> {
    if text.contains('\0') {
        return Err("a path cannot hold a NUL character".into());
    }
    let mut parts = text
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .peekable();
    if text.split('/').any(|p| p == "..") {
        return Err(format!("\"{text}\" must not contain \"..\""));
    }
    let share = match shares {
        [] => return Err("no share is configured".into()),
        [only] => only.name.clone(),
        _ => {
            let names: Vec<&str> = shares.iter().map(|s| s.name.as_str()).collect();
            let Some(first) = parts.next() else {
                return Err(format!(
                    "with several shares, a folder starts with its share's name: \
                     /<share>/folder (shares: {})",
                    names.join(", ")
                ));
            };
            if !names.contains(&first) {
                return Err(format!(
                    "\"{text}\" names no share: \"{first}\" is not one (shares: {}); a folder \
                     starts with its share's name: /<share>/folder",
                    names.join(", ")
                ));
            }
            first.to_owned()
        }
    };
    let rest: Vec<&str> = parts.collect();
    Ok((share, SharePath::from_config(&rest.join("/"))))
}
