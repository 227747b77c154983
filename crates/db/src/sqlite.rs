//! SQLite backend (WAL mode, one file under the data directory).

use crate::{ChannelRecord, DbError, KeyHash};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite implementation of the store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
}

const COLUMNS: &str = "id, name, created_at_ms, key_rotated_at_ms, ladder";

/// Opens (creating if needed) a SQLite file the way every Ferrocast database is opened: WAL,
/// `synchronous=NORMAL` (durable across process crashes, one fsync per checkpoint), a 5 s busy
/// timeout so concurrent writers queue instead of failing, and a small pool.
pub async fn connect(path: &Path) -> Result<SqlitePool, DbError> {
    let url = format!("sqlite://{}", path.display());
    let options = SqliteConnectOptions::from_str(&url)
        .map_err(|source| DbError::Open {
            url: url.clone(),
            source,
        })?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5));
    SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .map_err(|source| DbError::Open { url, source })
}

pub(crate) fn record(row: &sqlx::sqlite::SqliteRow) -> Result<ChannelRecord, sqlx::Error> {
    Ok(ChannelRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at_ms: row.try_get("created_at_ms")?,
        key_rotated_at_ms: row.try_get("key_rotated_at_ms")?,
        ladder: row.try_get("ladder")?,
    })
}

impl SqliteStore {
    /// Opens or creates the database file and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self, DbError> {
        let pool = connect(path).await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    pub(crate) async fn create_channel(
        &self,
        name: &str,
        key_hash: &KeyHash,
        now_ms: i64,
    ) -> Result<ChannelRecord, DbError> {
        let row = sqlx::query(&format!(
            "INSERT INTO channels (name, stream_key_hash, created_at_ms, key_rotated_at_ms) \
             VALUES (?, ?, ?, ?) RETURNING {COLUMNS}"
        ))
        .bind(name)
        .bind(&key_hash[..])
        .bind(now_ms)
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await;
        match row {
            Ok(row) => Ok(record(&row)?),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(DbError::NameTaken {
                name: name.to_owned(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn list_channels(&self) -> Result<Vec<ChannelRecord>, DbError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM channels ORDER BY name"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(record).collect::<Result<_, _>>()?)
    }

    pub(crate) async fn get_channel(&self, name: &str) -> Result<Option<ChannelRecord>, DbError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM channels WHERE name = ?"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(record).transpose()?)
    }

    pub(crate) async fn delete_channel(&self, name: &str) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM channels WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn rotate_key(
        &self,
        name: &str,
        key_hash: &KeyHash,
        now_ms: i64,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE channels SET stream_key_hash = ?, key_rotated_at_ms = ? WHERE name = ?",
        )
        .bind(&key_hash[..])
        .bind(now_ms)
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn set_channel_ladder(
        &self,
        name: &str,
        ladder: Option<&str>,
    ) -> Result<Option<ChannelRecord>, DbError> {
        let row = sqlx::query(&format!(
            "UPDATE channels SET ladder = ? WHERE name = ? RETURNING {COLUMNS}"
        ))
        .bind(ladder)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(record).transpose()?)
    }

    pub(crate) async fn channel_by_key_hash(
        &self,
        key_hash: &KeyHash,
    ) -> Result<Option<(ChannelRecord, KeyHash)>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS}, stream_key_hash FROM channels WHERE stream_key_hash = ?"
        ))
        .bind(&key_hash[..])
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let stored: Vec<u8> = row.try_get("stream_key_hash")?;
        let Ok(stored) = KeyHash::try_from(stored.as_slice()) else {
            return Ok(None);
        };
        Ok(Some((record(&row)?, stored)))
    }

    pub(crate) async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::Store;

    pub(crate) async fn store() -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "ferrocast-db-test-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        (
            Store::open_sqlite(&dir.join("db.sqlite")).await.unwrap(),
            dir,
        )
    }

    fn rand_suffix() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    }

    #[tokio::test]
    async fn create_lookup_rotate_delete() {
        let (s, dir) = store().await;
        let c = s.create_channel("alpha", &[1; 32], 10).await.unwrap();
        assert_eq!(c.name, "alpha");
        assert!(matches!(
            s.create_channel("alpha", &[2; 32], 11).await,
            Err(DbError::NameTaken { .. })
        ));
        let (found, hash) = s.channel_by_key_hash(&[1; 32]).await.unwrap().unwrap();
        assert_eq!((found.name.as_str(), hash), ("alpha", [1; 32]));
        assert!(s.rotate_key("alpha", &[3; 32], 20).await.unwrap());
        assert!(s.channel_by_key_hash(&[1; 32]).await.unwrap().is_none());
        assert_eq!(
            s.get_channel("alpha")
                .await
                .unwrap()
                .unwrap()
                .key_rotated_at_ms,
            20
        );
        assert_eq!(s.list_channels().await.unwrap().len(), 1);
        assert!(s.delete_channel("alpha").await.unwrap());
        assert!(!s.delete_channel("alpha").await.unwrap());
        assert!(s.get_channel("alpha").await.unwrap().is_none());
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn channel_ladder_is_set_cleared_and_kept() {
        let (s, dir) = store().await;
        let c = s.create_channel("lad", &[4; 32], 1).await.unwrap();
        assert_eq!(c.ladder, None, "a new channel follows the server");
        let json = r#"{"enabled":false,"rungs":[]}"#;
        let set = s.set_channel_ladder("lad", Some(json)).await.unwrap();
        assert_eq!(set.unwrap().ladder.as_deref(), Some(json));
        assert!(s
            .set_channel_ladder("missing", Some(json))
            .await
            .unwrap()
            .is_none());
        drop(s);
        let s = Store::open_sqlite(&dir.join("db.sqlite")).await.unwrap();
        let (found, _) = s.channel_by_key_hash(&[4; 32]).await.unwrap().unwrap();
        assert_eq!(found.ladder.as_deref(), Some(json));
        assert_eq!(
            s.list_channels().await.unwrap()[0].ladder.as_deref(),
            Some(json)
        );
        let cleared = s.set_channel_ladder("lad", None).await.unwrap().unwrap();
        assert_eq!(cleared.ladder, None);
        assert_eq!(s.get_channel("lad").await.unwrap().unwrap().ladder, None);
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn survives_reopen() {
        let (s, dir) = store().await;
        s.create_channel("keep", &[9; 32], 1).await.unwrap();
        drop(s);
        let s = Store::open_sqlite(&dir.join("db.sqlite")).await.unwrap();
        assert!(s.get_channel("keep").await.unwrap().is_some());
        std::fs::remove_dir_all(dir).ok();
    }
}
