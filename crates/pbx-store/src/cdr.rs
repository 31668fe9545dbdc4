//! Call detail records: one row per call, written when the call ends.

use std::fmt;
use std::str::FromStr;

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::{Store, StoreError, TenantId};

/// How a call ended, in the words of Asterisk's CDR `disposition` that operators know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Disposition {
    /// `ANSWERED`: some destination answered.
    #[serde(rename = "ANSWERED")]
    Answered,
    /// `NO ANSWER`: rang until the ring timeout without an answer. (Asterisk also writes
    /// NO ANSWER when the caller gives up; vpbx says [`Disposition::Cancelled`] then.)
    #[serde(rename = "NO ANSWER")]
    NoAnswer,
    /// `BUSY`: every contact said busy (486/600/603), or the user was at `busy_level`.
    #[serde(rename = "BUSY")]
    Busy,
    /// `FAILED`: no route, nobody registered, congestion, or an error response.
    #[serde(rename = "FAILED")]
    Failed,
    /// `CANCELLED`: the caller hung up (CANCEL) before anyone answered.
    #[serde(rename = "CANCELLED")]
    Cancelled,
}

impl Disposition {
    /// Every value, in the order above.
    pub const ALL: [Disposition; 5] = [
        Disposition::Answered,
        Disposition::NoAnswer,
        Disposition::Busy,
        Disposition::Failed,
        Disposition::Cancelled,
    ];

    /// The stored text: `ANSWERED`, `NO ANSWER`, `BUSY`, `FAILED`, `CANCELLED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Answered => "ANSWERED",
            Disposition::NoAnswer => "NO ANSWER",
            Disposition::Busy => "BUSY",
            Disposition::Failed => "FAILED",
            Disposition::Cancelled => "CANCELLED",
        }
    }
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Disposition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Disposition::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| format!("unknown disposition {s:?}"))
    }
}

/// Which side ended the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HangupBy {
    /// The calling party (BYE or CANCEL from the inbound leg).
    Caller,
    /// The called party (BYE or a final error from the outbound side).
    Callee,
    /// vpbx itself: RTP timeout, ring timeout, limits, shutdown, routing failure.
    System,
}

impl HangupBy {
    /// `caller`, `callee` or `system`.
    pub fn as_str(self) -> &'static str {
        match self {
            HangupBy::Caller => "caller",
            HangupBy::Callee => "callee",
            HangupBy::System => "system",
        }
    }
}

impl fmt::Display for HangupBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HangupBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "caller" => Ok(HangupBy::Caller),
            "callee" => Ok(HangupBy::Callee),
            "system" => Ok(HangupBy::System),
            _ => Err(format!("unknown hangup side {s:?}")),
        }
    }
}

/// Blind or attended (consultative) transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransferKind {
    /// REFER without Replaces, or the blind feature code.
    Blind,
    /// REFER with Replaces, or the attended feature code.
    Attended,
}

/// One transfer during a call, stored in the CDR's `transfers` JSON list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CdrTransfer {
    /// Blind or attended.
    pub kind: TransferKind,
    /// Who transferred (extension or number).
    pub by: String,
    /// Where the call went (a destination such as `user:1003`, or digits).
    pub to: String,
    /// When, epoch ms.
    pub at_ms: i64,
}

/// One call detail record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cdr {
    /// Assigned by the store; ignored by [`Store::insert_cdr`].
    pub id: i64,
    /// The tenant the call belongs to.
    pub tenant_id: TenantId,
    /// Call-ID of the inbound leg.
    pub call_id: String,
    /// Call-IDs of the outbound legs, in the order they were created (forks included).
    pub leg_call_ids: Vec<String>,
    /// Who called: an extension or a number.
    pub caller: String,
    /// The caller's display name, if any.
    pub caller_name: Option<String>,
    /// The digits dialled.
    pub dialed: String,
    /// Where the call ended up (reached, or last tried): a destination such as `user:1002`;
    /// `None` when routing found none.
    pub destination: Option<String>,
    /// When the INVITE arrived, epoch ms.
    pub start_ms: i64,
    /// When the call was answered, epoch ms.
    pub answer_ms: Option<i64>,
    /// When it ended, epoch ms.
    pub end_ms: i64,
    /// `end - start` in whole seconds (see [`Cdr::seconds`]).
    pub duration_s: u32,
    /// `end - answer` in whole seconds; 0 if never answered.
    pub billsec_s: u32,
    /// How it ended.
    pub disposition: Disposition,
    /// Who ended it.
    pub hangup_by: HangupBy,
    /// The SIP status that ended it (the final response of a failed call, or none for a BYE).
    pub sip_cause: Option<u16>,
    /// Why, in words: `normal`, `cancel`, `rtp_timeout`, `rtp_hold_timeout`,
    /// `ring_timeout`, `busy`, `unavailable`, `congestion`, `shutdown`, …
    pub hangup_reason: String,
    /// Transfers, in order.
    pub transfers: Vec<CdrTransfer>,
    /// The node that handled the call.
    pub node: String,
    /// The call's recording, relative to the tenant's data directory; `None` when it was
    /// not recorded (or the recording could not start: quota, disk).
    #[serde(default)]
    pub recording: Option<String>,
    /// The provider trunk the call went out or came in through; `None` inside the tenant.
    pub trunk: Option<String>,
}

impl Cdr {
    /// `(duration_s, billsec_s)` from the call's times, truncated to whole seconds as
    /// Asterisk does by default; billsec is 0 without an answer, and never negative.
    pub fn seconds(start_ms: i64, answer_ms: Option<i64>, end_ms: i64) -> (u32, u32) {
        let secs = |from: i64| {
            u32::try_from(end_ms.saturating_sub(from).max(0) / 1000).unwrap_or(u32::MAX)
        };
        (secs(start_ms), answer_ms.map_or(0, secs))
    }
}

const CDR_COLUMNS: &str = "tenant_id, call_id, leg_call_ids, caller, caller_name, dialed, \
     destination, start_ms, answer_ms, end_ms, duration_s, billsec_s, disposition, hangup_by, \
     sip_cause, hangup_reason, transfers, node, recording, trunk";

/// `INSERT … SELECT $1 … WHERE the tenant exists RETURNING id`: no row comes back for a
/// tenant deleted meanwhile.
fn insert_sql() -> String {
    let params: Vec<String> = (1..=20).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO cdr ({CDR_COLUMNS}) SELECT {} WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $1) \
         RETURNING id",
        params.join(", ")
    )
}

fn corrupt(detail: String) -> StoreError {
    StoreError::Corrupt {
        table: "cdr",
        detail,
    }
}

fn json_list<T: serde::de::DeserializeOwned>(text: &str, column: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(format!("{column} is not valid JSON: {e}")))
}

fn cdr_from_row(row: &AnyRow) -> Result<Cdr, StoreError> {
    let u32_of = |column: &'static str| -> Result<u32, StoreError> {
        let v: i64 = row.try_get(column)?;
        u32::try_from(v).map_err(|_| corrupt(format!("{column} = {v} is out of range")))
    };
    let sip_cause = row
        .try_get::<Option<i64>, _>("sip_cause")?
        .map(|v| u16::try_from(v).map_err(|_| corrupt(format!("sip_cause = {v} is out of range"))))
        .transpose()?;
    let disposition: String = row.try_get("disposition")?;
    let hangup_by: String = row.try_get("hangup_by")?;
    let legs: String = row.try_get("leg_call_ids")?;
    let transfers: String = row.try_get("transfers")?;
    Ok(Cdr {
        id: row.try_get("id")?,
        tenant_id: TenantId(row.try_get("tenant_id")?),
        call_id: row.try_get("call_id")?,
        leg_call_ids: json_list(&legs, "leg_call_ids")?,
        caller: row.try_get("caller")?,
        caller_name: row.try_get("caller_name")?,
        dialed: row.try_get("dialed")?,
        destination: row.try_get("destination")?,
        start_ms: row.try_get("start_ms")?,
        answer_ms: row.try_get("answer_ms")?,
        end_ms: row.try_get("end_ms")?,
        duration_s: u32_of("duration_s")?,
        billsec_s: u32_of("billsec_s")?,
        disposition: disposition.parse().map_err(corrupt)?,
        hangup_by: hangup_by.parse().map_err(corrupt)?,
        sip_cause,
        hangup_reason: row.try_get("hangup_reason")?,
        transfers: json_list(&transfers, "transfers")?,
        node: row.try_get("node")?,
        recording: row.try_get("recording")?,
        trunk: row.try_get("trunk")?,
    })
}

/// Inserts one record inside `tx`; `None` when its tenant no longer exists.
async fn insert_in(tx: &mut Transaction<'static, Any>, c: &Cdr) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(insert_sql()))
        .bind(c.tenant_id.0)
        .bind(c.call_id.as_str())
        .bind(to_json(&c.leg_call_ids))
        .bind(c.caller.as_str())
        .bind(c.caller_name.as_deref())
        .bind(c.dialed.as_str())
        .bind(c.destination.as_deref())
        .bind(c.start_ms)
        .bind(c.answer_ms)
        .bind(c.end_ms)
        .bind(i64::from(c.duration_s))
        .bind(i64::from(c.billsec_s))
        .bind(c.disposition.as_str())
        .bind(c.hangup_by.as_str())
        .bind(c.sip_cause.map(i64::from))
        .bind(c.hangup_reason.as_str())
        .bind(to_json(&c.transfers))
        .bind(c.node.as_str())
        .bind(c.recording.as_deref())
        .bind(c.trunk.as_deref())
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|r| r.try_get::<i64, _>("id").map_err(StoreError::from))
        .transpose()
}

/// The text of a JSON list column.
fn to_json<T: serde::Serialize>(list: &[T]) -> String {
    serde_json::to_string(list).expect("a list of strings or plain structs serialises")
}

impl Store {
    /// Writes one call record and returns its id. Durable when this returns: the row is
    /// committed (on SQLite in WAL mode with `synchronous = NORMAL` a committed transaction
    /// survives the process being killed; only an OS crash or power cut may lose the last
    /// ones). Fails with [`StoreError::TenantNotFound`] when the tenant no longer exists.
    pub async fn insert_cdr(&self, cdr: &Cdr) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = insert_in(&mut tx, cdr).await?;
        match id {
            Some(id) => {
                tx.commit().await?;
                Ok(id)
            }
            None => {
                tx.rollback().await?;
                Err(StoreError::TenantNotFound(format!(
                    "with id {}",
                    cdr.tenant_id.0
                )))
            }
        }
    }

    /// Writes several records in one transaction (one commit for a batch of calls that
    /// ended together). Records of tenants that no longer exist are skipped. Returns the
    /// ids of the written records, in input order.
    pub async fn insert_cdrs(&self, cdrs: &[Cdr]) -> Result<Vec<i64>, StoreError> {
        if cdrs.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let mut ids = Vec::with_capacity(cdrs.len());
        for c in cdrs {
            match insert_in(&mut tx, c).await? {
                Some(id) => ids.push(id),
                None => tracing::warn!(
                    tenant_id = c.tenant_id.0,
                    "call record of a deleted tenant dropped"
                ),
            }
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// The tenant's newest `limit` records, newest first; with `before_id`, only records
    /// older than that id (the next page: pass the last id of the previous one).
    pub async fn list_cdr(
        &self,
        tenant: TenantId,
        limit: u32,
        before_id: Option<i64>,
    ) -> Result<Vec<Cdr>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, {CDR_COLUMNS} FROM cdr WHERE tenant_id = $1 AND id < $2 \
             ORDER BY id DESC LIMIT $3"
        )))
        .bind(tenant.0)
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(cdr_from_row).collect()
    }

    /// One record of the tenant by id (`None` when there is none, or it is another tenant's).
    pub async fn get_cdr(&self, tenant: TenantId, id: i64) -> Result<Option<Cdr>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, {CDR_COLUMNS} FROM cdr WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant.0)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(cdr_from_row).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_truncated_and_billsec_needs_an_answer() {
        assert_eq!(Cdr::seconds(1_000, Some(3_500), 10_999), (9, 7));
        assert_eq!(Cdr::seconds(1_000, None, 10_999), (9, 0));
        assert_eq!(
            Cdr::seconds(5_000, Some(6_000), 4_000),
            (0, 0),
            "a clock step back gives 0, not a wrap"
        );
    }

    #[test]
    fn dispositions_round_trip_through_their_asterisk_text() {
        for d in Disposition::ALL {
            assert_eq!(d.as_str().parse::<Disposition>(), Ok(d));
        }
        assert_eq!(Disposition::NoAnswer.as_str(), "NO ANSWER");
        assert!("no answer".parse::<Disposition>().is_err());
        assert_eq!(
            serde_json::to_string(&Disposition::NoAnswer)
                .ok()
                .as_deref(),
            Some("\"NO ANSWER\"")
        );
    }

    #[test]
    fn the_insert_statement_numbers_every_column() {
        let sql = insert_sql();
        assert!(sql.contains("$20 WHERE EXISTS"), "{sql}");
        assert_eq!(CDR_COLUMNS.split(',').count(), 20);
    }
}
