//! Webhook bodies: the byte-exact ExaVault v1 body, built from an event (pure, no I/O).
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

use crate::event::Event;

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
    use crate::event::{Operation, SharePath};

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
        };
        let body = V1::of(&event, "nas01", "nfs", 3).to_bytes();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"accountname":"nas01","username":"bob","operation":"Move","protocol":"nfs","path":"\/docs\/a.txt","sourcepath":"\/a.txt","attempt":3}"#
        );
    }
}
