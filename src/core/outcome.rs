//! What came of one POST of a webhook (or one publish to a broker): the receiver's answer, or
//! why there was none.

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
    /// certificate rejected; from a broker also 9 not allowed to publish there, 67 sign-in
    /// refused, 78 no stream takes the subject), `message` says what happened.
    Failed { code: u32, message: String },
    /// A broker took the message: `answer` is what it said (`stream EVENTS seq 1234`,
    /// `... duplicate`, `PUBACK`). Logged as status 200 with the answer as its message.
    Acknowledged { answer: String },
}

impl Outcome {
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            Outcome::Answered {
                status: 200..=299,
                ..
            } | Outcome::Acknowledged { .. }
        )
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Answered { status, .. } => write!(f, "HTTP {status}"),
            Outcome::Failed { code, message } => write!(f, "{message} (error {code})"),
            Outcome::Acknowledged { answer } => f.write_str(answer),
        }
    }
}
