//! Moderation actions: who may do what to whom, and their effect on the room.

use super::*;
use crate::protocol::{ModAction, MAX_TIMEOUT_SECS};

impl Room {
    /// Applies a moderation action by `by` (a display name) acting with `role`. The action
    /// becomes an event of the ordered stream, so recovery and history apply it too.
    pub fn moderate(
        &mut self,
        now_ms: i64,
        by: &str,
        role: Role,
        action: ModAction,
    ) -> Result<Arc<Event>, Refusal> {
        if role < Role::Moderator {
            return Err(Refusal::new(
                Reason::Forbidden,
                "moderation needs the moderator or streamer role",
            ));
        }
        let by = by.to_owned();
        let kind = match action {
            ModAction::Delete { id } => {
                let known = self.ring.iter().any(|e| e.id == id && e.author().is_some());
                if !known {
                    return Err(Refusal::new(Reason::NotFound, "no such message"));
                }
                EventKind::Delete { target: id, by }
            }
            ModAction::Timeout {
                user,
                seconds,
                reason,
            } => {
                let identity = self.target(&user, role)?;
                if seconds == 0 || seconds > MAX_TIMEOUT_SECS {
                    return Err(Refusal::new(
                        Reason::BadRequest,
                        format!("timeouts last 1 to {MAX_TIMEOUT_SECS} seconds"),
                    ));
                }
                let until = now_ms.saturating_add((seconds as i64).saturating_mul(1000));
                self.timeouts.insert(identity, until);
                EventKind::Timeout {
                    user,
                    seconds,
                    reason: clip_reason(reason),
                    by,
                }
            }
            ModAction::Ban { user, reason } => {
                let identity = self.target(&user, role)?;
                // Every address the user is connected from or was last seen at goes with them,
                // so a new name from the same place does not get around the ban.
                let mut ips: Vec<IpAddr> = self
                    .members
                    .values()
                    .filter(|m| m.identity == identity)
                    .map(|m| m.ip)
                    .collect();
                if let Some(ip) = self.seen.get(&identity) {
                    ips.push(*ip);
                }
                ips.sort();
                ips.dedup();
                for ip in &ips {
                    self.ip_bans.insert(*ip, identity.clone());
                }
                self.bans.insert(identity, ips);
                EventKind::Ban {
                    user,
                    reason: clip_reason(reason),
                    by,
                }
            }
            ModAction::Unban { user } => {
                let identity = identity_of(&user);
                let Some(ips) = self.bans.remove(&identity) else {
                    return Err(Refusal::new(Reason::NotFound, "that user is not banned"));
                };
                for ip in ips {
                    if self.ip_bans.get(&ip) == Some(&identity) {
                        self.ip_bans.remove(&ip);
                    }
                }
                self.timeouts.remove(&identity);
                EventKind::Unban { user, by }
            }
            ModAction::Slow { seconds } => {
                if seconds > MAX_SLOW_SECS {
                    return Err(Refusal::new(
                        Reason::BadRequest,
                        format!("slow mode is 0 (off) to {MAX_SLOW_SECS} seconds"),
                    ));
                }
                EventKind::Slow { seconds, by }
            }
            ModAction::Clear => EventKind::Clear { by },
            // Setting a mode to what it already is still makes an event: the room sees who
            // confirmed it, as with slow mode.
            ModAction::Followers { on } => EventKind::Followers { on, by },
            ModAction::Guests { allowed } => EventKind::Guests { allowed, by },
        };
        Ok(self.push(now_ms, kind))
    }

    /// The identity of a moderation target, if `role` may act on it: nobody acts on the streamer,
    /// only the streamer acts on moderators.
    fn target(&self, user: &str, role: Role) -> Result<String, Refusal> {
        validate_name(user).map_err(|_| Refusal::new(Reason::NotFound, "no such user"))?;
        let identity = identity_of(user);
        let target_role = if identity == identity_of(&self.channel) {
            Role::Streamer
        } else if self.moderators.contains(&identity)
            || self
                .members
                .values()
                .any(|m| m.identity == identity && m.role == Role::Moderator)
        {
            Role::Moderator
        } else {
            Role::Viewer
        };
        if target_role >= role {
            return Err(Refusal::new(
                Reason::Forbidden,
                "you cannot moderate that user",
            ));
        }
        Ok(identity)
    }
}
