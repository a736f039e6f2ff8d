//! The timeline of one case: every dated event of every input on one clock where the inputs allow.
//! Built by memdx-analyze (`timeline::build`), carried in [`crate::Report`], rendered by
//! memdx-render. Part of the JSON output schema (`docs/json-schema.md`).

use crate::SourceRef;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// `report`, `oom_kill`, `alloc_failure`, `unit_failures`, `reclaim_episode`, `oom_victim`, `sample`.
    pub kind: String,
    pub what: String,
    /// Seconds since boot, when the input stamps it so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monotonic: Option<f64>,
    /// Wall-clock time as the input wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall: Option<String>,
    /// Seconds since the Unix epoch, when the event is on the wall clock (directly or aligned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<f64>,
    /// True when `epoch` was computed from `monotonic` and the log's boot time.
    pub aligned: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRef>,
    /// Index of the boot the monotonic stamp belongs to (one per log; logs of one boot share it).
    #[serde(skip)]
    pub boot: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timeline {
    pub events: Vec<Event>,
    /// How the clocks were aligned (or why not).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}
