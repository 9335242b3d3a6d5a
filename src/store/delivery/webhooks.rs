//! Each webhook's record in the state: its keys (with the replaced ones kept for the grace
//! period), the URL its queue is for, and its health.

use super::*;

impl Store {
    /// Sets up webhook `id` for this run: its token (the configured one, else the one generated
    /// before, else a new one), its secret, and the ones they replaced, which keep signing
    /// for `grace_ms` after they were replaced. A changed URL clears a disabled state.
    pub fn webhook_setup(
        &self,
        id: u32,
        url: &str,
        token: Option<&Token>,
        secret: Option<&Secret>,
        grace_ms: i64,
        now_ms: i64,
    ) -> Result<WebhookState, StoreError> {
        let tx = self.begin()?;
        let state = {
            let mut table = tx.open_table(WEBHOOKS).map_err(self.err())?;
            let known = match table.get(id).map_err(self.err())? {
                Some(v) => Some(self.webhook_record(v.value())?),
                None => None,
            };
            let bad =
                |what: &str| self.damaged(format!("webhook {id}'s stored {what} is malformed"));
            let mut record = match known {
                Some(r) => r,
                None => WebhookRecord {
                    url: url.to_owned(),
                    token: match token {
                        Some(t) => t.expose().to_owned(),
                        None => Token::generate()
                            .map_err(|e| StoreError::Storage {
                                path: self.path.clone(),
                                detail: format!("no random numbers for a new token: {e}"),
                            })?
                            .expose()
                            .to_owned(),
                    },
                    previous_token: None,
                    secret: secret.map(|s| s.expose().to_owned()),
                    previous_secret: None,
                    health: Health::default(),
                },
            };
            if let Some(t) = token.filter(|t| t.expose() != record.token) {
                let old = std::mem::replace(&mut record.token, t.expose().to_owned());
                record.previous_token = Some((old, now_ms.saturating_add(grace_ms)));
            }
            let configured = secret.map(|s| s.expose().to_owned());
            if configured != record.secret {
                let old = std::mem::replace(&mut record.secret, configured);
                // A removed secret stops signing at once; a replaced one keeps going a while.
                record.previous_secret = match (old, &record.secret) {
                    (Some(old), Some(_)) => Some((old, now_ms.saturating_add(grace_ms))),
                    _ => None,
                };
            }
            // A grace period never outlasts the one configured now (so 0 ends it at once).
            let end = now_ms.saturating_add(grace_ms);
            let keep = |old: Option<(String, i64)>| {
                old.map(|(key, until)| (key, until.min(end)))
                    .filter(|(_, until)| *until > now_ms)
            };
            record.previous_token = keep(record.previous_token.take());
            record.previous_secret = keep(record.previous_secret.take());
            let moved_from =
                (record.url != url).then(|| std::mem::replace(&mut record.url, url.to_owned()));
            if moved_from.is_some() {
                record.health = Health::default();
            }
            table
                .insert(id, encode_as(&record, WEBHOOK_RECORD).as_slice())
                .map_err(self.err())?;
            WebhookState {
                keys: Keys {
                    token: Token::parse(&record.token).map_err(|_| bad("token"))?,
                    previous_token: match &record.previous_token {
                        Some((t, until)) => {
                            Some((Token::parse(t).map_err(|_| bad("token"))?, *until))
                        }
                        None => None,
                    },
                    secret: match &record.secret {
                        Some(s) => Some(Secret::parse(s).map_err(|_| bad("secret"))?),
                        None => None,
                    },
                    previous_secret: match &record.previous_secret {
                        Some((s, until)) => {
                            Some((Secret::parse(s).map_err(|_| bad("secret"))?, *until))
                        }
                        None => None,
                    },
                },
                health: record.health.clone(),
                moved_from,
            }
        };
        tx.commit().map_err(self.err())?;
        Ok(state)
    }

    pub(super) fn webhook_record(&self, bytes: &[u8]) -> Result<WebhookRecord, StoreError> {
        if bytes.first() == Some(&1) {
            let old: WebhookRecordV1 = self.decode("webhooks", bytes)?;
            return Ok(WebhookRecord {
                url: old.url,
                token: old.token,
                previous_token: None,
                secret: None,
                previous_secret: None,
                health: Health::default(),
            });
        }
        self.decode_as("webhooks", bytes, WEBHOOK_RECORD)
    }

    /// The highest webhook id the state has known: by a token (every webhook that ever ran or
    /// was resent has one) or by a queue.
    pub(in crate::store) fn last_webhook_id_in(
        &self,
        tx: &WriteTransaction,
    ) -> Result<u32, StoreError> {
        let webhooks = tx.open_table(WEBHOOKS).map_err(self.err())?;
        let counts = tx.open_table(COUNTS).map_err(self.err())?;
        let last = |k: Option<u32>| k.unwrap_or(0);
        let by_token = last(webhooks.last().map_err(self.err())?.map(|(k, _)| k.value()));
        let by_queue = last(counts.last().map_err(self.err())?.map(|(k, _)| k.value()));
        Ok(by_token.max(by_queue))
    }

    /// Gives webhook `id` a new random token now; the one it replaces keeps signing beside it
    /// for `grace_ms`. Returns the new token, or `None` when the state knows no such webhook.
    /// A running worker signs with it once it is set up again (`webhook_setup`).
    pub fn rotate_token(
        &self,
        id: u32,
        grace_ms: i64,
        now_ms: i64,
    ) -> Result<Option<Token>, StoreError> {
        let new = Token::generate().map_err(|e| StoreError::Storage {
            path: self.path.clone(),
            detail: format!("no random numbers for a new token: {e}"),
        })?;
        let tx = self.begin()?;
        {
            let mut table = tx.open_table(WEBHOOKS).map_err(self.err())?;
            let known = match table.get(id).map_err(self.err())? {
                Some(v) => Some(self.webhook_record(v.value())?),
                None => None,
            };
            let Some(mut record) = known else {
                return Ok(None);
            };
            let old = std::mem::replace(&mut record.token, new.expose().to_owned());
            record.previous_token =
                Some((old, now_ms.saturating_add(grace_ms))).filter(|(_, until)| *until > now_ms);
            table
                .insert(id, encode_as(&record, WEBHOOK_RECORD).as_slice())
                .map_err(self.err())?;
        }
        tx.commit().map_err(self.err())?;
        Ok(Some(new))
    }

    /// The token webhook `id` signs with now, if the state knows the webhook.
    pub fn webhook_token(&self, id: u32) -> Result<Option<Token>, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(WEBHOOKS).map_err(self.err())?;
        match table.get(id).map_err(self.err())? {
            Some(v) => {
                let record = self.webhook_record(v.value())?;
                Token::parse(&record.token)
                    .map(Some)
                    .map_err(|_| self.damaged(format!("webhook {id}'s stored token is malformed")))
            }
            None => Ok(None),
        }
    }

    /// How webhook `id` is doing (default for one the state does not know).
    pub fn health(&self, id: u32) -> Result<Health, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(WEBHOOKS).map_err(self.err())?;
        match table.get(id).map_err(self.err())? {
            Some(v) => Ok(self.webhook_record(v.value())?.health),
            None => Ok(Health::default()),
        }
    }
}
