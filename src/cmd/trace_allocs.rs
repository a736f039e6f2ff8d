//! `memdx trace allocs --min-size 32K`: who makes large allocations (seed 003's ftrace recipe, done
//! safely). Traces `kmem:kmalloc` filtered on `bytes_req >=` and `kmem:mm_page_alloc` filtered on
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
    /// Live capture length, e.g. 30s, 2m.
    #[arg(long, default_value = "30s", value_parser = super::parse_duration)]
    duration: Duration,
    #[command(flatten)]
    capture: super::CaptureArgs,
}

fn parse_size(s: &str) -> Result<u64, String> {
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
    num.trim().parse::<u64>().map(|n| n * mul).map_err(|_| format!("bad size {s:?} (use e.g. 32K, 4096, 1M)"))
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
    let spec = InstanceSpec {
        name: format!("memdx-allocs-{}", std::process::id()),
        events: vec!["kmem/kmalloc".into(), "kmem/mm_page_alloc".into()],
        filters: vec![
            ("kmem/kmalloc".into(), format!("bytes_req >= {}", a.min_size)),
            ("kmem/mm_page_alloc".into(), format!("order >= {min_order}")),
        ],
        options: vec![("stacktrace".into(), true)],
        buffer_kb: a.capture.buffer_kb,
        ..Default::default()
    };
    let Some(cap) = super::trace_slab::capture(
        &a.capture.root,
        spec,
        a.duration,
        a.capture.save.as_deref(),
        a.capture.dry_run,
        "allocs",
        || {},
    )?
    else {
        return Ok(crate::cmd::EXIT_OK);
    };
    let r = super::trace_slab::analyse_capture(&cap, opts, a.capture.save.is_some())?;
    print(&r, a.min_size, min_order, a.capture.json)?;
    Ok(crate::cmd::EXIT_OK)
}

fn table(title: &str, p: &AllocPaths) {
    println!("\n{title}: {} allocations, {} bytes", p.events, p.bytes);
    for (order, paths) in [("by count", &p.by_count), ("by bytes", &p.by_bytes)] {
        println!("  {order}");
        for c in paths.iter().take(8) {
            println!(
                "  {:>8} {:>12} B  {}  [{}]",
                c.count,
                c.bytes,
                c.short(6),
                c.comm.as_deref().unwrap_or("?")
            );
        }
    }
}

fn print(r: &KmemReport, min: u64, order: u32, json: bool) -> anyhow::Result<()> {
    if json {
        let v = serde_json::json!({"min_size": min, "min_order": order, "report": r});
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
    if r.lost > 0 {
        println!("LOST EVENTS: {} (raise --buffer-kb or --min-size)", r.lost);
    }
    for d in r.diags.iter().take(5) {
        println!("{d}");
    }
    Ok(())
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
        assert_eq!(order_for(32768), 3);
        assert_eq!(order_for(4096), 0);
        assert_eq!(order_for(5000), 1);
    }
}
