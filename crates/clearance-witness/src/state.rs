//! The witness's memory: for each log origin, the latest checkpoint it cosigned. One SQLite
//! table; [`WitnessState::check_and_update`] reads, decides and writes in one immediate
//! transaction under a mutex, so two submissions can never both pass against the same old
//! state (the rollback race the specification describes), and the new state is on disk
//! before the caller answers.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use clearance_tlog::Hash;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// The latest checkpoint a witness cosigned for one log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatestCheckpoint {
    pub size: u64,
    pub root: Hash,
}

/// The state file could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("opening the witness state {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("witness state: {doing}: {source}")]
    Query {
        doing: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("witness state: the row of `{0}` is corrupt")]
    Corrupt(String),
    #[error("witness state: a thread panicked while holding the state")]
    Poisoned,
}

fn query(doing: &'static str) -> impl FnOnce(rusqlite::Error) -> StateError {
    move |source| StateError::Query { doing, source }
}

/// The latest cosigned checkpoint of every log, in a SQLite file.
#[derive(Debug)]
pub struct WitnessState {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS witness_checkpoints (
    origin TEXT PRIMARY KEY NOT NULL,
    size INTEGER NOT NULL CHECK (size >= 0),
    root BLOB NOT NULL CHECK (length(root) = 32)
) STRICT";

impl WitnessState {
    /// Opens (creating if needed) the state file at `path`.
    pub fn open(path: &Path) -> Result<WitnessState, StateError> {
        let open_err = |source| StateError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        Self::init(conn).map_err(open_err)
    }

    /// A state that lives in memory only (tests).
    pub fn in_memory() -> Result<WitnessState, StateError> {
        let conn = Connection::open_in_memory().map_err(query("opening in memory"))?;
        Self::init(conn).map_err(query("creating the table"))
    }

    fn init(conn: Connection) -> Result<WitnessState, rusqlite::Error> {
        conn.busy_timeout(Duration::from_secs(5))?;
        // A cosignature promises the state it reflects is kept: every commit reaches the disk.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute(SCHEMA, [])?;
        Ok(WitnessState {
            conn: Mutex::new(conn),
        })
    }

    /// The latest cosigned checkpoint of `origin`, if any.
    pub fn latest(&self, origin: &str) -> Result<Option<LatestCheckpoint>, StateError> {
        let conn = self.conn.lock().map_err(|_| StateError::Poisoned)?;
        read(&conn, origin)
    }

    /// Atomically: reads `origin`'s latest checkpoint, lets `decide` judge the submission
    /// against it, and when `decide` returns a new checkpoint, stores it before returning.
    /// Nothing is written when `decide` fails.
    pub fn check_and_update<E: From<StateError>>(
        &self,
        origin: &str,
        decide: impl FnOnce(Option<LatestCheckpoint>) -> Result<LatestCheckpoint, E>,
    ) -> Result<LatestCheckpoint, E> {
        let mut conn = self.conn.lock().map_err(|_| StateError::Poisoned)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(query("starting a transaction"))?;
        let latest = read(&tx, origin)?;
        let new = decide(latest)?;
        if latest != Some(new) {
            let size =
                i64::try_from(new.size).map_err(|_| StateError::Corrupt(origin.to_string()))?;
            tx.execute(
                "INSERT INTO witness_checkpoints (origin, size, root) VALUES (?1, ?2, ?3)
                 ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root",
                params![origin, size, &new.root.0[..]],
            )
            .map_err(query("storing the new checkpoint"))?;
        }
        tx.commit()
            .map_err(query("committing the new checkpoint"))?;
        Ok(new)
    }
}

fn read(conn: &Connection, origin: &str) -> Result<Option<LatestCheckpoint>, StateError> {
    let row: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT size, root FROM witness_checkpoints WHERE origin = ?1",
            [origin],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(query("reading the latest checkpoint"))?;
    let Some((size, root)) = row else {
        return Ok(None);
    };
    let corrupt = || StateError::Corrupt(origin.to_string());
    Ok(Some(LatestCheckpoint {
        size: u64::try_from(size).map_err(|_| corrupt())?,
        root: Hash::from_slice(&root).ok_or_else(corrupt)?,
    }))
}
