//! Joining: who a connection may be, and the `joined` frame with its backlog or recovery.

use super::*;

/// Who joined, as the `joined` frame's `you` tells them.
#[derive(Serialize)]
struct You<'a> {
    name: &'a str,
    role: Role,
    banned: bool,
    /// Whether their token says they follow the channel (followers-only mode lets them post).
    follower: bool,
}

impl Room {
    /// A connection joins. On success the connection receives `frame` and then every batch
    /// that ends after `offset`.
    pub fn join(
        &mut self,
        conn: u64,
        credential: Credential,
        ip: IpAddr,
        since: Option<(String, u64)>,
    ) -> Result<JoinOutcome, Refusal> {
        if self.members.contains_key(&conn) {
            return Err(Refusal::new(Reason::AlreadyJoined, "already joined"));
        }
        let (name, role, verified, follower) = match credential {
            Credential::Guest { name } => {
                // Guests already in the room stay (and cannot post); new ones are turned away.
                if !self.guests {
                    return Err(guests_not_allowed());
                }
                validate_name(&name)?;
                let identity = identity_of(&name);
                if identity == identity_of(&self.channel)
                    || self.moderators.contains(&identity)
                    || RESERVED_NAMES.contains(&identity.as_str())
                {
                    return Err(Refusal::new(
                        Reason::NameReserved,
                        "that name belongs to the streamer or a moderator",
                    ));
                }
                let taken = self
                    .members
                    .values()
                    .any(|m| m.identity == identity && (m.verified || m.ip != ip));
                if taken {
                    return Err(Refusal::new(Reason::NameTaken, "that name is in use"));
                }
                (name, Role::Viewer, false, false)
            }
            Credential::Verified {
                name,
                role,
                follower,
            } => {
                validate_name(&name)?;
                let identity = identity_of(&name);
                let allowed = match role {
                    Role::Viewer => true,
                    Role::Moderator => self.moderators.contains(&identity),
                    Role::Streamer => identity == identity_of(&self.channel),
                };
                if !allowed {
                    return Err(Refusal::new(
                        Reason::Forbidden,
                        "the token's role is not (or no longer) held in this room",
                    ));
                }
                (name, role, true, follower)
            }
        };
        let identity = identity_of(&name);
        self.seen.insert(identity.clone(), ip);
        let banned = role == Role::Viewer && self.is_banned(&identity, ip);
        let (recovered, events) = self.backlog_for(since.as_ref());
        let you = You {
            name: &name,
            role,
            banned,
            follower,
        };
        let frame = self.joined_frame(you, recovered, &events);
        self.members.insert(
            conn,
            Member {
                identity,
                name: name.clone(),
                role,
                ip,
                verified,
                follower,
            },
        );
        Ok(JoinOutcome {
            frame,
            offset: self.flushed,
            name,
            role,
            recovered,
        })
    }

    /// What a joining connection gets: recovered events after `since`, or the visible backlog.
    fn backlog_for(&self, since: Option<&(String, u64)>) -> (Option<bool>, Vec<Arc<Event>>) {
        let flushed = self.flushed;
        // The last `backlog` visible messages that were flushed (later ones come in a batch).
        let visible = || {
            let sent = self.visible.iter().filter(|e| e.offset <= flushed);
            let skip = sent.clone().count().saturating_sub(self.config.backlog);
            sent.skip(skip).cloned().collect()
        };
        let Some((epoch, offset)) = since else {
            return (None, visible());
        };
        let offset = *offset;
        let oldest = self.ring.front().map_or(flushed + 1, |e| e.offset);
        let possible = *epoch == self.epoch && offset <= flushed && offset + 1 >= oldest;
        if !possible {
            return (Some(false), visible());
        }
        let missed = self
            .ring
            .iter()
            .filter(|e| e.offset > offset && e.offset <= flushed)
            .cloned()
            .collect();
        (Some(true), missed)
    }

    fn joined_frame(&self, you: You<'_>, recovered: Option<bool>, events: &[Arc<Event>]) -> Bytes {
        #[derive(Serialize)]
        struct Head<'a> {
            r#type: &'static str,
            protocol: u32,
            room: &'a str,
            epoch: &'a str,
            offset: u64,
            you: You<'a>,
            viewers: usize,
            slow: u64,
            followers_only: bool,
            guests: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            recovered: Option<bool>,
        }
        let head = Head {
            r#type: "joined",
            protocol: crate::PROTOCOL_VERSION,
            room: &self.channel,
            epoch: &self.epoch,
            offset: self.flushed,
            you,
            viewers: self.members.len() + 1,
            slow: self.slow_secs,
            followers_only: self.followers_only,
            guests: self.guests,
            recovered,
        };
        let mut out = serde_json::to_vec(&head).unwrap_or_else(|_| b"{}".to_vec());
        // Splice the backlog in as raw, already serialized events: `{...,"backlog":[...]}`.
        out.pop();
        out.extend_from_slice(br#","backlog":"#);
        json_array(&mut out, events.iter().map(|e| &e.json[..]));
        out.push(b'}');
        Bytes::from(out)
    }
}
