//! `Store` on redb: one file, copy-on-write B-trees, crash-safe commits.

use super::{Op, Refusal, Store, Table};
use crate::error::{DaemonError, Result};
use redb::{Database, ReadableTable, TableDefinition};
use std::path::Path;

fn def(table: Table) -> TableDefinition<'static, &'static str, &'static [u8]> {
    TableDefinition::new(table.name())
}

fn db_err(e: impl std::fmt::Display) -> DaemonError {
    DaemonError::Store(e.to_string())
}

/// The redb-backed store.
pub struct RedbStore {
    db: Database,
}

impl RedbStore {
    /// Opens (or creates) the database file and makes sure every table exists.
    pub fn open(path: &Path) -> Result<RedbStore> {
        // The database holds containers' environments: root only, from its first byte
        // (redb initialises an empty file as a new database).
        berth_perms::open_options(berth_perms::Mode::SECRET_FILE)
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| DaemonError::Store(format!("create {}: {e}", path.display())))?;
        let db = Database::create(path)
            .map_err(|e| DaemonError::Store(format!("open {}: {e}", path.display())))?;
        let txn = db.begin_write().map_err(db_err)?;
        for t in Table::ALL {
            txn.open_table(def(t)).map_err(db_err)?;
        }
        txn.commit().map_err(db_err)?;
        Ok(RedbStore { db })
    }
}

impl Store for RedbStore {
    fn apply(&self, ops: Vec<Op>) -> Result<std::result::Result<(), Refusal>> {
        let txn = self.db.begin_write().map_err(db_err)?;
        for op in &ops {
            match op {
                Op::Put { table, key, value } => {
                    let mut t = txn.open_table(def(*table)).map_err(db_err)?;
                    t.insert(key.as_str(), value.as_slice()).map_err(db_err)?;
                }
                Op::Insert { table, key, value } => {
                    let mut t = txn.open_table(def(*table)).map_err(db_err)?;
                    let existing = t
                        .get(key.as_str())
                        .map_err(db_err)?
                        .map(|v| v.value().to_vec());
                    if let Some(existing) = existing {
                        if existing != *value {
                            drop(t);
                            txn.abort().map_err(db_err)?;
                            return Ok(Err(Refusal::Conflict(*table, key.clone())));
                        }
                    }
                    t.insert(key.as_str(), value.as_slice()).map_err(db_err)?;
                }
                Op::Delete { table, key } => {
                    let mut t = txn.open_table(def(*table)).map_err(db_err)?;
                    t.remove(key.as_str()).map_err(db_err)?;
                }
            }
        }
        txn.commit().map_err(db_err)?;
        Ok(Ok(()))
    }

    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(def(table)).map_err(db_err)?;
        Ok(t.get(key).map_err(db_err)?.map(|v| v.value().to_vec()))
    }

    fn list(&self, table: Table) -> Result<Vec<(String, Vec<u8>)>> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let t = txn.open_table(def(table)).map_err(db_err)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(db_err)? {
            let (k, v) = item.map_err(db_err)?;
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }
}
