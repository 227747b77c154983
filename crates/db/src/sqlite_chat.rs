//! SQLite implementation of the chat storage.

use crate::chat::{ChatAppend, ChatModes, ChatRoomRecord, Hides};
use crate::{DbError, SqliteStore};
use sqlx::Row;

/// The `json` column of every row.
fn json_column(rows: &[sqlx::sqlite::SqliteRow]) -> Result<Vec<String>, DbError> {
    Ok(rows
        .iter()
        .map(|r| r.try_get("json"))
        .collect::<Result<_, _>>()?)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The mode columns of a `chat_rooms` row.
fn modes(row: &sqlx::sqlite::SqliteRow) -> Result<ChatModes, DbError> {
    Ok(ChatModes {
        slow_secs: u64::try_from(row.try_get::<i64, _>("slow_secs")?).unwrap_or(0),
        followers_only: row.try_get::<i64, _>("followers_only")? != 0,
        guests: row.try_get::<i64, _>("guests")? != 0,
    })
}

impl SqliteStore {
    pub(crate) async fn chat_room(
        &self,
        channel_id: i64,
        epoch: &str,
    ) -> Result<ChatRoomRecord, DbError> {
        sqlx::query("INSERT OR IGNORE INTO chat_rooms (channel_id, epoch) VALUES (?, ?)")
            .bind(channel_id)
            .bind(epoch)
            .execute(&self.pool)
            .await?;
        let row = sqlx::query(
            "SELECT epoch, last_offset, slow_secs, followers_only, guests FROM chat_rooms \
             WHERE channel_id = ?",
        )
        .bind(channel_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(ChatRoomRecord {
            epoch: row.try_get("epoch")?,
            last_offset: u64::try_from(row.try_get::<i64, _>("last_offset")?).unwrap_or(0),
            modes: modes(&row)?,
        })
    }

    pub(crate) async fn chat_modes(&self, channel_id: i64) -> Result<ChatModes, DbError> {
        let row = sqlx::query(
            "SELECT slow_secs, followers_only, guests FROM chat_rooms WHERE channel_id = ?",
        )
        .bind(channel_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map_or_else(|| Ok(ChatModes::default()), |row| modes(&row))
    }

    pub(crate) async fn chat_recent(
        &self,
        channel_id: i64,
        limit: u32,
    ) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "SELECT json FROM (SELECT offset, json FROM chat_events WHERE channel_id = ? \
             ORDER BY offset DESC LIMIT ?) ORDER BY offset",
        )
        .bind(channel_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        json_column(&rows)
    }

    pub(crate) async fn chat_append(&self, batches: &[ChatAppend]) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        for batch in batches {
            append_one(&mut tx, batch).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn chat_history(
        &self,
        channel_id: i64,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "SELECT json FROM (SELECT offset, json FROM chat_events \
             WHERE channel_id = ? AND kind = 'message' AND hidden = 0 AND offset < ? \
             ORDER BY offset DESC LIMIT ?) ORDER BY offset",
        )
        .bind(channel_id)
        .bind(before.map_or(i64::MAX, to_i64))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        json_column(&rows)
    }

    pub(crate) async fn chat_moderators(&self, channel_id: i64) -> Result<Vec<String>, DbError> {
        let rows =
            sqlx::query("SELECT name FROM chat_moderators WHERE channel_id = ? ORDER BY name")
                .bind(channel_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("name"))
            .collect::<Result<_, _>>()?)
    }

    pub(crate) async fn chat_set_moderator(
        &self,
        channel_id: i64,
        name: &str,
        appointed: bool,
        now_ms: i64,
    ) -> Result<bool, DbError> {
        let done = if appointed {
            sqlx::query(
                "INSERT OR IGNORE INTO chat_moderators (channel_id, name, created_ms) VALUES (?, ?, ?)",
            )
            .bind(channel_id)
            .bind(name)
            .bind(now_ms)
            .execute(&self.pool)
            .await?
        } else {
            sqlx::query("DELETE FROM chat_moderators WHERE channel_id = ? AND name = ?")
                .bind(channel_id)
                .bind(name)
                .execute(&self.pool)
                .await?
        };
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn chat_bans(
        &self,
        channel_id: i64,
    ) -> Result<Vec<(String, String)>, DbError> {
        let rows = sqlx::query("SELECT identity, ips FROM chat_bans WHERE channel_id = ?")
            .bind(channel_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("identity")?, r.try_get("ips")?)))
            .collect()
    }

    pub(crate) async fn chat_set_ban(
        &self,
        channel_id: i64,
        identity: &str,
        ips: Option<&str>,
        now_ms: i64,
    ) -> Result<(), DbError> {
        match ips {
            Some(ips) => {
                sqlx::query(
                    "INSERT OR REPLACE INTO chat_bans (channel_id, identity, ips, created_ms) \
                     VALUES (?, ?, ?, ?)",
                )
                .bind(channel_id)
                .bind(identity)
                .bind(ips)
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM chat_bans WHERE channel_id = ? AND identity = ?")
                    .bind(channel_id)
                    .bind(identity)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn chat_prune(&self, older_than_ms: i64, keep: u32) -> Result<u64, DbError> {
        let old = sqlx::query("DELETE FROM chat_events WHERE ts_ms < ?")
            .bind(older_than_ms)
            .execute(&self.pool)
            .await?
            .rows_affected();
        let excess = sqlx::query(
            "DELETE FROM chat_events WHERE rowid IN (SELECT rowid FROM (SELECT rowid, \
             ROW_NUMBER() OVER (PARTITION BY channel_id ORDER BY offset DESC) AS n \
             FROM chat_events) WHERE n > ?)",
        )
        .bind(i64::from(keep))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(old + excess)
    }
}

/// Stores one room's events in an open transaction.
async fn append_one(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    batch: &ChatAppend,
) -> Result<(), DbError> {
    let channel_id = batch.channel_id;
    let mut last = None;
    for e in &batch.rows {
        sqlx::query(
                "INSERT OR IGNORE INTO chat_events (channel_id, offset, id, kind, author, ts_ms, json) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(channel_id)
            .bind(to_i64(e.offset))
            .bind(&e.id)
            .bind(&e.kind)
            .bind(&e.author)
            .bind(e.ts_ms)
            .bind(&e.json)
            .execute(&mut **tx)
            .await?;
        let hide = match &e.hides {
            Hides::Nothing => None,
            Hides::Message(id) => Some(
                sqlx::query("UPDATE chat_events SET hidden = 1 WHERE channel_id = ? AND id = ?")
                    .bind(channel_id)
                    .bind(id),
            ),
            Hides::Author(author) => Some(
                sqlx::query(
                    "UPDATE chat_events SET hidden = 1 \
                         WHERE channel_id = ? AND author = ? AND offset < ?",
                )
                .bind(channel_id)
                .bind(author)
                .bind(to_i64(e.offset)),
            ),
            Hides::All => Some(
                sqlx::query(
                    "UPDATE chat_events SET hidden = 1 WHERE channel_id = ? AND offset < ?",
                )
                .bind(channel_id)
                .bind(to_i64(e.offset)),
            ),
        };
        if let Some(q) = hide {
            q.execute(&mut **tx).await?;
        }
        last = Some(e.offset);
    }
    sqlx::query(
        "UPDATE chat_rooms SET last_offset = MAX(last_offset, ?), slow_secs = ?, \
             followers_only = ?, guests = ? WHERE channel_id = ?",
    )
    .bind(to_i64(last.unwrap_or(0)))
    .bind(to_i64(batch.modes.slow_secs))
    .bind(batch.modes.followers_only)
    .bind(batch.modes.guests)
    .bind(channel_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::sqlite::tests::store;
    use crate::{ChatAppend, ChatEventRow, ChatModes, Hides};

    fn message(offset: u64, author: &str, ts_ms: i64) -> ChatEventRow {
        ChatEventRow {
            offset,
            id: format!("e-{offset}"),
            kind: "message".into(),
            author: Some(author.into()),
            ts_ms,
            json: format!(r#"{{"offset":{offset}}}"#),
            hides: Hides::Nothing,
        }
    }

    fn action(offset: u64, hides: Hides) -> ChatEventRow {
        ChatEventRow {
            offset,
            id: format!("e-{offset}"),
            kind: "delete".into(),
            author: None,
            ts_ms: 100,
            json: format!(r#"{{"offset":{offset}}}"#),
            hides,
        }
    }

    #[tokio::test]
    async fn events_history_hiding_and_retention() {
        let (s, dir) = store().await;
        let c = s.create_channel("room", &[1; 32], 1).await.unwrap();
        let room = s.chat_room(c.id, "ep").await.unwrap();
        assert_eq!((room.epoch.as_str(), room.last_offset), ("ep", 0));
        // The epoch is fixed at creation.
        assert_eq!(s.chat_room(c.id, "other").await.unwrap().epoch, "ep");
        let rows = vec![
            message(1, "alice", 10),
            message(2, "bob", 20),
            message(3, "alice", 30),
            message(4, "carol", 40),
            action(5, Hides::Message("e-2".into())),
            action(6, Hides::Author("alice".into())),
        ];
        s.chat_append(&[ChatAppend {
            channel_id: c.id,
            rows,
            modes: ChatModes {
                slow_secs: 5,
                ..ChatModes::default()
            },
        }])
        .await
        .unwrap();
        let room = s.chat_room(c.id, "x").await.unwrap();
        assert_eq!((room.last_offset, room.modes.slow_secs), (6, 5));
        assert_eq!(
            s.chat_history(c.id, None, 10).await.unwrap(),
            vec![r#"{"offset":4}"#]
        );
        assert_eq!(s.chat_recent(c.id, 2).await.unwrap().len(), 2);
        let rows = vec![
            message(7, "dan", 50),
            action(8, Hides::All),
            message(9, "eve", 60),
        ];
        // Two rooms' batches share one transaction.
        let other = s.create_channel("other", &[2; 32], 1).await.unwrap();
        s.chat_room(other.id, "ep2").await.unwrap();
        let appends = [
            ChatAppend {
                channel_id: c.id,
                rows,
                modes: ChatModes::default(),
            },
            ChatAppend {
                channel_id: other.id,
                rows: vec![message(1, "zed", 70)],
                modes: ChatModes::default(),
            },
        ];
        s.chat_append(&appends).await.unwrap();
        assert_eq!(s.chat_room(other.id, "x").await.unwrap().last_offset, 1);
        assert_eq!(
            s.chat_history(c.id, None, 10).await.unwrap(),
            vec![r#"{"offset":9}"#]
        );
        assert!(s.chat_history(c.id, Some(9), 10).await.unwrap().is_empty());
        // Retention: by age, then by count per room; the offset counter is kept.
        assert_eq!(s.chat_prune(25, 1000).await.unwrap(), 2);
        assert_eq!(s.chat_prune(0, 2).await.unwrap(), 5);
        assert_eq!(s.chat_recent(other.id, 10).await.unwrap().len(), 1);
        assert_eq!(s.chat_recent(c.id, 100).await.unwrap().len(), 2);
        assert_eq!(s.chat_room(c.id, "x").await.unwrap().last_offset, 9);
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn modes_are_stored_with_the_events_and_read_without_creating_the_room() {
        let (s, dir) = store().await;
        let c = s.create_channel("room", &[1; 32], 1).await.unwrap();
        // No room yet: a new room's modes, and reading does not make one.
        assert_eq!(s.chat_modes(c.id).await.unwrap(), ChatModes::default());
        assert!(ChatModes::default().guests && !ChatModes::default().followers_only);
        let room = s.chat_room(c.id, "ep").await.unwrap();
        assert_eq!(room.modes, ChatModes::default());
        let modes = ChatModes {
            slow_secs: 30,
            followers_only: true,
            guests: false,
        };
        s.chat_append(&[ChatAppend {
            channel_id: c.id,
            rows: vec![action(1, Hides::Nothing)],
            modes,
        }])
        .await
        .unwrap();
        assert_eq!(s.chat_modes(c.id).await.unwrap(), modes);
        let room = s.chat_room(c.id, "other").await.unwrap();
        assert_eq!((room.last_offset, room.modes), (1, modes));
        // And back.
        s.chat_append(&[ChatAppend {
            channel_id: c.id,
            rows: vec![action(2, Hides::Nothing)],
            modes: ChatModes::default(),
        }])
        .await
        .unwrap();
        assert_eq!(s.chat_modes(c.id).await.unwrap(), ChatModes::default());
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn moderators_and_bans() {
        let (s, dir) = store().await;
        let c = s.create_channel("room", &[1; 32], 1).await.unwrap();
        assert!(s.chat_set_moderator(c.id, "mod1", true, 1).await.unwrap());
        assert!(!s.chat_set_moderator(c.id, "mod1", true, 1).await.unwrap());
        assert_eq!(s.chat_moderators(c.id).await.unwrap(), vec!["mod1"]);
        assert!(s.chat_set_moderator(c.id, "mod1", false, 1).await.unwrap());
        s.chat_set_ban(c.id, "bob", Some("10.0.0.2"), 1)
            .await
            .unwrap();
        assert_eq!(
            s.chat_bans(c.id).await.unwrap(),
            vec![("bob".to_owned(), "10.0.0.2".to_owned())]
        );
        s.chat_set_ban(c.id, "bob", None, 2).await.unwrap();
        assert!(s.chat_bans(c.id).await.unwrap().is_empty());
        // Deleting the channel takes its chat with it.
        s.chat_set_ban(c.id, "bob", Some(""), 1).await.unwrap();
        assert!(s.delete_channel("room").await.unwrap());
        assert!(s.chat_bans(c.id).await.unwrap().is_empty());
        std::fs::remove_dir_all(dir).ok();
    }
}
