//! Call queues: the queue log (what happened to each queue call, and to the agents) and
//! the dynamic agents logged in, kept across restarts. [`queue_stats`] computes a
//! queue's figures from its log.

use sqlx::Row;

use crate::error::StoreError;
use crate::store::Store;
use crate::tenants::TenantId;

/// One event of the queue log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueLogEntry {
    pub tenant_id: TenantId,
    pub ts_ms: i64,
    /// The queue's extension.
    pub queue: String,
    /// The queue call's Call-ID (empty for agent events).
    pub call_id: String,
    /// `ENTER`, `CONNECT`, `ABANDON`, `TIMEOUT`, `FULL`, `JOINEMPTY`, `LEAVEEMPTY`,
    /// `RINGNOANSWER`, `TRANSFER`, `COMPLETE`, `AGENTLOGIN`, `AGENTLOGOFF`, `PAUSE`,
    /// `UNPAUSE`.
    pub event: String,
    pub agent: Option<String>,
    pub caller: Option<String>,
    /// The caller's position at the event.
    pub position: Option<u32>,
    /// The caller's position when joining.
    pub entry_position: Option<u32>,
    /// Seconds the caller waited (CONNECT, ABANDON, TIMEOUT, COMPLETE).
    pub wait_s: Option<u32>,
    /// Seconds the agent talked (COMPLETE, TRANSFER).
    pub talk_s: Option<u32>,
}

/// A dynamic agent logged in to a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueAgentRow {
    pub tenant_id: TenantId,
    pub queue: String,
    pub agent: String,
    pub paused: bool,
}

/// A queue's figures over a period, from its log.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct QueueStats {
    /// Callers who arrived (ENTER, FULL, JOINEMPTY).
    pub offered: u64,
    /// Answered by an agent.
    pub answered: u64,
    /// Hung up while waiting.
    pub abandoned: u64,
    /// Sent away: waited `max_wait`, found the queue full or empty.
    pub timed_out: u64,
    pub refused: u64,
    /// Answered within the service level.
    pub answered_within_sl: u64,
    /// answered_within_sl / (answered + abandoned + timed_out), in percent.
    pub service_level_pct: f64,
    /// Average wait of answered callers, seconds.
    pub avg_wait_s: f64,
    /// Average wait of callers who hung up, seconds.
    pub avg_abandon_s: f64,
    /// Average talk time of completed calls, seconds.
    pub avg_talk_s: f64,
    /// Longest wait of an answered caller, seconds.
    pub max_wait_s: u32,
}

fn avg(sum: u64, n: u64) -> f64 {
    if n == 0 { 0.0 } else { sum as f64 / n as f64 }
}

/// The figures of `log` (one queue's events), counting an answer within
/// `service_level_s` seconds as within the service level.
pub fn queue_stats(log: &[QueueLogEntry], service_level_s: u32) -> QueueStats {
    let mut s = QueueStats::default();
    let (mut wait, mut abandon_wait, mut talk, mut completed) = (0u64, 0u64, 0u64, 0u64);
    for e in log {
        let w = e.wait_s.unwrap_or(0);
        match e.event.as_str() {
            "ENTER" => s.offered += 1,
            "FULL" | "JOINEMPTY" => {
                s.offered += 1;
                s.refused += 1;
            }
            "CONNECT" => {
                s.answered += 1;
                wait += u64::from(w);
                s.max_wait_s = s.max_wait_s.max(w);
                if w <= service_level_s {
                    s.answered_within_sl += 1;
                }
            }
            "ABANDON" => {
                s.abandoned += 1;
                abandon_wait += u64::from(w);
            }
            "TIMEOUT" | "LEAVEEMPTY" => s.timed_out += 1,
            "COMPLETE" | "TRANSFER" => {
                completed += 1;
                talk += u64::from(e.talk_s.unwrap_or(0));
            }
            _ => {}
        }
    }
    s.avg_wait_s = avg(wait, s.answered);
    s.avg_abandon_s = avg(abandon_wait, s.abandoned);
    s.avg_talk_s = avg(talk, completed);
    s.service_level_pct = 100.0 * avg(s.answered_within_sl, s.answered + s.abandoned + s.timed_out);
    s
}

fn opt_u32(v: Option<i64>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok())
}

impl Store {
    /// Appends events to the queue log in one transaction; events of tenants that no
    /// longer exist are skipped.
    pub async fn insert_queue_log(&self, entries: &[QueueLogEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for e in entries {
            sqlx::query(
                "INSERT INTO queue_log (tenant_id, ts_ms, queue, call_id, event, agent, caller, \
                 position, entry_position, wait_s, talk_s) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 \
                 WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $1)",
            )
            .bind(e.tenant_id.0)
            .bind(e.ts_ms)
            .bind(e.queue.as_str())
            .bind(e.call_id.as_str())
            .bind(e.event.as_str())
            .bind(e.agent.as_deref())
            .bind(e.caller.as_deref())
            .bind(e.position.map(i64::from))
            .bind(e.entry_position.map(i64::from))
            .bind(e.wait_s.map(i64::from))
            .bind(e.talk_s.map(i64::from))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The tenant's queue log from `since_ms` on, oldest first, at most `limit` events;
    /// only queue `queue` when given.
    pub async fn list_queue_log(
        &self,
        tenant: TenantId,
        queue: Option<&str>,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<QueueLogEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant_id, ts_ms, queue, call_id, event, agent, caller, position, \
             entry_position, wait_s, talk_s FROM queue_log \
             WHERE tenant_id = $1 AND ts_ms >= $2 AND ($3 = '' OR queue = $3) \
             ORDER BY ts_ms, id LIMIT $4",
        )
        .bind(tenant.0)
        .bind(since_ms)
        .bind(queue.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(QueueLogEntry {
                    tenant_id: TenantId(r.try_get("tenant_id")?),
                    ts_ms: r.try_get("ts_ms")?,
                    queue: r.try_get("queue")?,
                    call_id: r.try_get("call_id")?,
                    event: r.try_get("event")?,
                    agent: r.try_get("agent")?,
                    caller: r.try_get("caller")?,
                    position: opt_u32(r.try_get("position")?),
                    entry_position: opt_u32(r.try_get("entry_position")?),
                    wait_s: opt_u32(r.try_get("wait_s")?),
                    talk_s: opt_u32(r.try_get("talk_s")?),
                })
            })
            .collect()
    }

    /// Records that a dynamic agent is logged in (and whether paused), or with
    /// `logged_in` false that they logged out.
    pub async fn set_queue_agent(
        &self,
        tenant: TenantId,
        queue: &str,
        agent: &str,
        logged_in: bool,
        paused: bool,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM queue_agents WHERE tenant_id = $1 AND queue = $2 AND agent = $3")
            .bind(tenant.0)
            .bind(queue)
            .bind(agent)
            .execute(&mut *tx)
            .await?;
        if logged_in {
            sqlx::query(
                "INSERT INTO queue_agents (tenant_id, queue, agent, paused, updated_at_ms) \
                 SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $1)",
            )
            .bind(tenant.0)
            .bind(queue)
            .bind(agent)
            .bind(i64::from(paused))
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every dynamic agent logged in, of every tenant (read at start-up).
    pub async fn load_queue_agents(&self) -> Result<Vec<QueueAgentRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant_id, queue, agent, paused FROM queue_agents ORDER BY tenant_id, queue, agent",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let paused: i64 = r.try_get("paused")?;
                Ok(QueueAgentRow {
                    tenant_id: TenantId(r.try_get("tenant_id")?),
                    queue: r.try_get("queue")?,
                    agent: r.try_get("agent")?,
                    paused: paused != 0,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, wait: Option<u32>, talk: Option<u32>) -> QueueLogEntry {
        QueueLogEntry {
            tenant_id: TenantId(1),
            ts_ms: 0,
            queue: "1100".into(),
            call_id: "c".into(),
            event: event.into(),
            agent: None,
            caller: None,
            position: None,
            entry_position: None,
            wait_s: wait,
            talk_s: talk,
        }
    }

    #[test]
    fn statistics_count_offered_answered_abandoned_and_the_service_level() {
        let log = [
            ev("ENTER", None, None),
            ev("CONNECT", Some(10), None),
            ev("COMPLETE", Some(10), Some(60)),
            ev("ENTER", None, None),
            ev("CONNECT", Some(30), None),
            ev("COMPLETE", Some(30), Some(120)),
            ev("ENTER", None, None),
            ev("ABANDON", Some(8), None),
            ev("FULL", None, None),
            ev("RINGNOANSWER", None, None),
        ];
        let s = queue_stats(&log, 20);
        assert_eq!(s.offered, 4);
        assert_eq!(s.answered, 2);
        assert_eq!(s.abandoned, 1);
        assert_eq!(s.refused, 1);
        assert_eq!(s.answered_within_sl, 1);
        assert!((s.service_level_pct - 100.0 / 3.0).abs() < 1e-9);
        assert!((s.avg_wait_s - 20.0).abs() < 1e-9);
        assert!((s.avg_talk_s - 90.0).abs() < 1e-9);
        assert!((s.avg_abandon_s - 8.0).abs() < 1e-9);
        assert_eq!(s.max_wait_s, 30);
    }

    #[test]
    fn an_empty_log_has_zero_figures_not_nan() {
        let s = queue_stats(&[], 20);
        assert_eq!(s, QueueStats::default());
    }
}
