//! How a folder's listing is sorted: by the fields ExaVault's `sort` names, folders first.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Key {
    Name,
    Size,
    Type,
    Created,
    Updated,
}

pub(super) fn parse_sort(text: &str) -> Result<Vec<(Key, bool)>, ResourceError> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, descending) = match part.strip_prefix('-') {
            Some(name) => (name, true),
            None => (part, false),
        };
        let key = match name.strip_prefix("sort_attributes_").unwrap_or(name) {
            "name" => Key::Name,
            "size" => Key::Size,
            "type" => Key::Type,
            "createdAt" | "created" => Key::Created,
            "updatedAt" | "modifiedAt" | "modified" => Key::Updated,
            other => {
                return Err(ResourceError::Invalid {
                    field: "sort",
                    detail: format!(
                        "unknown sort key {other:?} (known: name, size, type, createdAt, updatedAt; - before one for descending)"
                    ),
                });
            }
        };
        out.push((key, descending));
    }
    Ok(out)
}

pub(super) fn compare(order: &[(Key, bool)], a: &Resource, b: &Resource) -> std::cmp::Ordering {
    let kind = |r: &Resource| r.kind == ResourceKind::File;
    for &(key, descending) in order {
        let o = match key {
            Key::Name => a.name.cmp(&b.name),
            Key::Size => a.size.cmp(&b.size),
            Key::Type => kind(a).cmp(&kind(b)),
            Key::Created => a.created_ms.cmp(&b.created_ms),
            Key::Updated => a.updated_ms.cmp(&b.updated_ms),
        };
        let o = if descending { o.reverse() } else { o };
        if o.is_ne() {
            return o;
        }
    }
    a.name.cmp(&b.name)
}
