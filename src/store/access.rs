//! The access half of the state: users, API keys, access tokens and the audit trail. Only
//! hashes of keys, tokens and passwords are kept here, never their values.
//!
//! Ids are given from counters in `meta` and never reused, so that an id seen in an old
//! audit row or listing never names something made later.

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, TableError, WriteTransaction};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{META, Store, StoreError, encode_as};
use crate::core::role::Role;

const USERS: TableDefinition<u32, &[u8]> = TableDefinition::new("users");
const API_KEYS: TableDefinition<u32, &[u8]> = TableDefinition::new("api_keys");
const TOKENS: TableDefinition<u32, &[u8]> = TableDefinition::new("access_tokens");
/// The audit trail: row id (increasing) -> `AuditRecord`.
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");

/// The version bytes of the records below.
const USER_RECORD: u8 = 1;
const KEY_RECORD: u8 = 1;
const TOKEN_RECORD: u8 = 1;
const AUDIT_RECORD: u8 = 1;

/// A person or program that may use the management API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: u32,
    pub name: String,
    pub role: Role,
    /// The password as an argon2id PHC string.
    pub password: String,
    pub created_ms: i64,
    pub modified_ms: i64,
}

/// An API key: an application's name for itself, known by the hash of its value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: u32,
    pub name: String,
    pub description: String,
    /// SHA-256 of the key's value.
    pub hash: Vec<u8>,
    /// The first characters of the value's random part: enough to tell keys apart in a
    /// listing, too few to guess the rest.
    pub hint: String,
    pub created_ms: i64,
    pub modified_ms: i64,
}

/// An access token: one key used by one user, known by the hash of its value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: u32,
    pub key: u32,
    pub user: u32,
    /// SHA-256 of the token's value.
    pub hash: Vec<u8>,
    pub created_ms: i64,
    pub last_used_ms: Option<i64>,
}

/// One change made through the management API or the command line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Given when the row is stored; increasing.
    pub id: u64,
    pub time_ms: i64,
    pub user: String,
    pub address: String,
    pub what: String,
}

/// Every user, API key and access token, read in one transaction.
pub struct AccessSnapshot {
    pub users: Vec<UserRecord>,
    pub keys: Vec<KeyRecord>,
    pub tokens: Vec<TokenRecord>,
}

/// Which counter an id comes from.
#[derive(Clone, Copy, Debug)]
pub enum IdOf {
    User,
    Key,
    Token,
}

impl IdOf {
    fn meta_key(self) -> &'static str {
        match self {
            IdOf::User => "next_user_id",
            IdOf::Key => "next_key_id",
            IdOf::Token => "next_token_id",
        }
    }
}

impl Store {
    pub(super) fn init_access(&self, tx: &WriteTransaction) -> Result<(), StoreError> {
        tx.open_table(USERS).map_err(self.err())?;
        tx.open_table(API_KEYS).map_err(self.err())?;
        tx.open_table(TOKENS).map_err(self.err())?;
        tx.open_table(AUDIT).map_err(self.err())?;
        Ok(())
    }

    /// Starts a change of users, keys or tokens: what it reads and writes is one transaction,
    /// so that a check (a name not taken, an admin left) still holds when it commits.
    pub fn access_change(&self) -> Result<AccessChange<'_>, StoreError> {
        Ok(AccessChange {
            tx: self.begin()?,
            store: self,
        })
    }

    pub fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.read_all(&self.read()?, USERS, "users", USER_RECORD)
    }

    /// Marked changed after every committed change of users, keys or tokens.
    pub fn access_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.access_changed.subscribe()
    }

    pub fn api_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.read_all(&self.read()?, API_KEYS, "api_keys", KEY_RECORD)
    }

    pub fn access_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.read_all(&self.read()?, TOKENS, "access_tokens", TOKEN_RECORD)
    }

    /// Every user and access token (not the keys), read in one transaction.
    pub fn users_and_tokens(&self) -> Result<(Vec<UserRecord>, Vec<TokenRecord>), StoreError> {
        let tx = self.read()?;
        Ok((
            self.read_all(&tx, USERS, "users", USER_RECORD)?,
            self.read_all(&tx, TOKENS, "access_tokens", TOKEN_RECORD)?,
        ))
    }

    /// The users, API keys and access tokens, as one moment saw them (checking a caller
    /// reads all three on every request).
    pub fn access_snapshot(&self) -> Result<AccessSnapshot, StoreError> {
        let tx = self.read()?;
        Ok(AccessSnapshot {
            users: self.read_all(&tx, USERS, "users", USER_RECORD)?,
            keys: self.read_all(&tx, API_KEYS, "api_keys", KEY_RECORD)?,
            tokens: self.read_all(&tx, TOKENS, "access_tokens", TOKEN_RECORD)?,
        })
    }

    /// Every record of `def`, in id order. A state opened read-only that was made before
    /// these tables has none.
    fn read_all<T: DeserializeOwned>(
        &self,
        tx: &redb::ReadTransaction,
        def: TableDefinition<u32, &[u8]>,
        name: &str,
        version: u8,
    ) -> Result<Vec<T>, StoreError> {
        let table = match tx.open_table(def) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.fail(e)),
        };
        let range = table.range::<u32>(..).map_err(self.err())?;
        range
            .map(|item| {
                let (_, v) = item.map_err(self.err())?;
                self.decode_as(name, v.value(), version)
            })
            .collect()
    }

    /// Notes that token `id` was used at `now_ms`; a token already noted as used within the
    /// last `coarse_ms` is left as it is, so that busy callers do not write on every request.
    pub fn token_used(&self, id: u32, now_ms: i64, coarse_ms: i64) -> Result<(), StoreError> {
        let tx = self.begin()?;
        {
            let mut table = tx.open_table(TOKENS).map_err(self.err())?;
            let record = match table.get(id).map_err(self.err())? {
                Some(v) => {
                    Some(self.decode_as::<TokenRecord>("access_tokens", v.value(), TOKEN_RECORD)?)
                }
                None => None,
            };
            let Some(mut record) = record else {
                return Ok(());
            };
            if record
                .last_used_ms
                .is_some_and(|t| now_ms.saturating_sub(t) < coarse_ms)
            {
                return Ok(());
            }
            record.last_used_ms = Some(now_ms);
            table
                .insert(id, encode_as(&record, TOKEN_RECORD).as_slice())
                .map_err(self.err())?;
        }
        tx.commit().map_err(self.err())
    }

    /// Adds a row to the audit trail (its id is given here), then drops the oldest rows
    /// beyond `keep`.
    pub fn audit_add(&self, record: &AuditRecord, keep: u64) -> Result<u64, StoreError> {
        let tx = self.begin()?;
        let id;
        {
            let mut table = tx.open_table(AUDIT).map_err(self.err())?;
            id = table
                .last()
                .map_err(self.err())?
                .map_or(1, |(k, _)| k.value() + 1);
            let record = AuditRecord {
                id,
                ..record.clone()
            };
            table
                .insert(id, encode_as(&record, AUDIT_RECORD).as_slice())
                .map_err(self.err())?;
            let len = table.len().map_err(self.err())?;
            for _ in keep..len {
                table.pop_first().map_err(self.err())?;
            }
        }
        tx.commit().map_err(self.err())?;
        Ok(id)
    }

    /// The newest `limit` rows of the audit trail, newest first.
    pub fn audit_rows(&self, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let tx = self.read()?;
        let table = match tx.open_table(AUDIT) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.fail(e)),
        };
        let range = table.range::<u64>(..).map_err(self.err())?;
        range
            .rev()
            .take(limit)
            .map(|item| {
                let (_, v) = item.map_err(self.err())?;
                self.decode_as("audit", v.value(), AUDIT_RECORD)
            })
            .collect()
    }
}

/// A change of users, keys and tokens, seen by no one until `commit`.
pub struct AccessChange<'s> {
    tx: WriteTransaction,
    store: &'s Store,
}

impl AccessChange<'_> {
    pub fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.all(USERS, "users", USER_RECORD)
    }

    pub fn api_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.all(API_KEYS, "api_keys", KEY_RECORD)
    }

    pub fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.all(TOKENS, "access_tokens", TOKEN_RECORD)
    }

    pub fn put_user(&mut self, user: &UserRecord) -> Result<(), StoreError> {
        self.put(USERS, user.id, &encode_as(user, USER_RECORD))
    }

    pub fn put_key(&mut self, key: &KeyRecord) -> Result<(), StoreError> {
        self.put(API_KEYS, key.id, &encode_as(key, KEY_RECORD))
    }

    pub fn put_token(&mut self, token: &TokenRecord) -> Result<(), StoreError> {
        self.put(TOKENS, token.id, &encode_as(token, TOKEN_RECORD))
    }

    /// Removes user `id`; true when there was one.
    pub fn remove_user(&mut self, id: u32) -> Result<bool, StoreError> {
        self.remove(USERS, id)
    }

    pub fn remove_key(&mut self, id: u32) -> Result<bool, StoreError> {
        self.remove(API_KEYS, id)
    }

    pub fn remove_token(&mut self, id: u32) -> Result<bool, StoreError> {
        self.remove(TOKENS, id)
    }

    /// A new id for a user, key or token (from 1, never given twice).
    pub fn next_id(&mut self, of: IdOf) -> Result<u32, StoreError> {
        let s = self.store;
        let mut meta = self.tx.open_table(META).map_err(s.err())?;
        let id = meta
            .get(of.meta_key())
            .map_err(s.err())?
            .map_or(1, |v| v.value());
        meta.insert(of.meta_key(), id + 1).map_err(s.err())?;
        u32::try_from(id).map_err(|_| StoreError::Storage {
            path: s.path.clone(),
            detail: format!("no {} ids are left", of.meta_key()),
        })
    }

    /// Commits the change, then tells `Store::access_changes`'s receivers.
    pub fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().map_err(self.store.err())?;
        self.store.access_changed.send_modify(|n| *n += 1);
        Ok(())
    }

    fn all<T: DeserializeOwned>(
        &self,
        def: TableDefinition<u32, &[u8]>,
        name: &str,
        version: u8,
    ) -> Result<Vec<T>, StoreError> {
        let s = self.store;
        let table = self.tx.open_table(def).map_err(s.err())?;
        let range = table.range::<u32>(..).map_err(s.err())?;
        range
            .map(|item| {
                let (_, v) = item.map_err(s.err())?;
                s.decode_as(name, v.value(), version)
            })
            .collect()
    }

    fn put(
        &mut self,
        def: TableDefinition<u32, &[u8]>,
        id: u32,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let s = self.store;
        let mut table = self.tx.open_table(def).map_err(s.err())?;
        table.insert(id, bytes).map_err(s.err())?;
        Ok(())
    }

    fn remove(&mut self, def: TableDefinition<u32, &[u8]>, id: u32) -> Result<bool, StoreError> {
        let s = self.store;
        let mut table = self.tx.open_table(def).map_err(s.err())?;
        Ok(table.remove(id).map_err(s.err())?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn records_read_back_after_reopening() {
        let (dir, store) = store();
        let user = UserRecord {
            id: 0,
            name: "ana".into(),
            role: Role::Viewer,
            password: "$argon2id$x".into(),
            created_ms: 1,
            modified_ms: 2,
        };
        let mut change = store.access_change().unwrap();
        let id = change.next_id(IdOf::User).unwrap();
        let user = UserRecord { id, ..user };
        change.put_user(&user).unwrap();
        let key = KeyRecord {
            id: change.next_id(IdOf::Key).unwrap(),
            name: "app".into(),
            description: "d".into(),
            hash: vec![7; 32],
            hint: "abcd".into(),
            created_ms: 3,
            modified_ms: 3,
        };
        change.put_key(&key).unwrap();
        let token = TokenRecord {
            id: change.next_id(IdOf::Token).unwrap(),
            key: key.id,
            user: id,
            hash: vec![9; 32],
            created_ms: 4,
            last_used_ms: None,
        };
        change.put_token(&token).unwrap();
        change.commit().unwrap();
        store.token_used(token.id, 100, 60_000).unwrap();
        drop(store);

        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.users().unwrap(), vec![user]);
        assert_eq!(store.api_keys().unwrap(), vec![key]);
        let used = TokenRecord {
            last_used_ms: Some(100),
            ..token
        };
        assert_eq!(store.access_tokens().unwrap(), vec![used.clone()]);
        // Within the coarse period a use is not written again.
        store.token_used(used.id, 200, 60_000).unwrap();
        assert_eq!(store.access_tokens().unwrap(), vec![used]);
        drop(store);
        let ro = Store::open_read_only(dir.path()).unwrap();
        assert_eq!(ro.users().unwrap().len(), 1);
    }

    #[test]
    fn a_state_from_before_these_tables_opens_and_gets_them() {
        let (dir, store) = store();
        drop(store);
        {
            let db = redb::Database::open(dir.path().join(super::super::FILE_NAME)).unwrap();
            let tx = db.begin_write().unwrap();
            for table in [USERS, API_KEYS, TOKENS] {
                assert!(tx.delete_table(table).unwrap());
            }
            assert!(tx.delete_table(AUDIT).unwrap());
            tx.commit().unwrap();
        }
        // Read beside a daemon that has not made them yet: nothing, no error.
        let ro = Store::open_read_only(dir.path()).unwrap();
        assert_eq!(ro.users().unwrap(), vec![]);
        assert_eq!(ro.access_tokens().unwrap(), vec![]);
        assert_eq!(ro.audit_rows(10).unwrap(), vec![]);
        drop(ro);
        let store = Store::open(dir.path()).unwrap();
        let mut change = store.access_change().unwrap();
        assert_eq!(change.users().unwrap(), vec![]);
        assert_eq!(change.next_id(IdOf::User).unwrap(), 1);
        change.commit().unwrap();
    }

    #[test]
    fn ids_are_never_given_twice() {
        let (_dir, store) = store();
        let mut change = store.access_change().unwrap();
        let a = change.next_id(IdOf::User).unwrap();
        change.commit().unwrap();
        let mut change = store.access_change().unwrap();
        let b = change.next_id(IdOf::User).unwrap();
        let k = change.next_id(IdOf::Key).unwrap();
        change.commit().unwrap();
        assert_eq!((a, b, k), (1, 2, 1));
    }

    #[test]
    fn the_audit_trail_keeps_the_newest_rows() {
        let (_dir, store) = store();
        for n in 0..7 {
            let row = AuditRecord {
                id: 0,
                time_ms: n,
                user: "root".into(),
                address: "local".into(),
                what: format!("change {n}"),
            };
            store.audit_add(&row, 5).unwrap();
        }
        let rows = store.audit_rows(100).unwrap();
        let what: Vec<&str> = rows.iter().map(|r| r.what.as_str()).collect();
        assert_eq!(
            what,
            ["change 6", "change 5", "change 4", "change 3", "change 2"]
        );
        assert_eq!(rows[0].id, 7);
        assert_eq!(store.audit_rows(2).unwrap().len(), 2);
    }
}
