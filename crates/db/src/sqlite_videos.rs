//! SQLite implementation of the videos storage.

use crate::videos::{VideoRecord, VideoState, VideoUpdate};
use crate::{DbError, SqliteStore};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

const COLUMNS: &str = "id, owner_id, title, visibility, state, progress, error, error_code, \
     max_bytes, source_bytes, duration_s, width, height, meta, created_at_ms, updated_at_ms, \
     ready_at_ms";

fn video(row: &SqliteRow) -> Result<VideoRecord, sqlx::Error> {
    let state: String = row.try_get("state")?;
    Ok(VideoRecord {
        id: row.try_get("id")?,
        owner_id: row.try_get("owner_id")?,
        title: row.try_get("title")?,
        private: row.try_get::<String, _>("visibility")? == "private",
        state: VideoState::parse(&state).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "state".into(),
            source: format!("unknown video state {state:?}").into(),
        })?,
        progress: row.try_get("progress")?,
        error: row.try_get("error")?,
        error_code: row.try_get("error_code")?,
        max_bytes: row.try_get("max_bytes")?,
        source_bytes: row.try_get("source_bytes")?,
        duration_s: row.try_get("duration_s")?,
        width: row.try_get("width")?,
        height: row.try_get("height")?,
        meta: row.try_get("meta")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
        ready_at_ms: row.try_get("ready_at_ms")?,
    })
}

impl SqliteStore {
    pub(crate) async fn create_video(
        &self,
        id: &str,
        owner_id: Option<i64>,
        title: &str,
        private: bool,
        max_bytes: i64,
        now_ms: i64,
    ) -> Result<VideoRecord, DbError> {
        let row = sqlx::query(&format!(
            "INSERT INTO videos (id, owner_id, title, visibility, max_bytes, created_at_ms, \
             updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(owner_id)
        .bind(title)
        .bind(if private { "private" } else { "public" })
        .bind(max_bytes)
        .bind(now_ms)
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(video(&row)?)
    }

    pub(crate) async fn get_video(&self, id: &str) -> Result<Option<VideoRecord>, DbError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM videos WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(video).transpose()?)
    }

    pub(crate) async fn list_videos(
        &self,
        owner_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<VideoRecord>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM videos WHERE (? IS NULL OR owner_id = ?) \
             ORDER BY created_at_ms DESC, id LIMIT ?"
        ))
        .bind(owner_id)
        .bind(owner_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(video).collect::<Result<_, _>>()?)
    }

    pub(crate) async fn claim_video_upload(
        &self,
        id: &str,
        now_ms: i64,
        stale_before_ms: i64,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE videos SET upload_claimed = 1, updated_at_ms = ? \
             WHERE id = ? AND state = 'uploading' \
             AND (upload_claimed = 0 OR updated_at_ms < ?)",
        )
        .bind(now_ms)
        .bind(id)
        .bind(stale_before_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn release_video_upload(&self, id: &str, now_ms: i64) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE videos SET upload_claimed = 0, updated_at_ms = ? \
             WHERE id = ? AND state = 'uploading'",
        )
        .bind(now_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn video_uploaded(
        &self,
        id: &str,
        bytes: i64,
        now_ms: i64,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE videos SET state = 'queued', source_bytes = ?, upload_claimed = 1, \
             updated_at_ms = ? WHERE id = ? AND state = 'uploading'",
        )
        .bind(bytes)
        .bind(now_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn update_video(
        &self,
        id: &str,
        u: &VideoUpdate,
        now_ms: i64,
    ) -> Result<bool, DbError> {
        let (set_error, error, code) = match &u.error {
            None => (false, None, None),
            Some(None) => (true, None, None),
            Some(Some((reason, code))) => (true, Some(reason.as_str()), Some(code.as_str())),
        };
        let done = sqlx::query(
            "UPDATE videos SET state = COALESCE(?, state), progress = COALESCE(?, progress), \
             error = CASE WHEN ? THEN ? ELSE error END, \
             error_code = CASE WHEN ? THEN ? ELSE error_code END, \
             duration_s = COALESCE(?, duration_s), width = COALESCE(?, width), \
             height = COALESCE(?, height), meta = COALESCE(?, meta), \
             ready_at_ms = COALESCE(?, ready_at_ms), updated_at_ms = ? WHERE id = ?",
        )
        .bind(u.state.map(VideoState::as_str))
        .bind(u.progress)
        .bind(set_error)
        .bind(error)
        .bind(set_error)
        .bind(code)
        .bind(u.duration_s)
        .bind(u.dimensions.map(|d| d.0))
        .bind(u.dimensions.map(|d| d.1))
        .bind(u.meta.as_deref())
        .bind(u.ready_at_ms)
        .bind(now_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn delete_video(&self, id: &str) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM videos WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
