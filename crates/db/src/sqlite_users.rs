//! SQLite implementation of the accounts storage.

use crate::sqlite::record;
use crate::users::{ApiTokenRecord, ChannelDetails, NewChannel, TokenHash, UserRecord};
use crate::{DbError, SqliteStore};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

/// How stale an API token's `last_used_at_ms` may get: a write per request would turn every
/// scripted call into a database write.
const TOKEN_USE_RESOLUTION_MS: i64 = 60_000;

const USER_COLUMNS: &str = "id, name, admin, created_at_ms";

/// Channel columns named as [`record`] reads them, plus owner and title.
const DETAIL_COLUMNS: &str = "c.id AS id, c.name AS name, c.created_at_ms AS created_at_ms, \
     c.key_rotated_at_ms AS key_rotated_at_ms, c.ladder AS ladder, c.owner_id AS owner_id, \
     c.title AS title, u.name AS owner";

fn user(row: &SqliteRow) -> Result<UserRecord, sqlx::Error> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        admin: row.try_get::<i64, _>("admin")? != 0,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

fn api_token(row: &SqliteRow) -> Result<ApiTokenRecord, sqlx::Error> {
    Ok(ApiTokenRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at_ms: row.try_get("created_at_ms")?,
        last_used_at_ms: row.try_get("last_used_at_ms")?,
    })
}

fn details(row: &SqliteRow) -> Result<ChannelDetails, sqlx::Error> {
    Ok(ChannelDetails {
        channel: record(row)?,
        owner_id: row.try_get("owner_id")?,
        owner: row.try_get("owner")?,
        title: row.try_get("title")?,
    })
}

impl SqliteStore {
    pub(crate) async fn create_user(
        &self,
        name: &str,
        password_hash: &str,
        admin: bool,
        now_ms: i64,
    ) -> Result<UserRecord, DbError> {
        let row = sqlx::query(&format!(
            "INSERT INTO users (name, password_hash, admin, created_at_ms) \
             SELECT ?, ?, (? OR NOT EXISTS (SELECT 1 FROM users)), ? RETURNING {USER_COLUMNS}"
        ))
        .bind(name)
        .bind(password_hash)
        .bind(admin)
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await;
        match row {
            Ok(row) => Ok(user(&row)?),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(DbError::UserNameTaken {
                    name: name.to_owned(),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn user_by_name(
        &self,
        name: &str,
    ) -> Result<Option<(UserRecord, String)>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE name = ?"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((user(&row)?, row.try_get("password_hash")?)))
    }

    pub(crate) async fn list_users(&self) -> Result<Vec<UserRecord>, DbError> {
        let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(user).collect::<Result<_, _>>()?)
    }

    pub(crate) async fn create_session(
        &self,
        token_hash: &TokenHash,
        user_id: i64,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at_ms, expires_at_ms) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(&token_hash[..])
        .bind(user_id)
        .bind(now_ms)
        .bind(expires_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn session_user(
        &self,
        token_hash: &TokenHash,
        now_ms: i64,
    ) -> Result<Option<UserRecord>, DbError> {
        let row = sqlx::query(
            "SELECT u.id AS id, u.name AS name, u.admin AS admin, u.created_at_ms AS created_at_ms \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = ? AND s.expires_at_ms > ?",
        )
        .bind(&token_hash[..])
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(user).transpose()?)
    }

    pub(crate) async fn delete_session(&self, token_hash: &TokenHash) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(&token_hash[..])
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn delete_expired_sessions(&self, now_ms: i64) -> Result<u64, DbError> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at_ms <= ?")
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn create_api_token(
        &self,
        user_id: i64,
        name: &str,
        token_hash: &TokenHash,
        now_ms: i64,
    ) -> Result<ApiTokenRecord, DbError> {
        let row = sqlx::query(
            "INSERT INTO api_tokens (user_id, name, token_hash, created_at_ms) VALUES (?, ?, ?, ?) \
             RETURNING id, name, created_at_ms, last_used_at_ms",
        )
        .bind(user_id)
        .bind(name)
        .bind(&token_hash[..])
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(api_token(&row)?)
    }

    pub(crate) async fn list_api_tokens(
        &self,
        user_id: i64,
    ) -> Result<Vec<ApiTokenRecord>, DbError> {
        let rows = sqlx::query(
            "SELECT id, name, created_at_ms, last_used_at_ms FROM api_tokens \
             WHERE user_id = ? ORDER BY id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(api_token).collect::<Result<_, _>>()?)
    }

    pub(crate) async fn delete_api_token(&self, user_id: i64, id: i64) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE id = ? AND user_id = ?")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn api_token_user(
        &self,
        token_hash: &TokenHash,
        now_ms: i64,
    ) -> Result<Option<UserRecord>, DbError> {
        let row = sqlx::query(
            "SELECT t.id AS token_id, t.last_used_at_ms AS last_used_at_ms, u.id AS id, \
             u.name AS name, u.admin AS admin, u.created_at_ms AS created_at_ms \
             FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?",
        )
        .bind(&token_hash[..])
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let last: Option<i64> = row.try_get("last_used_at_ms")?;
        if last.is_none_or(|l| now_ms - l >= TOKEN_USE_RESOLUTION_MS) {
            sqlx::query("UPDATE api_tokens SET last_used_at_ms = ? WHERE id = ?")
                .bind(now_ms)
                .bind(row.try_get::<i64, _>("token_id")?)
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(user(&row)?))
    }

    pub(crate) async fn set_following(
        &self,
        user_id: i64,
        channel_id: i64,
        follow: bool,
        now_ms: i64,
    ) -> Result<bool, DbError> {
        let done = if follow {
            sqlx::query(
                "INSERT OR IGNORE INTO follows (user_id, channel_id, created_at_ms) \
                 VALUES (?, ?, ?)",
            )
            .bind(user_id)
            .bind(channel_id)
            .bind(now_ms)
            .execute(&self.pool)
            .await?
        } else {
            sqlx::query("DELETE FROM follows WHERE user_id = ? AND channel_id = ?")
                .bind(user_id)
                .bind(channel_id)
                .execute(&self.pool)
                .await?
        };
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn follower_count(&self, channel_id: i64) -> Result<u64, DbError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM follows WHERE channel_id = ?")
            .bind(channel_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub(crate) async fn is_following(
        &self,
        user_id: i64,
        channel_id: i64,
    ) -> Result<bool, DbError> {
        let row = sqlx::query("SELECT 1 FROM follows WHERE user_id = ? AND channel_id = ?")
            .bind(user_id)
            .bind(channel_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    pub(crate) async fn create_owned_channel(
        &self,
        new: NewChannel<'_>,
    ) -> Result<ChannelDetails, DbError> {
        let inserted = sqlx::query(
            "INSERT INTO channels (name, stream_key_hash, created_at_ms, key_rotated_at_ms, \
             owner_id, title) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(new.name)
        .bind(&new.key_hash[..])
        .bind(new.now_ms)
        .bind(new.now_ms)
        .bind(new.owner_id)
        .bind(new.title)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(DbError::NameTaken {
                    name: new.name.to_owned(),
                })
            }
            Err(e) => return Err(e.into()),
        }
        // Deleted in between is as good as never made.
        self.channel_details(new.name)
            .await?
            .ok_or(DbError::Sqlx(sqlx::Error::RowNotFound))
    }

    pub(crate) async fn channel_details(
        &self,
        name: &str,
    ) -> Result<Option<ChannelDetails>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {DETAIL_COLUMNS} FROM channels c LEFT JOIN users u ON u.id = c.owner_id \
             WHERE c.name = ?"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(details).transpose()?)
    }

    pub(crate) async fn list_channel_details(
        &self,
        owner_id: Option<i64>,
    ) -> Result<Vec<ChannelDetails>, DbError> {
        let select = format!(
            "SELECT {DETAIL_COLUMNS} FROM channels c LEFT JOIN users u ON u.id = c.owner_id"
        );
        let rows = match owner_id {
            Some(id) => {
                sqlx::query(&format!("{select} WHERE c.owner_id = ? ORDER BY c.name"))
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(&format!("{select} ORDER BY c.name"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        Ok(rows.iter().map(details).collect::<Result<_, _>>()?)
    }

    pub(crate) async fn set_channel_title(&self, name: &str, title: &str) -> Result<bool, DbError> {
        let done = sqlx::query("UPDATE channels SET title = ? WHERE name = ?")
            .bind(title)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use crate::sqlite::tests::store;
    use crate::{DbError, NewChannel};

    #[tokio::test]
    async fn first_user_is_admin_and_names_are_unique() {
        let (s, dir) = store().await;
        let first = s.create_user("alice", "h1", false, 1).await.unwrap();
        assert!(first.admin, "the first account administers the server");
        let second = s.create_user("bob", "h2", false, 2).await.unwrap();
        assert!(!second.admin);
        let third = s.create_user("carol", "h3", true, 3).await.unwrap();
        assert!(third.admin);
        assert!(matches!(
            s.create_user("bob", "h4", false, 4).await,
            Err(DbError::UserNameTaken { .. })
        ));
        let (found, hash) = s.user_by_name("bob").await.unwrap().unwrap();
        assert_eq!((found, hash.as_str()), (second, "h2"));
        assert!(s.user_by_name("nobody").await.unwrap().is_none());
        let names: Vec<_> = s
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.name)
            .collect();
        assert_eq!(names, ["alice", "bob", "carol"]);
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn sessions_expire_and_end() {
        let (s, dir) = store().await;
        let u = s.create_user("alice", "h", false, 1).await.unwrap();
        s.create_session(&[1; 32], u.id, 10, 100).await.unwrap();
        s.create_session(&[2; 32], u.id, 10, 50).await.unwrap();
        assert_eq!(s.session_user(&[1; 32], 99).await.unwrap(), Some(u.clone()));
        assert_eq!(s.session_user(&[1; 32], 100).await.unwrap(), None);
        assert_eq!(s.session_user(&[3; 32], 10).await.unwrap(), None);
        assert_eq!(s.delete_expired_sessions(60).await.unwrap(), 1);
        assert!(s.delete_session(&[1; 32]).await.unwrap());
        assert!(!s.delete_session(&[1; 32]).await.unwrap());
        assert_eq!(s.session_user(&[1; 32], 20).await.unwrap(), None);
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn api_tokens_act_as_their_user_until_revoked() {
        let (s, dir) = store().await;
        let a = s.create_user("alice", "h", false, 1).await.unwrap();
        let b = s.create_user("bob", "h", false, 1).await.unwrap();
        let t = s.create_api_token(a.id, "ci", &[5; 32], 10).await.unwrap();
        assert_eq!((t.name.as_str(), t.last_used_at_ms), ("ci", None));
        assert_eq!(
            s.api_token_user(&[5; 32], 20).await.unwrap(),
            Some(a.clone())
        );
        // Uses within a minute of the recorded one are not written.
        s.api_token_user(&[5; 32], 30).await.unwrap();
        assert_eq!(
            s.list_api_tokens(a.id).await.unwrap()[0].last_used_at_ms,
            Some(20)
        );
        s.api_token_user(&[5; 32], 60_020).await.unwrap();
        assert_eq!(
            s.list_api_tokens(a.id).await.unwrap()[0].last_used_at_ms,
            Some(60_020)
        );
        assert!(s.list_api_tokens(b.id).await.unwrap().is_empty());
        assert!(!s.delete_api_token(b.id, t.id).await.unwrap(), "not bob's");
        assert!(s.delete_api_token(a.id, t.id).await.unwrap());
        assert_eq!(s.api_token_user(&[5; 32], 70_000).await.unwrap(), None);
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn owned_channels_titles_and_follows() {
        let (s, dir) = store().await;
        let a = s.create_user("alice", "h", false, 1).await.unwrap();
        let b = s.create_user("bob", "h", false, 1).await.unwrap();
        let mine = s
            .create_owned_channel(NewChannel {
                name: "mine",
                key_hash: &[1; 32],
                owner_id: Some(a.id),
                title: "Hello",
                now_ms: 5,
            })
            .await
            .unwrap();
        assert_eq!(mine.owner.as_deref(), Some("alice"));
        assert_eq!((mine.owner_id, mine.title.as_str()), (Some(a.id), "Hello"));
        s.create_channel("unowned", &[2; 32], 6).await.unwrap();
        assert!(matches!(
            s.create_owned_channel(NewChannel {
                name: "unowned",
                key_hash: &[3; 32],
                owner_id: Some(b.id),
                title: "",
                now_ms: 7,
            })
            .await,
            Err(DbError::NameTaken { .. })
        ));
        let unowned = s.channel_details("unowned").await.unwrap().unwrap();
        assert_eq!((unowned.owner, unowned.title.as_str()), (None, ""));
        assert_eq!(s.list_channel_details(None).await.unwrap().len(), 2);
        let alices = s.list_channel_details(Some(a.id)).await.unwrap();
        assert_eq!(alices, std::slice::from_ref(&mine));
        assert!(s.list_channel_details(Some(b.id)).await.unwrap().is_empty());
        assert!(s.set_channel_title("mine", "New").await.unwrap());
        assert!(!s.set_channel_title("nope", "New").await.unwrap());
        assert_eq!(
            s.channel_details("mine").await.unwrap().unwrap().title,
            "New"
        );

        let id = mine.channel.id;
        assert!(s.set_following(b.id, id, true, 9).await.unwrap());
        assert!(!s.set_following(b.id, id, true, 9).await.unwrap());
        s.set_following(a.id, id, true, 9).await.unwrap();
        assert_eq!(s.follower_count(id).await.unwrap(), 2);
        assert!(s.is_following(b.id, id).await.unwrap());
        assert!(s.set_following(b.id, id, false, 9).await.unwrap());
        assert!(!s.is_following(b.id, id).await.unwrap());
        assert_eq!(s.follower_count(id).await.unwrap(), 1);
        // Deleting the channel takes its follows with it.
        assert!(s.delete_channel("mine").await.unwrap());
        assert_eq!(s.follower_count(id).await.unwrap(), 0);
        std::fs::remove_dir_all(dir).ok();
    }
}
