//! Signatures and the secrets behind them: ExaVault's `md5(token || body)`, verified in
//! constant time, and verification tokens that never show up in logs.

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
