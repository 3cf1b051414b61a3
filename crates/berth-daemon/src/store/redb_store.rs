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
        {
            let mut meta = txn.open_table(META).map_err(db_err)?;
            // A store from before versioning has tables and no meta: version 0.
            let found = meta
                .get(SCHEMA_KEY)
                .map_err(db_err)?
                .map(|v| v.value())
                .unwrap_or(0);
            if found > SCHEMA_VERSION {
                return Err(DaemonError::Store(format!(
                    "{} was written by a newer berth (store schema {found}; this berth reads schema {SCHEMA_VERSION} and older): run that berth, or give this one another --data-root",
                    path.display()
                )));
            }
            for t in Table::ALL {
                txn.open_table(def(t)).map_err(db_err)?;
            }
            // Migrations run here, each from its version to the next, in this one
            // transaction: a crash leaves the store as it was. (0 → 1 changed no table.)
            if found < 2 {
                runc_names_were_the_builtin_runtime(&txn)?;
            }
            if found != SCHEMA_VERSION {
                meta.insert(SCHEMA_KEY, SCHEMA_VERSION).map_err(db_err)?;
            }
        }
        txn.commit().map_err(db_err)?;
        Ok(RedbStore { db })
    }

    /// The store's schema version (see [`SCHEMA_VERSION`]).
    pub fn schema_version(&self) -> Result<u64> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let meta = txn.open_table(META).map_err(db_err)?;
        let v = meta.get(SCHEMA_KEY).map_err(db_err)?.map(|v| v.value());
        Ok(v.unwrap_or(0))
    }
}

/// Schema 1 → 2: before schema 2, `--runtime runc` (and `io.containerd.runc.v2`) ran the
/// container under berth's built-in runtime; now those names mean the runc binary. Records
/// that say so are rewritten to `berth`, so each container keeps the runtime it ran under.
fn runc_names_were_the_builtin_runtime(txn: &redb::WriteTransaction) -> Result<()> {
    let mut table = txn.open_table(def(Table::Containers)).map_err(db_err)?;
    let mut rewritten = Vec::new();
    for row in table.iter().map_err(db_err)? {
        let (key, value) = row.map_err(db_err)?;
        let Ok(mut rec) = serde_json::from_slice::<serde_json::Value>(value.value()) else {
            continue;
        };
        let runtime = &mut rec["host_config"]["Runtime"];
        if matches!(runtime.as_str(), Some("runc" | "io.containerd.runc.v2")) {
            *runtime = serde_json::Value::from(crate::runtimes::BUILTIN);
            let bytes = serde_json::to_vec(&rec).map_err(db_err)?;
            rewritten.push((key.value().to_string(), bytes));
        }
    }
    for (key, bytes) in rewritten {
        table
            .insert(key.as_str(), bytes.as_slice())
            .map_err(db_err)?;
    }
    Ok(())
}

/// The store's own facts: its schema version.
const META: TableDefinition<'static, &'static str, u64> = TableDefinition::new("meta");
const SCHEMA_KEY: &str = "schema_version";

/// The shape of the tables this berth writes. Raise it, with a migration in
/// [`RedbStore::open`], whenever a table's keys or records change shape: an older berth
/// then refuses the data root instead of misreading it.
///
/// 1: versioned (no table changed). 2: container records name the runtime that runs them
/// (`runc` is the runc binary; before, it was the built-in runtime).
pub const SCHEMA_VERSION: u64 = 2;

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
