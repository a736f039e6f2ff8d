//! Rule `fragmentation.between_samples`: a zone whose free memory is all in small blocks (the
//! fragmentation analyzer's `fragmentation.high_order_unavailable`, judged on the most fragmented
//! buddyinfo given) joined with another sample of the same zone's free lists that still has the
//! large blocks. The free memory is there in both; what differs is how it is cut up: external
//! fragmentation that the workload caused between the samples, not a shortage of memory. The
//! samples carry no capture time, so the conclusion names each by its file rather than calling one
//! "before".

use super::{Conclusion, Confidence, Facts};
use memdx_core::units::{kib, SatSum};
use memdx_core::{Severity, SourceRef};
use memdx_parse::buddyinfo::BuddyZone;

pub const NAME: &str = "fragmentation.between_samples";

const FINDING: &str = "fragmentation.high_order_unavailable";

/// Largest order with a free block.
fn largest(z: &BuddyZone) -> Option<usize> {
    z.free.iter().rposition(|&n| n > 0)
}

pub fn run(facts: &Facts, out: &mut Vec<Conclusion>) {
    let case = facts.case;
    let Some(judged) = &case.buddyinfo else { return };
    if case.buddyinfo_others.is_empty() {
        return;
    }
    let page_kb = case.page_kb();
    let mut c = Conclusion::new(NAME, Severity::Warning, String::new());
    let mut heads: Vec<String> = Vec::new();
    let mut worst: Option<usize> = None;
    for f in facts.findings.iter().filter(|f| f.id == FINDING) {
        // The finding's first evidence is the zone's free lists, read at the zone's line.
        let Some(src) = f.evidence.iter().find_map(|e| e.source.as_ref()) else { continue };
        let Some(line) = src.line.filter(|_| src.file == judged.source.file) else { continue };
        let Some(z) = judged.zones.iter().find(|z| z.line == line) else { continue };
        let top = largest(z);
        let from = top.map_or(0, |t| t + 1);
        // The other sample of the same zone with the most free blocks above `top`.
        let other = case
            .buddyinfo_others
            .iter()
            .filter_map(|b| {
                let o = b.zones.iter().find(|o| o.node == z.node && o.zone == z.zone)?;
                let above: u64 = o.free.iter().skip(from).sat_sum();
                (above > 0).then_some((b, o, above))
            })
            .max_by_key(|(_, _, above)| *above);
        let Some((b, o, above)) = other else { continue };
        let free_kb = z.free_pages().saturating_mul(page_kb);
        let o_top = largest(o).unwrap_or(0);
        let o_top_n = o.free.get(o_top).copied().unwrap_or(0);
        let biggest = top.map_or_else(
            || "no free block at all".to_string(),
            |t| {
                format!(
                    "the largest free block is order {t} ({})",
                    kib((1u64 << t.min(40)).saturating_mul(page_kb))
                )
            },
        );
        heads.push(format!(
            "Node {}, zone {} has {} free in {}, but {biggest}; in {} the same zone has {o_top_n} free blocks of order \
             {o_top} ({}) and {above} of order {from} or above in all",
            z.node,
            z.zone,
            kib(free_kb),
            judged.source.file,
            b.source.file,
            kib((1u64 << o_top.min(40)).saturating_mul(page_kb)),
        ));
        c.link(
            format!(
                "{}: Node {}, zone {} free blocks per order {} ({} free)",
                judged.source.file,
                z.node,
                z.zone,
                join(&z.free),
                kib(free_kb)
            ),
            Some(FINDING),
            Some(judged.source.at(z.line as usize)),
        );
        c.link(
            format!(
                "{}: Node {}, zone {} free blocks per order {} ({} free)",
                b.source.file,
                o.node,
                o.zone,
                join(&o.free),
                kib(o.free_pages().saturating_mul(page_kb))
            ),
            Some("buddyinfo"),
            Some(b.source.at(o.line as usize)),
        );
        c.ruled_out.push(crate::conclude::RuledOut {
            what: format!("a shortage of memory in zone {}", z.zone),
            because: format!("{} is still free there, only in small blocks", kib(free_kb)),
            source: Some(SourceRef::clone(&judged.source.at(z.line as usize))),
        });
        worst = Some(worst.map_or(from, |w: usize| w.min(from)));
        c.covers.push(format!("{FINDING}:{}:{}", z.node, z.zone));
    }
    let Some(from) = worst else { return };
    c.cause = format!(
        "External fragmentation: the free memory is cut into small blocks. {}. The memory is not exhausted, so \
         order-0 allocations still succeed, while every allocation of order {from} or above (huge pages, DMA and \
         other physically contiguous buffers, large kmalloc) needs compaction first and fails or triggers the OOM \
         killer when compaction cannot assemble a block.",
        heads.join("; ")
    );
    c.confidence = Confidence::Medium;
    c.confidence_why =
        "two samples of the same zones' free lists show the large blocks gone while memory stays free; \
                        the samples carry no capture time and no allocation failure is in the inputs"
            .into();
    c.unknown(
        "whether compaction runs and fails (and what pins the pageblocks it cannot move)",
        "grep -E 'compact_(stall|fail|success)' /proc/vmstat; cat /proc/pagetypeinfo",
    );
    c.next_steps.push(
        "echo 1 > /proc/sys/vm/compact_memory, then re-read /proc/buddyinfo: blocks that come back were movable"
            .into(),
    );
    c.next_steps.push(
        "raise vm.min_free_kbytes (and vm.watermark_scale_factor) to keep larger free blocks; find what took the \
         memory that was free in large blocks (page cache, slab, a filesystem cache such as the ZFS ARC) and cap it"
            .into(),
    );
    c.covers.push(FINDING.into());
    c.score = 1e3;
    out.push(c);
}

fn join(v: &[u64]) -> String {
    v.iter().map(u64::to_string).collect::<Vec<_>>().join(" ")
}
