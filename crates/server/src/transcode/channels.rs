//! Channels' own ladders: stored as JSON in the channel's row (the [`Ladder`] config form), read
//! by the channel's transcoder at each publish, and announced to it when changed so that a live
//! channel switches at once.

use ferrocast_db::{ChannelRecord, DbError, Store};
use ferrocast_ladder::Ladder;
use std::sync::Arc;
use tokio::sync::broadcast;
use tracing::warn;

/// Changes that may queue before a transcoder reads them; one that falls behind re-reads its
/// channel anyway.
const CHANGES_CAPACITY: usize = 64;

/// Where the channels' own ladders are kept, and who hears about a change.
#[derive(Debug)]
pub struct ChannelLadders {
    db: Store,
    changes: broadcast::Sender<Arc<str>>,
}

impl ChannelLadders {
    /// Ladders kept in `db`.
    pub fn new(db: Store) -> Self {
        Self {
            db,
            changes: broadcast::channel(CHANGES_CAPACITY).0,
        }
    }

    /// The channel's own ladder; `None` when it follows the server's (or does not exist).
    pub async fn own(&self, channel: &str) -> Result<Option<Ladder>, DbError> {
        Ok(self
            .db
            .get_channel(channel)
            .await?
            .and_then(|c| own_ladder(&c)))
    }

    /// Stores the channel's own ladder (`None`: the server's from now on) and tells the live
    /// transcoders; the updated channel, or `None` when it does not exist.
    pub async fn set(
        &self,
        channel: &str,
        ladder: Option<&Ladder>,
    ) -> Result<Option<ChannelRecord>, DbError> {
        let json = ladder.map(|l| serde_json::to_string(l).expect("a ladder always serializes"));
        let record = self.db.set_channel_ladder(channel, json.as_deref()).await?;
        if record.is_some() {
            // Nobody listening (no channel live) is fine: the next publish reads the database.
            let _ = self.changes.send(channel.into());
        }
        Ok(record)
    }

    /// Names of channels whose ladder changed, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.changes.subscribe()
    }
}

/// The channel's own ladder as stored. One that no longer parses or validates (a hand-edited
/// database, limits tightened since) is logged and ignored: the channel follows the server.
pub fn own_ladder(record: &ChannelRecord) -> Option<Ladder> {
    let json = record.ladder.as_deref()?;
    let parsed = serde_json::from_str::<Ladder>(json)
        .map_err(|e| e.to_string())
        .and_then(|l| l.validate().map(|()| l).map_err(|e| e.to_string()));
    match parsed {
        Ok(ladder) => Some(ladder),
        Err(error) => {
            warn!(channel = %record.name, %error, "stored channel ladder ignored; the server's applies");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrocast_ladder::Rung;

    fn record(ladder: Option<&str>) -> ChannelRecord {
        ChannelRecord {
            id: 1,
            name: "c".into(),
            created_at_ms: 0,
            key_rotated_at_ms: 0,
            ladder: ladder.map(str::to_owned),
        }
    }

    #[test]
    fn stored_form_round_trips_and_bad_rows_fall_back() {
        let ladder = Ladder::of(vec![Rung {
            name: "360p".into(),
            height: 360,
            video_bitrate_kbps: 800,
            audio_bitrate_kbps: 96,
            frame_rate: 30,
            preset: Some("veryfast".into()),
        }]);
        let json = serde_json::to_string(&ladder).unwrap();
        assert_eq!(own_ladder(&record(Some(&json))), Some(ladder));
        let off = serde_json::to_string(&Ladder::source_only()).unwrap();
        assert_eq!(own_ladder(&record(Some(&off))), Some(Ladder::source_only()));
        assert_eq!(own_ladder(&record(None)), None);
        assert_eq!(own_ladder(&record(Some("{not json"))), None);
        let invalid = json.replace("360,", "361,");
        assert_eq!(own_ladder(&record(Some(&invalid))), None);
    }
}
