//! What Programmable Chat shows of a channel beyond its conversation row:
//! how many members and messages it has, and its newest message.

use std::collections::HashMap;

use diesel::dsl::{count_star, max};
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::{messages, participants};

use super::{OptionalRow, StoreResult};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelStats {
    pub members: i64,
    pub messages: i64,
    /// The SID of the message with the highest index.
    pub last_message: Option<String>,
}

/// The figures of each of `sids`: two grouped queries (members; messages
/// with their highest index), then one primary-key lookup per channel for
/// its newest message's SID.
pub fn stats(conn: &mut DbConnection, sids: &[String]) -> StoreResult<HashMap<String, ChannelStats>> {
    let mut out: HashMap<String, ChannelStats> =
        sids.iter().map(|sid| (sid.clone(), ChannelStats::default())).collect();
    if sids.is_empty() {
        return Ok(out);
    }
    let members: Vec<(String, i64)> = participants::table
        .filter(participants::conversation_sid.eq_any(sids))
        .group_by(participants::conversation_sid)
        .select((participants::conversation_sid, count_star()))
        .load(conn)?;
    for (sid, n) in members {
        out.entry(sid).or_default().members = n;
    }
    let counted: Vec<(String, i64, Option<i64>)> = messages::table
        .filter(messages::conversation_sid.eq_any(sids))
        .group_by(messages::conversation_sid)
        .select((messages::conversation_sid, count_star(), max(messages::msg_index)))
        .load(conn)?;
    for (sid, n, newest) in counted {
        let last_message = match newest {
            Some(index) => messages::table
                .filter(messages::conversation_sid.eq(&sid))
                .filter(messages::msg_index.eq(index))
                .select(messages::sid)
                .get_result::<String>(conn)
                .found()?,
            None => None,
        };
        let stats = out.entry(sid).or_default();
        stats.messages = n;
        stats.last_message = last_message;
    }
    Ok(out)
}

/// [`stats`] of one channel.
pub fn stats_of(conn: &mut DbConnection, sid: &str) -> StoreResult<ChannelStats> {
    Ok(stats(conn, &[sid.to_owned()])?.remove(sid).unwrap_or_default())
}
