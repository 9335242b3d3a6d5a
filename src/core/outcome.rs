//! What came of one POST of a webhook: the receiver's answer, or why there was none.

/// What came of one POST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered with an HTTP status.
    Answered {
        status: u16,
        size: u64,
        excerpt: Vec<u8>,
        /// The `Retry-After` header, as sent.
        retry_after: Option<String>,
    },
    /// No answer: `code` is the curl-style error number (6 host not resolved, 7 connect
    /// failed, 28 timeout, 35 TLS handshake, 52 empty reply, 56 receive failure, 60
    /// certificate rejected), `message` says what happened.
    Failed { code: u32, message: String },
}

impl Outcome {
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            Outcome::Answered {
                status: 200..=299,
                ..
            }
        )
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Answered { status, .. } => write!(f, "HTTP {status}"),
            Outcome::Failed { code, message } => write!(f, "{message} (error {code})"),
        }
    }
}
