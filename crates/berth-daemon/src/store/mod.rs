//! Metadata behind one interface, so the database under it can change (Podman's
//! lesson: the interface is what made their BoltDB → SQLite move possible).
//!
//! Values are JSON documents in named tables. Every `apply` is one transaction: a crash
//! at any instant leaves either the old or the new state.

mod redb_store;

pub use redb_store::{RedbStore, SCHEMA_VERSION};

use crate::error::Result;

/// The tables the daemon keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// container id → container record
    Containers,
    /// container name (without '/') → container id; unique names are enforced here
    Names,
    /// image id (`sha256:…`) → image record
    Images,
    /// fully-qualified reference → image id
    Refs,
    /// network id → network record
    Networks,
    /// volume name → volume record
    Volumes,
}

impl Table {
    pub const ALL: [Table; 6] = [
        Table::Containers,
        Table::Names,
        Table::Images,
        Table::Refs,
        Table::Networks,
        Table::Volumes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Containers => "containers",
            Table::Names => "names",
            Table::Images => "images",
            Table::Refs => "refs",
            Table::Networks => "networks",
            Table::Volumes => "volumes",
        }
    }
}

/// One change inside a transaction.
#[derive(Debug, Clone)]
pub enum Op {
    Put {
        table: Table,
        key: String,
        value: Vec<u8>,
    },
    /// Fails the whole transaction with `Conflict` when the key exists with another value.
    Insert {
        table: Table,
        key: String,
        value: Vec<u8>,
    },
    Delete {
        table: Table,
        key: String,
    },
}

/// The outcome of a transaction that was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// An `Insert` found the key taken; carries the table and key.
    Conflict(Table, String),
}

/// Durable metadata storage.
pub trait Store: Send + Sync {
    /// Applies all ops atomically, or none of them.
    fn apply(&self, ops: Vec<Op>) -> Result<std::result::Result<(), Refusal>>;
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>>;
    fn list(&self, table: Table) -> Result<Vec<(String, Vec<u8>)>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_versions_are_recorded_migrated_and_refused_when_newer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.db");
        // A store from before versioning: the tables, a record, no version.
        {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut t = txn
                    .open_table(redb::TableDefinition::<&str, &[u8]>::new("names"))
                    .unwrap();
                t.insert("old", b"id1".as_slice()).unwrap();
            }
            txn.commit().unwrap();
        }
        let store = RedbStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(
            store.get(Table::Names, "old").unwrap(),
            Some(b"id1".to_vec())
        );
        drop(store);
        // Schema 1 → 2: the runc names of older records meant the built-in runtime.
        {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut meta = txn
                    .open_table(redb::TableDefinition::<&str, u64>::new("meta"))
                    .unwrap();
                meta.insert("schema_version", 1).unwrap();
                let mut t = txn
                    .open_table(redb::TableDefinition::<&str, &[u8]>::new("containers"))
                    .unwrap();
                for (id, runtime) in [
                    ("a", "runc"),
                    ("b", "io.containerd.runc.v2"),
                    ("c", "berth"),
                ] {
                    let rec = serde_json::json!({"id": id, "host_config": {"Runtime": runtime}});
                    t.insert(id, serde_json::to_vec(&rec).unwrap().as_slice())
                        .unwrap();
                }
                t.insert("d", b"not json".as_slice()).unwrap();
            }
            txn.commit().unwrap();
        }
        let store = RedbStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        for id in ["a", "b", "c"] {
            let rec: serde_json::Value =
                serde_json::from_slice(&store.get(Table::Containers, id).unwrap().unwrap())
                    .unwrap();
            assert_eq!(rec["host_config"]["Runtime"], "berth", "{id}");
        }
        assert_eq!(
            store.get(Table::Containers, "d").unwrap(),
            Some(b"not json".to_vec())
        );
        drop(store);
        // Reopening at the current version changes nothing: a record naming runc now
        // means runc.
        {
            let store = RedbStore::open(&path).unwrap();
            let rec = serde_json::json!({"id": "e", "host_config": {"Runtime": "runc"}});
            store
                .apply(vec![Op::Put {
                    table: Table::Containers,
                    key: "e".into(),
                    value: serde_json::to_vec(&rec).unwrap(),
                }])
                .unwrap()
                .unwrap();
        }
        let store = RedbStore::open(&path).unwrap();
        let rec: serde_json::Value =
            serde_json::from_slice(&store.get(Table::Containers, "e").unwrap().unwrap()).unwrap();
        assert_eq!(rec["host_config"]["Runtime"], "runc");
        drop(store);
        // Written by a newer berth: refused, and left as it was.
        {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut t = txn
                    .open_table(redb::TableDefinition::<&str, u64>::new("meta"))
                    .unwrap();
                t.insert("schema_version", SCHEMA_VERSION + 1).unwrap();
            }
            txn.commit().unwrap();
        }
        let err = RedbStore::open(&path)
            .err()
            .expect("a newer store is refused");
        assert!(
            err.to_string().contains("written by a newer berth"),
            "{err}"
        );
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_read().unwrap();
        let t = txn
            .open_table(redb::TableDefinition::<&str, u64>::new("meta"))
            .unwrap();
        assert_eq!(
            t.get("schema_version").unwrap().unwrap().value(),
            SCHEMA_VERSION + 1
        );
    }

    #[test]
    fn transactions_are_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("berth.db")).unwrap();
        store
            .apply(vec![
                Op::Insert {
                    table: Table::Names,
                    key: "a".into(),
                    value: b"1".to_vec(),
                },
                Op::Put {
                    table: Table::Containers,
                    key: "1".into(),
                    value: b"{}".to_vec(),
                },
            ])
            .unwrap()
            .unwrap();
        let refused = store
            .apply(vec![
                Op::Put {
                    table: Table::Containers,
                    key: "2".into(),
                    value: b"{}".to_vec(),
                },
                Op::Insert {
                    table: Table::Names,
                    key: "a".into(),
                    value: b"2".to_vec(),
                },
            ])
            .unwrap();
        assert_eq!(refused, Err(Refusal::Conflict(Table::Names, "a".into())));
        assert!(store.get(Table::Containers, "2").unwrap().is_none());
        assert_eq!(store.list(Table::Containers).unwrap().len(), 1);
        drop(store);
        let store = RedbStore::open(&dir.path().join("berth.db")).unwrap();
        assert_eq!(
            store.get(Table::Names, "a").unwrap().as_deref(),
            Some(&b"1"[..])
        );
        store
            .apply(vec![Op::Delete {
                table: Table::Names,
                key: "a".into(),
            }])
            .unwrap()
            .unwrap();
        assert!(store.get(Table::Names, "a").unwrap().is_none());
    }
}
