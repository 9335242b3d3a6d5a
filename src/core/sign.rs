//! Signatures and the secrets behind them: ExaVault's `md5(token || body)` and Standard
//! Webhooks' HMAC-SHA256, both verified in constant time, and secrets that never show up in
//! logs.

use std::fmt;

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// A webhook's verification token: 32 hex characters. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a verification token is 32 hex characters (0-9, a-f)")]
pub struct BadToken;

impl Token {
    pub fn parse(text: &str) -> Result<Token, BadToken> {
        if text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Token(text.to_owned()))
        } else {
            Err(BadToken)
        }
    }

    /// A new random token from the operating system's generator, lowercase like ExaVault's.
    pub fn generate() -> std::io::Result<Token> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Token(hex(&bytes)))
    }

    /// The secret itself, for signing and for storing. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A Standard Webhooks signing secret: `whsec_` and the base64 of a key of at least 24 bytes.
/// Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    text: String,
    key: Vec<u8>,
}

/// The shortest key a secret may decode to.
pub const MIN_SECRET_BYTES: usize = 24;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadSecret {
    #[error("a secret starts with \"whsec_\" followed by base64")]
    Prefix,
    #[error("the part after \"whsec_\" is not base64")]
    Base64,
    #[error("the secret's key is {0} bytes; at least {MIN_SECRET_BYTES} are needed")]
    Short(usize),
}

impl Secret {
    pub fn parse(text: &str) -> Result<Secret, BadSecret> {
        use base64::Engine;
        let b64 = text.strip_prefix("whsec_").ok_or(BadSecret::Prefix)?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| BadSecret::Base64)?;
        if key.len() < MIN_SECRET_BYTES {
            return Err(BadSecret::Short(key.len()));
        }
        Ok(Secret {
            text: text.to_owned(),
            key,
        })
    }

    /// The secret as written (`whsec_...`), for storing. Never log it.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The `webhook-signature` entry for one message: `v1,` and the base64 HMAC-SHA256 of
    /// `id.timestamp.body`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        use base64::Engine;
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.key);
        let mut ctx = ring::hmac::Context::with_key(&key);
        ctx.update(id.as_bytes());
        ctx.update(b".");
        ctx.update(timestamp.to_string().as_bytes());
        ctx.update(b".");
        ctx.update(body);
        let tag = ctx.sign();
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
        )
    }

    /// Checks a received `webhook-signature` header (space-separated `v1,...` entries, any of
    /// which may match) in constant time.
    pub fn verify(&self, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
        let expected = self.sign(id, timestamp, body);
        header.split_whitespace().fold(false, |ok, given| {
            ok | bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
        })
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The keys a webhook signs with: the current ones, and the ones they replaced, each with the
/// time (ms since the epoch) until which it keeps signing beside its successor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    pub token: Token,
    pub previous_token: Option<(Token, i64)>,
    pub secret: Option<Secret>,
    pub previous_secret: Option<(Secret, i64)>,
}

impl Keys {
    /// The replaced token, while it still signs at `now_ms`.
    pub fn old_token(&self, now_ms: i64) -> Option<&Token> {
        still(&self.previous_token, now_ms)
    }

    /// The replaced secret, while it still signs at `now_ms`.
    pub fn old_secret(&self, now_ms: i64) -> Option<&Secret> {
        still(&self.previous_secret, now_ms)
    }
}

fn still<K>(old: &Option<(K, i64)>, now_ms: i64) -> Option<&K> {
    old.as_ref()
        .filter(|(_, until)| *until > now_ms)
        .map(|(key, _)| key)
}

/// The `X-Exavault-Signature` value: lowercase hex MD5 of the token bytes followed by the body.
pub fn exavault(token: &str, body: &[u8]) -> String {
    let mut md5 = Md5::new();
    md5.update(token.as_bytes());
    md5.update(body);
    hex(&md5.finalize())
}

/// Checks a received `X-Exavault-Signature` (hex, either case) in constant time.
pub fn verify_exavault(token: &str, body: &[u8], signature: &str) -> bool {
    let expected = exavault(token, body);
    let given = signature.trim().to_ascii_lowercase();
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_TOKEN: &str = "efb7e0030e6cef1b45d3d74a67881a2b";
    const VECTOR_BODY: &str = r#"{"accountname":"exampleaccount","username":"exampleaccount","operation":"Connect","protocol":"web","path":"","sourcepath":"","attempt":1}"#;

    #[test]
    fn compat_vector_signs_as_published() {
        assert_eq!(
            exavault(VECTOR_TOKEN, VECTOR_BODY.as_bytes()),
            "6e13eb14edfd0bd54feff96be131e155"
        );
    }

    #[test]
    fn verification_accepts_only_the_right_signature() {
        let body = VECTOR_BODY.as_bytes();
        assert!(verify_exavault(
            VECTOR_TOKEN,
            body,
            "6e13eb14edfd0bd54feff96be131e155"
        ));
        assert!(verify_exavault(
            VECTOR_TOKEN,
            body,
            "6E13EB14EDFD0BD54FEFF96BE131E155"
        ));
        assert!(!verify_exavault(
            VECTOR_TOKEN,
            body,
            "6e13eb14edfd0bd54feff96be131e156"
        ));
        assert!(!verify_exavault(VECTOR_TOKEN, body, "6e13eb14"));
        assert!(!verify_exavault(
            VECTOR_TOKEN,
            b"{}",
            "6e13eb14edfd0bd54feff96be131e155"
        ));
    }

    #[test]
    fn standard_webhooks_signatures_match_the_published_example() {
        // The example of the Standard Webhooks specification.
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let signature = secret.sign(id, 1614265330, body);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(secret.verify(id, 1614265330, body, &format!("v1,bm9wZQ== {signature}")));
        assert!(!secret.verify(id, 1614265331, body, &signature));
        assert!(!format!("{secret} {secret:?}").contains("MfKQ"));
    }

    #[test]
    fn secrets_must_be_whsec_base64_of_24_bytes_or_more() {
        assert_eq!(Secret::parse("MfKQ9r8G"), Err(BadSecret::Prefix));
        assert_eq!(Secret::parse("whsec_!!!"), Err(BadSecret::Base64));
        // 16 bytes: too short to be a safe HMAC key.
        assert_eq!(
            Secret::parse("whsec_AAAAAAAAAAAAAAAAAAAAAA=="),
            Err(BadSecret::Short(16))
        );
        assert!(Secret::parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").is_ok());
    }

    #[test]
    fn tokens_are_32_hex_and_never_displayed() {
        assert!(Token::parse(VECTOR_TOKEN).is_ok());
        assert_eq!(Token::parse("xyz"), Err(BadToken));
        assert_eq!(Token::parse(&"g".repeat(32)), Err(BadToken));
        let token = Token::generate().unwrap();
        assert_eq!(token.expose().len(), 32);
        assert!(Token::parse(token.expose()).is_ok());
        assert_ne!(token, Token::generate().unwrap());
        assert!(!format!("{token} {token:?}").contains(token.expose()));
    }
}
