//! The review queue: cases that need a person, most valuable first, each listed once, and the
//! reviewed cases that `triage review export` writes out.

use sqlx::Row;

use super::browse::{CaseFilter, Outcome};
use super::cases::from_row;
use super::select::Arg;
use super::{CaseRecord, ReplyStatus, Store, StoreError};
use crate::respond::Suppression;

/// Why a case is in the queue, in the order the queue shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Someone marked our reply 👎.
    ThumbsDown,
    /// On topic, but not answered: below the threshold.
    BelowThreshold,
    /// Rules of two categories fired.
    CloseCall,
    Recurring,
    /// A random (but stable) sample of answered cases, so that precision is measured.
    Sample,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::ThumbsDown => "thumbs_down",
            Why::BelowThreshold => "below_threshold",
            Why::CloseCall => "close_call",
            Why::Recurring => "recurring",
            Why::Sample => "sample",
        }
    }
}

#[derive(Debug, Clone)]
pub struct QueueItem {
    pub why: Why,
    pub case: CaseRecord,
}

/// Answered cases in the sample: about 1 in `SAMPLE_ONE_IN`, chosen by a hash of the id so that
/// the sample stays put while people work through it.
const SAMPLE_ONE_IN: i64 = 50;

/// Whether the rules that fired name two categories or more.
fn close_call(case: &CaseRecord) -> bool {
    let mut categories = case.rules.iter().filter_map(|r| r.split('/').next());
    match categories.next() {
        Some(first) => categories.any(|c| c != first),
        None => false,
    }
}

/// A reviewed case: the label a person set, with the case.
#[derive(Debug, Clone)]
pub struct Reviewed {
    pub case: CaseRecord,
    pub label: String,
    pub labelled_by: String,
    pub labelled_at: i64,
}

impl Store {
    /// Up to `per_kind` unreviewed cases of each kind received since `since`. A case is listed
    /// once, under the first kind it is.
    pub async fn review_queue(&self, since: i64, threshold: f64, per_kind: u32) -> Result<Vec<QueueItem>, StoreError> {
        let limit = i64::from(per_kind);
        let unreviewed = "NOT EXISTS (SELECT 1 FROM corrections k WHERE k.case_id = c.id)";
        let columns = super::browse::prefixed("c");
        let mut items: Vec<QueueItem> = Vec::new();
        let push = |why: Why, cases: Vec<CaseRecord>, items: &mut Vec<QueueItem>| {
            for case in cases {
                if items.len() < 10_000 && !items.iter().any(|i| i.case.id == case.id) {
                    items.push(QueueItem { why, case });
                }
            }
        };

        // Feedback is small next to cases: it leads.
        let down = format!(
            "SELECT {columns} FROM cases c WHERE c.id IN (SELECT case_id FROM feedback WHERE NOT helpful)
               AND c.received_at >= $1 AND {unreviewed} ORDER BY c.id DESC LIMIT $2"
        );
        push(Why::ThumbsDown, self.select(&down, &[Arg::Int(since), Arg::Int(limit)], from_row, from_row).await?, &mut items);

        let below = CaseFilter {
            outcome: Some(Outcome::Suppressed(Suppression::BelowThreshold)),
            corrected: Some(false),
            since: Some(since),
            ..CaseFilter::default()
        };
        push(Why::BelowThreshold, self.browse(&below, None, per_kind).await?.cases, &mut items);

        // Close calls are told apart by their rules; candidates are the less sure answers.
        let candidates = format!(
            "SELECT {columns} FROM cases c WHERE c.received_at >= $1 AND c.category != 'none' AND c.confidence < $2
               AND c.rules LIKE '%\",\"%' AND {unreviewed} ORDER BY c.id DESC LIMIT 500"
        );
        let args = [Arg::Int(since), Arg::Real((threshold + 1.0) / 2.0)];
        let close: Vec<CaseRecord> =
            self.select(&candidates, &args, from_row, from_row).await?.into_iter().filter(close_call).take(per_kind as usize).collect();
        push(Why::CloseCall, close, &mut items);

        let recurring = CaseFilter { recurring: Some(true), corrected: Some(false), since: Some(since), ..CaseFilter::default() };
        push(Why::Recurring, self.browse(&recurring, None, per_kind).await?.cases, &mut items);

        let sample = format!(
            "SELECT {columns} FROM cases c WHERE c.reply_status = $1 AND c.received_at >= $2
               AND ((c.id * 2654435761) % 4294967296) % $3 = 0 AND {unreviewed} ORDER BY c.id DESC LIMIT $4"
        );
        let args = [Arg::Text(ReplyStatus::Sent.as_str().into()), Arg::Int(since), Arg::Int(SAMPLE_ONE_IN), Arg::Int(limit)];
        push(Why::Sample, self.select(&sample, &args, from_row, from_row).await?, &mut items);
        Ok(items)
    }

    /// Cases labelled by a person since `since` (by the label's time), with their latest label,
    /// oldest first.
    pub async fn reviewed_since(&self, since: i64) -> Result<Vec<Reviewed>, StoreError> {
        let columns = super::browse::prefixed("c");
        let sql = format!(
            "SELECT {columns}, k.category AS label, k.corrected_by AS labelled_by, k.created_at AS labelled_at
             FROM corrections k JOIN cases c ON c.id = k.case_id
             WHERE k.created_at >= $1
               AND k.id = (SELECT k2.id FROM corrections k2 WHERE k2.case_id = k.case_id ORDER BY k2.created_at DESC, k2.id DESC LIMIT 1)
             ORDER BY k.created_at, k.id"
        );
        self.select(&sql, &[Arg::Int(since)], reviewed_from_row, reviewed_from_row).await
    }
}

fn reviewed_from_row<R>(r: &R) -> Result<Reviewed, sqlx::Error>
where
    R: Row,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    f64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(Reviewed {
        case: from_row(r)?,
        label: r.try_get("label")?,
        labelled_by: r.try_get("labelled_by")?,
        labelled_at: r.try_get("labelled_at")?,
    })
}
