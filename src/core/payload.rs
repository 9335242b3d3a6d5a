//! Webhook bodies: the byte-exact ExaVault v1 body and the nested v2 body, built from an event
//! (pure, no I/O).
//!
//! ExaVault produced JSON the way PHP's `json_encode` does by default, and receivers verify
//! the signature over exactly those bytes, so the body is written by hand here rather than
//! by a serializer: compact, fields in a fixed order, `/` written as `\/`, every character
//! outside ASCII written as a lowercase `\uXXXX` escape (UTF-16, surrogate pairs above U+FFFF).
//!
//! File names on Linux are bytes. Each run of bytes that is not valid UTF-8 is written as
//! `\ufffd` (the replacement character), as `json_encode` does with
//! `JSON_INVALID_UTF8_SUBSTITUTE`: the event is still sent, and every JSON parser reads the
//! body (a lone surrogate escape would keep the bytes but PHP's and Rust's parsers refuse it).

use crate::core::event::Event;

/// The fields of an ExaVault v1 body, in the order they are written.
#[derive(Clone, Copy, Debug)]
pub struct V1<'a> {
    pub accountname: &'a str,
    pub username: &'a str,
    pub operation: &'a str,
    pub protocol: &'a str,
    pub path: &'a [u8],
    pub sourcepath: &'a [u8],
    pub attempt: u32,
}

impl<'a> V1<'a> {
    /// The v1 fields for delivering `event` as attempt number `attempt` (from 1).
    pub fn of(event: &'a Event, accountname: &'a str, protocol: &'a str, attempt: u32) -> Self {
        V1 {
            accountname,
            username: &event.username,
            operation: event.op.v1_name(),
            protocol,
            path: event.path.as_bytes(),
            sourcepath: event.source.as_ref().map_or(&[][..], |p| p.as_bytes()),
            attempt,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160 + self.path.len() + self.sourcepath.len());
        out.push(b'{');
        let text_fields: [(&str, &[u8]); 6] = [
            ("accountname", self.accountname.as_bytes()),
            ("username", self.username.as_bytes()),
            ("operation", self.operation.as_bytes()),
            ("protocol", self.protocol.as_bytes()),
            ("path", self.path),
            ("sourcepath", self.sourcepath),
        ];
        for (name, value) in text_fields {
            write_php_string(&mut out, name.as_bytes());
            out.push(b':');
            write_php_string(&mut out, value);
            out.push(b',');
        }
        write_php_string(&mut out, b"attempt");
        out.push(b':');
        out.extend_from_slice(self.attempt.to_string().as_bytes());
        out.push(b'}');
        out
    }
}

/// An ExaVault v2 body: the event nested as one resource, with sharehook's extensions
/// (`sourcePath` on the resource; `share`, and `attribution`, how the user, protocol and
/// address were found, at the top). Written with the same escaping as v1,
/// so a listener that hashes or compares raw bytes sees what ExaVault would have sent.
#[derive(Clone, Copy, Debug)]
pub struct V2<'a> {
    pub event: &'a Event,
    pub account_name: &'a str,
    pub protocol: &'a str,
    pub attempt: u32,
}

impl V2<'_> {
    pub fn to_bytes(&self) -> Vec<u8> {
        let e = self.event;
        let mut out = Vec::with_capacity(600 + 2 * e.path.as_bytes().len());
        let when = rfc3339(e.time_ms);
        let mut obj = Obj::open(&mut out);
        obj.text("accountName", self.account_name.as_bytes());
        obj.text("attemptId", format!("{}-{}", e.id, self.attempt).as_bytes());
        obj.text("event", e.op.v2_name().as_bytes());
        obj.text("eventTimestamp", when.as_bytes());
        obj.text("ipAddress", e.address.as_bytes());
        obj.text("protocol", self.protocol.as_bytes());
        obj.text("username", e.username.as_bytes());
        obj.key("eventData");
        let mut data = Obj::open(obj.out);
        data.key("resources");
        data.out.push(b'[');
        let mut res = Obj::open(data.out);
        // The number the resources API gives and takes (ExaVault's SDKs read `id` as a
        // number); the hex form is `hash`.
        let number = resource_number(&e.share, e.path.as_bytes());
        res.raw("id", number.to_string().as_bytes());
        res.text("hash", resource_id(&e.share, e.path.as_bytes()).as_bytes());
        res.text("name", e.path.name());
        res.text("path", e.path.as_bytes());
        res.text("type", if e.is_dir { b"dir" } else { b"file" });
        res.text("createdBy", e.username.as_bytes());
        res.text("createdAt", when.as_bytes());
        res.text("updatedAt", when.as_bytes());
        match e.size {
            Some(size) => res.raw("size", size.to_string().as_bytes()),
            None => res.raw("size", b"null"),
        }
        res.raw("fileCount", b"null");
        match &e.source {
            Some(source) => res.text("sourcePath", source.as_bytes()),
            None => res.raw("sourcePath", b"null"),
        }
        res.close();
        data.out.push(b']');
        data.text("transferStatus", b"success");
        data.close();
        obj.text("share", e.share.as_bytes());
        obj.text("attribution", e.attribution.as_str().as_bytes());
        obj.close();
        out
    }
}

/// A JSON object being written field by field.
struct Obj<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Obj<'o> {
    fn open(out: &'o mut Vec<u8>) -> Obj<'o> {
        out.push(b'{');
        Obj { out, first: true }
    }

    fn key(&mut self, name: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_php_string(self.out, name.as_bytes());
        self.out.push(b':');
    }

    fn text(&mut self, name: &str, value: &[u8]) {
        self.key(name);
        write_php_string(self.out, value);
    }

    fn raw(&mut self, name: &str, json: &[u8]) {
        self.key(name);
        self.out.extend_from_slice(json);
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// A resource's `id`, in v2 bodies and in the resources API alike: the first 52 bits of
/// `resource_id` as a number (ExaVault's SDKs read it as one), so it is stable and exact in
/// JavaScript (below 2^53), and the resources API finds the resource by it.
pub fn resource_number(share: &str, path: &[u8]) -> u64 {
    u64::from_str_radix(&resource_id(share, path)[..13], 16).unwrap_or(0)
}

/// A resource's `hash`: the MD5 of share and path, in hex (32 characters); the same path
/// always has the same hash, and the resources API finds the resource by it too.
pub fn resource_id(share: &str, path: &[u8]) -> String {
    use md5::{Digest, Md5};
    let mut md5 = Md5::new();
    md5.update(share.as_bytes());
    md5.update([0]);
    md5.update(path);
    md5.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Milliseconds since the Unix epoch as RFC 3339 in UTC, to the millisecond:
/// `2026-11-22T09:05:03.042Z`.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    // Days to a civil date (proleptic Gregorian), after Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.fff]Z` (UTC), the inverse of
/// `rfc3339`.
pub fn parse_rfc3339(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || !t.ends_with('Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let ms = match t.get(19..t.len() - 1) {
        Some("") => 0,
        Some(frac) if frac.starts_with('.') => {
            let digits = &frac[1..];
            let v: i64 = digits.get(..digits.len().min(3))?.parse().ok()?;
            v * 10i64.pow(3 - u32::try_from(digits.len().min(3)).ok()?)
        }
        _ => return None,
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), the inverse of `rfc3339`.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + s) * 1000) + ms)
}

/// Writes `bytes` as a JSON string the way PHP's `json_encode` does with default flags.
fn write_php_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '/' => out.extend_from_slice(b"\\/"),
                '\u{08}' => out.extend_from_slice(b"\\b"),
                '\u{0c}' => out.extend_from_slice(b"\\f"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                c if (c as u32) < 0x20 || ((c as u32) > 0x7f) => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        write_u_escape(out, *unit);
                    }
                }
                // Printable ASCII and DEL (0x7f), which PHP leaves as they are.
                c => out.push(c as u8),
            }
        }
        if !chunk.invalid().is_empty() {
            write_u_escape(out, 0xfffd);
        }
    }
    out.push(b'"');
}

fn write_u_escape(out: &mut Vec<u8>, unit: u16) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[usize::from((unit >> shift) & 0xf)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::{Operation, SharePath};

    fn fields<'a>(path: &'a [u8], sourcepath: &'a [u8]) -> V1<'a> {
        V1 {
            accountname: "nas01",
            username: "alice",
            operation: "Upload",
            protocol: "smb",
            path,
            sourcepath,
            attempt: 1,
        }
    }

    fn check(path: &[u8], expected_path_json: &str) {
        let body = String::from_utf8(fields(path, b"").to_bytes()).unwrap();
        let expected = format!(
            r#"{{"accountname":"nas01","username":"alice","operation":"Upload","protocol":"smb","path":{expected_path_json},"sourcepath":"","attempt":1}}"#
        );
        assert_eq!(body, expected);
    }

    #[test]
    fn compat_vector_body_is_byte_exact() {
        let body = V1 {
            accountname: "exampleaccount",
            username: "exampleaccount",
            operation: "Connect",
            protocol: "web",
            path: b"",
            sourcepath: b"",
            attempt: 1,
        }
        .to_bytes();
        assert_eq!(
            body,
            br#"{"accountname":"exampleaccount","username":"exampleaccount","operation":"Connect","protocol":"web","path":"","sourcepath":"","attempt":1}"#
        );
    }

    #[test]
    fn strings_are_escaped_as_php_json_encode_does() {
        check(b"/a/b.txt", r#""\/a\/b.txt""#);
        check("/résumé.pdf".as_bytes(), r#""\/r\u00e9sum\u00e9.pdf""#);
        check(
            "/Ünïcødé €".as_bytes(),
            r#""\/\u00dcn\u00efc\u00f8d\u00e9 \u20ac""#,
        );
        check("/😀.png".as_bytes(), r#""\/\ud83d\ude00.png""#);
        check("/日本".as_bytes(), r#""\/\u65e5\u672c""#);
        check(b"/say \"hi\"\\", r#""\/say \"hi\"\\""#);
        check(b"/tab\there\nnl\r\x08\x0c", r#""\/tab\there\nnl\r\b\f""#);
        check(b"/ctl\x01\x1f\x7f", "\"\\/ctl\\u0001\\u001f\x7f\"");
        check(b"/<&'>", r#""\/<&'>""#);
    }

    #[test]
    fn invalid_utf8_becomes_the_replacement_character() {
        check(b"/caf\xe9.txt", r#""\/caf\ufffd.txt""#);
        check(b"/\xff\xfe", r#""\/\ufffd\ufffd""#);
        check(b"/\xe2\x82.x", r#""\/\ufffd.x""#);
        let body = fields(b"/caf\xe9", b"").to_bytes();
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed["path"], "/caf\u{fffd}");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_007), "2000-02-29T00:00:00.007Z");
        assert_eq!(rfc3339(1_795_338_303_042), "2026-11-22T09:05:03.042Z");
        assert_eq!(rfc3339(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn v2_bodies_nest_the_event_as_a_resource() {
        let event = Event {
            id: 42,
            op: Operation::Rename,
            share: "public".into(),
            path: SharePath::from_config("/docs/b é.txt"),
            source: Some(SharePath::from_config("/docs/a.txt")),
            is_dir: false,
            username: "bob".into(),
            time_ms: 1_795_338_303_042,
            size: Some(12),
            protocol: None,
            address: String::new(),
            attribution: crate::core::event::Attribution::Owner,
        };
        let bytes = V2 {
            event: &event,
            account_name: "nas01",
            protocol: "smb",
            attempt: 3,
        }
        .to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(r#"{"accountName":"nas01","attemptId":"42-3","event":"resources.rename","eventTimestamp":"2026-11-22T09:05:03.042Z","ipAddress":"","protocol":"smb","username":"bob","eventData":{"resources":[{"id":"#), "{text}");
        assert!(text.contains(r#""name":"b \u00e9.txt","path":"\/docs\/b \u00e9.txt","type":"file","createdBy":"bob","#), "{text}");
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let r = &v["eventData"]["resources"][0];
        assert_eq!(r["size"], 12);
        assert_eq!(r["fileCount"], serde_json::Value::Null);
        assert_eq!(r["sourcePath"], "/docs/a.txt");
        // `id` is a JSON number, exact in JavaScript, and the id the resources API takes;
        // `hash` keeps the hex form, whose first 13 digits are the number.
        let hash = r["hash"].as_str().unwrap();
        assert_eq!(hash.len(), 32);
        let id = r["id"].as_u64().expect("a number");
        assert!(id < 1 << 53, "{id}");
        assert_eq!(id, resource_number("public", "/docs/b é.txt".as_bytes()));
        assert_eq!(u64::from_str_radix(&hash[..13], 16).unwrap(), id);
        assert_eq!(hash, resource_id("public", "/docs/b é.txt".as_bytes()));
        assert_eq!(v["eventData"]["transferStatus"], "success");
        assert_eq!(v["share"], "public");
    }

    #[test]
    fn event_fields_fill_the_body_in_order() {
        let event = Event {
            id: 7,
            op: Operation::Move,
            share: "public".into(),
            path: SharePath::from_config("/docs/a.txt"),
            source: Some(SharePath::from_config("/a.txt")),
            is_dir: false,
            username: "bob".into(),
            time_ms: 0,
            size: None,
            protocol: None,
            address: String::new(),
            attribution: crate::core::event::Attribution::Owner,
        };
        let body = V1::of(&event, "nas01", "nfs", 3).to_bytes();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"accountname":"nas01","username":"bob","operation":"Move","protocol":"nfs","path":"\/docs\/a.txt","sourcepath":"\/a.txt","attempt":3}"#
        );
    }
}
