//! `memdx trace allocs --min-size 32K`: who makes large allocations (the ftrace recipe of a real
//! investigation, done safely). Traces `kmem:kmalloc` filtered on `bytes_req >=` and `kmem:mm_page_alloc` filtered on
//! `order >=`, with `options/stacktrace`, in a private tracefs instance (no kprobes needed), and
//! reports the top call paths by count and by bytes. With FILEs, analyses a saved capture.

use memdx_slab::kmem::{AllocPaths, KmemOptions, KmemReport};
use memdx_source::tracefs::InstanceSpec;

use std::path::PathBuf;
use std::time::Duration;

/// Trace large kmalloc and page allocations with their stacks.
#[derive(clap::Args)]
pub struct AllocsArgs {
    /// Saved captures (`--save` output or ftrace text) to analyse instead of tracing live.
    files: Vec<PathBuf>,
    /// Smallest kmalloc request traced, e.g. 32K, 4096, 1M.
    #[arg(long, default_value = "32K", value_parser = parse_size)]
    min_size: u64,
    /// Smallest page allocation order traced; default: the order of --min-size (32K -> 3).
    #[arg(long)]
    min_order: Option<u32>,
    /// Live capture length, e.g. 30s, 2m; at most 1h.
    #[arg(long, default_value = "30s", value_parser = super::parse_duration)]
    duration: Duration,
    /// Also trace frees and list the allocations still live at the end (kmem:kfree is traced
    /// unfiltered: on a busy machine raise --buffer-kb).
    #[arg(long)]
    live: bool,
    #[command(flatten)]
    capture: super::CaptureArgs,
}

/// A size with an optional K/M/G suffix (binary units), for size options.
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mul) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let m = match t[i..].to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
                "" => 1,
                "K" => 1 << 10,
                "M" => 1 << 20,
                "G" => 1 << 30,
                _ => return Err(format!("bad size {s:?} (use e.g. 32K, 4096, 1M)")),
            };
            (&t[..i], m)
        }
        None => (t, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .ok_or_else(|| format!("bad size {s:?} (use e.g. 32K, 4096, 1M)"))
}

/// The smallest page order whose size reaches `bytes`.
fn order_for(bytes: u64) -> u32 {
    let pages = bytes.div_ceil(4096).max(1);
    pages.next_power_of_two().trailing_zeros()
}

pub fn run(a: AllocsArgs) -> anyhow::Result<u8> {
    let min_order = a.min_order.unwrap_or_else(|| order_for(a.min_size));
    let opts = KmemOptions { min_bytes: a.min_size, min_order, ..Default::default() };
    if !a.files.is_empty() {
        for f in &a.files {
            let r = super::trace_slab::parse_saved(f, opts.clone())?;
            print(&r, a.min_size, min_order, a.capture.json)?;
        }
        return Ok(crate::cmd::EXIT_OK);
    }
    let mut spec = InstanceSpec {
        name: memdx_source::tracefs::instance_name("allocs"),
        events: vec!["kmem/kmalloc".into(), "kmem/mm_page_alloc".into()],
        filters: vec![
            ("kmem/kmalloc".into(), format!("bytes_req >= {}", a.min_size)),
            ("kmem/mm_page_alloc".into(), format!("order >= {min_order}")),
        ],
        options: vec![("stacktrace".into(), true)],
        buffer_kb: a.capture.buffer_kb,
        ..Default::default()
    };
    if a.live {
        // Stacks for the allocations only (triggers), not for every free.
        spec.options.clear();
        spec.triggers = vec![
            ("kmem/kmalloc".into(), format!("stacktrace if bytes_req >= {}", a.min_size)),
            ("kmem/mm_page_alloc".into(), format!("stacktrace if order >= {min_order}")),
        ];
        spec.events.extend(["kmem/kfree".into(), "kmem/mm_page_free".into()]);
        spec.filters.push(("kmem/mm_page_free".into(), format!("order >= {min_order}")));
    }
    let Some((r, _)) = super::trace_slab::capture_kmem(&a.capture, spec, a.duration, "allocs", opts, || {})?
    else {
        return Ok(crate::cmd::EXIT_OK);
    };
    print(&r, a.min_size, min_order, a.capture.json)?;
    Ok(crate::cmd::EXIT_OK)
}

/// One call path: count, bytes, the path and the task.
fn path_line(c: &memdx_slab::pairing::PathCount) {
    println!("  {:>8} {:>12} B  {}  [{}]", c.count, c.bytes, c.short(6), c.comm.as_deref().unwrap_or("?"));
}

fn table(title: &str, p: &AllocPaths) {
    println!("\n{title}: {} allocations, {} bytes", p.events, p.bytes);
    for (order, paths) in [("by count", &p.by_count), ("by bytes", &p.by_bytes)] {
        println!("  {order}");
        for c in paths.iter().take(8) {
            path_line(c);
        }
    }
}

fn print(r: &KmemReport, min: u64, order: u32, json: bool) -> anyhow::Result<()> {
    if json {
        let v = memdx_render::schema::AllocsDoc::new(r, min, order);
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "memdx trace allocs  ·  {}  ·  kmalloc >= {min} B, pages of order >= {order}  ·  {:.1} s",
        r.source,
        r.span_s.unwrap_or(0.0)
    );
    table("kmalloc", &r.kmalloc);
    table("page allocations", &r.pages);
    let sizes: Vec<(String, u64)> = r
        .kmalloc_sizes
        .iter()
        .map(|b| (format!("[{}, {})", size_label(b.from), size_label(b.to)), b.count))
        .collect();
    histogram("kmalloc requested sizes", &sizes);
    let orders: Vec<(String, u64)> =
        r.page_orders.iter().map(|(o, n)| (format!("order {o} ({})", size_label(4096 << o)), *n)).collect();
    histogram("page allocation orders", &orders);
    for (what, live) in [("kmalloc", &r.kmalloc_live), ("page allocations", &r.pages_live)] {
        if let Some(l) = live {
            println!(
                "\n{what} still live at the end: {} allocations, {} bytes (oldest {:.1} s)",
                l.count, l.bytes, l.oldest_s
            );
            l.by_bytes.iter().take(8).for_each(path_line);
        }
    }
    if r.lost > 0 {
        println!("LOST EVENTS: {} (raise --buffer-kb or --min-size)", r.lost);
    }
    for d in r.diags.iter().take(5) {
        println!("{d}");
    }
    Ok(())
}

/// 4096 -> 4K, 1048576 -> 1M (bpftrace's hist() labels).
fn size_label(v: u64) -> String {
    match v {
        u64::MAX => "inf".into(),
        v if v >= 1 << 30 && v % (1 << 30) == 0 => format!("{}G", v >> 30),
        v if v >= 1 << 20 && v % (1 << 20) == 0 => format!("{}M", v >> 20),
        v if v >= 1 << 10 && v % (1 << 10) == 0 => format!("{}K", v >> 10),
        v => v.to_string(),
    }
}

/// A histogram as bpftrace prints one: label, count and a bar of @ scaled to the largest.
fn histogram(title: &str, rows: &[(String, u64)]) {
    if rows.is_empty() {
        return;
    }
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1);
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    println!("\n{title}");
    for (label, n) in rows {
        let bar = (n * 52).div_ceil(max) as usize;
        println!("{label:<w$} {n:>8} |{:<52}|", "@".repeat(bar));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_orders() {
        assert_eq!(parse_size("32K"), Ok(32768));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("x").is_err());
        assert!(parse_size("99999999999999G").is_err(), "an overflow is a usage error, not a panic");
        assert_eq!(order_for(32768), 3);
        assert_eq!(order_for(4096), 0);
        assert_eq!(order_for(5000), 1);
        assert_eq!(
            (size_label(32768), size_label(1 << 20), size_label(3000)),
            ("32K".into(), "1M".into(), "3000".into())
        );
    }
}
