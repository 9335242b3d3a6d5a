//! Checks of single values the configuration names, shared by the file and the API: a
//! webhook's URL (HTTP or a broker's) and whether a share's folder overlaps another's.

use std::path::Path;

use super::Share;

/// Why `share` (configured as `given`) may not sit beside `earlier`, if it may not: one folder
/// in two shares, or one share inside another, would report each change to one of them only
/// (the watch of a folder belongs to one share). Paths are compared canonical, so `..` and
/// symbolic links hide nothing.
pub(super) fn overlap(given: &Path, share: &Share, earlier: &[Share]) -> Option<String> {
    let real = &share.path;
    let shown = if given == real.as_path() {
        given.display().to_string()
    } else {
        format!("{} (which is {})", given.display(), real.display())
    };
    const RULE: &str = "shares must not overlap";
    earlier.iter().find_map(|other| {
        let (name, path) = (&other.name, other.path.display());
        if *real == other.path {
            Some(format!(
                "{shown} is the same folder as share \"{name}\" ({path}): {RULE}"
            ))
        } else if real.starts_with(&other.path) {
            Some(format!(
                "{shown} lies inside share \"{name}\" ({path}): {RULE} (a webhook's folder picks part of a share)"
            ))
        } else if other.path.starts_with(real) {
            Some(format!(
                "{shown} holds share \"{name}\" ({path}): {RULE} (a webhook's folder picks part of a share)"
            ))
        } else {
            None
        }
    })
}

pub fn check_url(url: &str) -> Result<(), String> {
    // The URL as said back: a password in it is not shown.
    let shown = crate::core::redact::mask_credentials(url);
    if crate::core::endpoint::broker_of(url).is_some() {
        return crate::core::endpoint::BrokerUrl::parse(url)
            .map(drop)
            .map_err(|m| format!("\"{shown}\" {m}"));
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("\"{shown}\" is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(format!(
                "\"{shown}\" is not an http://, https://, nats://, tls://, mqtt:// or mqtts:// URL"
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("\"{shown}\" has no host"));
    }
    Ok(())
}
