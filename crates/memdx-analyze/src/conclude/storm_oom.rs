//! Rule `reclaim.storm_to_memcg_oom`: a reclaim storm seen in a trace and a memcg OOM in a log are
//! one story when the trace shows the task that invoked the OOM killer (or its victim) reclaiming
//! at that time. Memcg reclaim is what `try_charge` does before it gives up: it retries reclaim
//! (MAX_RECLAIM_RETRIES) and only when that frees nothing declares the OOM, so a storm of futile
//! memcg reclaim by the same task, right before, is how the cgroup reached its OOM.
//!
//! Runs after `reclaim.memcg_storm` and `oom.against_limits` and merges their two conclusions into
//! one; the join needs the same task (pid and name) in both, and, when both carry monotonic
//! stamps, the OOM within [`WINDOW_NS`] of the trace's reclaim episodes (a pid reused on another
//! boot or in another run of the workload is not the same task).

use super::oom_limits::is_memcg;
use super::{task, Conclusion, Confidence, Facts, Rep};
use memdx_core::units::bytes;
use memdx_log::Kind;
use memdx_trace::event::EpisodeKind;
use memdx_trace::ReclaimReport;

pub const NAME: &str = "reclaim.storm_to_memcg_oom";

/// How far from the trace's reclaim episodes the OOM may lie: the trace and printk stamps are both
/// the kernel's local clock, but a trace keeps only the first and the longest episodes in full.
const WINDOW_NS: u64 = 10_000_000_000;

/// How the trace ties to the OOM report.
enum Tie {
    /// `oom:mark_victim` in the trace names the OOM's victim.
    Victim,
    /// The task that invoked the OOM killer reclaims in the trace, within the time window.
    TaskInTime(f64),
    /// The same task reclaims in the trace; the OOM's time cannot be placed on the trace's clock.
    Task,
}

fn tie(t: &ReclaimReport, rep: &Rep) -> Option<Tie> {
    let r = rep.r;
    let m = r.mem.as_ref()?;
    if let Some(v) = m.victim_pid {
        // The same pid, and the same name where both give it (the log's is cut to 15 bytes).
        let same_name = |o: &memdx_trace::report::OomVictim| match (o.comm.as_deref(), m.victim.as_deref()) {
            (Some(a), Some(b)) => a.starts_with(b) || b.starts_with(a),
            _ => true,
        };
        if t.oom_victims.iter().any(|o| o.pid.is_some_and(|p| p as i64 == v as i64) && same_name(o)) {
            return Some(Tie::Victim);
        }
    }
    let (pid, comm) = (r.pid?, r.comm.as_deref()?);
    let eps: Vec<_> = t
        .first_episodes
        .iter()
        .chain(&t.longest_episodes)
        .filter(|e| e.kind != EpisodeKind::Kswapd && e.pid as i64 == pid as i64 && e.comm == comm)
        .collect();
    if eps.is_empty() {
        return None;
    }
    let Some(mono) = rep.mono() else { return Some(Tie::Task) };
    let at = (mono * 1e9) as u64;
    let start = eps.iter().map(|e| e.start_ns).min().unwrap_or(0);
    let end = eps.iter().map(|e| e.start_ns.saturating_add(e.duration_ns)).max().unwrap_or(0);
    (at.saturating_add(WINDOW_NS) >= start && at <= end.saturating_add(WINDOW_NS))
        .then(|| Tie::TaskInTime((at as f64 - end as f64) / 1e9))
}

pub fn run(facts: &Facts, out: &mut Vec<Conclusion>) {
    let Some(si) = out.iter().position(|c| c.rule == super::reclaim_storm::NAME) else { return };
    // The memcg OOM reports the trace ties to, with the conclusion that holds each.
    let mut joined: Option<(usize, &Rep, &ReclaimReport, Tie)> = None;
    for rep in facts.reports.iter().filter(|r| r.r.kind == Kind::Oom && is_memcg(r.r)) {
        let Some(oi) =
            out.iter().position(|c| c.rule == super::oom_limits::NAME && c.covers_any(&[rep.key()]))
        else {
            continue;
        };
        if let Some((t, how)) = facts.case.traces.iter().find_map(|t| tie(t, rep).map(|h| (t, h))) {
            joined = Some((oi, rep, t, how));
            break;
        }
    }
    let Some((oi, rep, trace, how)) = joined else { return };
    let (storm, oom) = (out[si].clone(), out[oi].clone());
    let r = rep.r;
    let who = task(r).unwrap_or_else(|| "the task".into());
    let m = r.mem.as_ref();
    let cg = m.and_then(|m| m.oom_memcg.as_deref()).map(|p| format!(" {p}")).unwrap_or_default();
    let what = storm.chain.first().map(|l| l.fact.clone()).unwrap_or_default();
    let when = match how {
        Tie::Victim => " (the trace records the kill)".to_string(),
        Tie::TaskInTime(d) if d >= 0.0 => format!(" {d:.2} s after the last reclaim episode the trace keeps"),
        Tie::TaskInTime(_) => " while the trace holds its reclaim episodes".to_string(),
        Tie::Task => String::new(),
    };
    let anon = m.and_then(|m| m.memcg_charged()).map(|(a, f)| {
        format!(
            " The cgroup's charge was {} anonymous and {} page cache: anonymous memory can only be reclaimed to swap, \
             so reclaim had almost nothing it could free.",
            bytes(a),
            bytes(f)
        )
    });
    // What the storm rule found makes each attempt futile (no swap, many memcgs, nokmem).
    let because = storm
        .cause
        .split_once(" because ")
        .map(|(_, b)| {
            format!(
                " Reclaim was futile because {}.",
                b.split(". ").next().unwrap_or(b).trim_end_matches('.')
            )
        })
        .unwrap_or_default();
    let cause = format!(
        "{who} reclaimed in the memory cgroup{cg} again and again, freeing almost nothing ({what}), until the charge \
         gave up and the OOM killer ran{when}: one problem, the reclaim storm is how the cgroup reached its OOM.{}{because} {}",
        anon.unwrap_or_default(),
        oom.cause
    );
    let mut c = Conclusion::new(NAME, storm.severity.max(oom.severity), cause);
    c.chain = storm.chain.clone();
    c.chain.extend(oom.chain.iter().cloned());
    c.link(
        match how {
            Tie::Victim => format!(
                "the trace's oom:mark_victim names the same victim (pid {})",
                m.and_then(|m| m.victim_pid).unwrap_or(0)
            ),
            _ => format!("the trace holds memcg reclaim episodes of the same task, {who}"),
        },
        Some("reclaim.episodes"),
        Some(memdx_core::SourceRef::new(trace.source.as_str())),
    );
    c.ruled_out = storm.ruled_out.iter().chain(&oom.ruled_out).cloned().collect();
    for u in storm.unknown.iter().chain(&oom.unknown) {
        c.unknown(u.what.clone(), u.collect.clone());
    }
    for s in oom.next_steps.iter().chain(&storm.next_steps) {
        if !c.next_steps.contains(s) {
            c.next_steps.push(s.clone());
        }
    }
    c.confidence = match how {
        Tie::Victim | Tie::TaskInTime(_) => Confidence::High,
        Tie::Task => storm.confidence.max(oom.confidence).min(Confidence::Medium),
    };
    c.confidence_why = match how {
        Tie::Victim => "the trace records the OOM kill of the report's victim among the reclaim episodes".into(),
        Tie::TaskInTime(_) => {
            "the task that invoked the OOM killer is the one the trace shows reclaiming, at the same time".into()
        }
        Tie::Task => {
            "the task that invoked the OOM killer (same pid and name) reclaims in the trace; the log's stamps cannot \
             be placed on the trace's clock"
                .into()
        }
    };
    c.covers = storm.covers.iter().chain(&oom.covers).cloned().collect();
    c.score = storm.score.max(oom.score);
    let (lo, hi) = if si < oi { (si, oi) } else { (oi, si) };
    out.remove(hi);
    out.remove(lo);
    out.push(c);
}
