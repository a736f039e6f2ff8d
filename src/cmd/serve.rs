//! `memdx serve`: a read-only Prometheus exporter.

use anyhow::{Context, Result};
use memdx_parse::kv::Counters;
use memdx_render::metrics::{reclaim_rates, Extras, SlabSelect};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "serve_http.rs"]
mod serve_http;
use serve_http::{Body, Limits, Request, Response, Server};

/// Export memdx metrics and findings to Prometheus at /metrics.
///
/// Serve memdx's view of this machine to Prometheus at /metrics: slab caches (bounded by
/// --slab-include/--slab-exclude/--slab-top), fragmentation indices per zone and order, watermark
/// headroom, live and dying memory cgroups, per-cgroup memory (usage, limit, failcnt or events, swap,
/// dying descendants and PSI on v2; bounded by --cgroup-top), reclaim counters and rates, PSI, and the
/// current findings by id and severity. Read-only; listens on loopback unless told otherwise.
///
/// Readings are cached for --min-interval so that many scrapers cost one reading.
/// Alert rules: deploy/prometheus/memdx-rules.yml; fleet recording rules:
/// deploy/prometheus/memdx-fleet-rules.yml; Grafana dashboards: deploy/grafana/.
///
/// Examples:
///   memdx serve                                       # http://127.0.0.1:9627/metrics
///   memdx serve --slab-top 20 --slab-exclude '^(dentry|inode_cache)$'
///   memdx serve --slab-all --cgroup-top 20
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Address to listen on. Anything but loopback exposes kernel memory details to the network.
    #[arg(long, default_value = "127.0.0.1:9627")]
    pub listen: SocketAddr,
    /// Read a root tree other than /.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Only slab caches whose name matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub slab_include: Option<regex::Regex>,
    /// Leave out slab caches whose name matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub slab_exclude: Option<regex::Regex>,
    /// At most this many slab caches, the largest (bounds the series count).
    #[arg(long, default_value_t = 50)]
    pub slab_top: usize,
    /// Every slab cache (after --slab-include/--slab-exclude), however many: 150-400 caches on
    /// common kernels, three series each.
    #[arg(long, conflicts_with = "slab_top")]
    pub slab_all: bool,
    /// Per-cgroup memory series for at most this many cgroups by usage, plus on cgroup v2 this many
    /// with the most dying descendants: at most 2 x N cgroups, about 15 series each. 0: none.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub cgroup_top: usize,
    /// Reuse a reading for this long: 1s, 5s.
    #[arg(long, default_value = "1s", value_parser = parse_min_interval)]
    pub min_interval: Duration,
    /// At most this many client connections at once (also kept under 3/4 of the descriptor limit).
    /// Beyond it, a new connection closes the oldest one that has not sent a complete request.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_connections: usize,
    /// A request head must arrive, and a response be taken, within this time: 10s, 500ms.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_timeout)]
    pub request_timeout: Duration,
}

fn parse_min_interval(s: &str) -> std::result::Result<Duration, String> {
    memdx_core::units::parse_duration_ms(s).map(Duration::from_millis)
}

fn parse_timeout(s: &str) -> std::result::Result<Duration, String> {
    match memdx_core::units::parse_duration_ms(s)? {
        ms @ 100..=3_600_000 => Ok(Duration::from_millis(ms)),
        _ => Err(format!("{s:?}: between 100ms and 1h")),
    }
}

struct State {
    body: Arc<String>,
    at: Option<Instant>,
    prev_vmstat: Option<(Instant, Counters)>,
}

struct Exporter {
    root: PathBuf,
    sel: SlabSelect,
    cgroup_top: usize,
    min_interval: Duration,
    state: Mutex<State>,
}

impl Exporter {
    /// The current body, read again when the cached one is older than `min_interval`. Readers wait
    /// for a reading in progress rather than start another.
    fn body(&self) -> Arc<String> {
        let mut st = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if st.at.is_some_and(|a| a.elapsed() < self.min_interval) {
            return st.body.clone();
        }
        let t0 = Instant::now();
        let reading = super::record::read(&self.root, super::record::now(), 0, 0, false);
        let report = memdx_analyze::analyze(&reading.case);
        let rates = match (&st.prev_vmstat, &reading.case.vmstat) {
            (Some((at, prev)), Some(cur)) => reclaim_rates(prev, cur, t0.duration_since(*at).as_secs_f64()),
            _ => None,
        };
        let ex = Extras {
            memcg: reading.memcg.as_ref().map(|m| (m.live, m.dying)),
            rates,
            cgroups: (self.cgroup_top > 0)
                .then(|| memdx_source::memcg::cgroup_stats(&self.root, self.cgroup_top))
                .flatten(),
            collect_seconds: t0.elapsed().as_secs_f64(),
        };
        let body =
            memdx_render::metrics::render(&reading.case, &report, env!("CARGO_PKG_VERSION"), &self.sel, &ex);
        if let Some(v) = reading.case.vmstat {
            st.prev_vmstat = Some((t0, v));
        }
        st.body = Arc::new(body);
        st.at = Some(Instant::now());
        st.body.clone()
    }
}

fn handle(ex: &Exporter, req: &Request<'_>) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return Response::text(405, b"read-only: GET /metrics\n");
    }
    match req.path {
        "/metrics" => Response {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: Body::Shared(ex.body()),
        },
        "/" => Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: Body::Static(
                b"<html><body><h1>memdx exporter</h1><a href=\"/metrics\">/metrics</a></body></html>\n",
            ),
        },
        _ => Response::text(404, b"not found\n"),
    }
}

/// A listening socket with TCP_NODELAY, which Linux copies to accepted connections: a response is
/// written as head and body, and with Nagle's algorithm the body would wait for the delayed ACK of
/// the head (40 ms per scrape).
fn listener(addr: SocketAddr) -> Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let ctx = || format!("cannot listen on {addr}");
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None).with_context(ctx)?;
    s.set_reuse_address(true).with_context(ctx)?;
    s.set_nodelay(true).with_context(ctx)?;
    s.bind(&addr.into()).with_context(ctx)?;
    s.listen(1024).with_context(ctx)?;
    Ok(s.into())
}

pub fn run(args: Args) -> Result<u8> {
    if !args.root.is_dir() {
        anyhow::bail!("--root {}: not a directory", args.root.display());
    }
    if !args.listen.ip().is_loopback() {
        eprintln!(
            "memdx serve: listening on {}, not loopback: anyone who can reach it reads kernel memory details",
            args.listen
        );
    }
    // Keep a quarter of the descriptors for the readings of /proc and /sys (and the listener).
    let fd_room =
        serve_http::fd_soft_limit().map_or(usize::MAX, |n| usize::try_from(n / 4 * 3).unwrap_or(usize::MAX));
    let limits = Limits {
        max_conns: args.max_connections.clamp(1, fd_room.max(8)),
        max_head: 8 * 1024,
        head_timeout: args.request_timeout,
        idle_timeout: Duration::from_secs(60),
        write_timeout: args.request_timeout,
    };
    let ex = Exporter {
        root: args.root,
        sel: SlabSelect {
            include: args.slab_include,
            exclude: args.slab_exclude,
            top: if args.slab_all { usize::MAX } else { args.slab_top },
        },
        cgroup_top: args.cgroup_top,
        min_interval: args.min_interval,
        state: Mutex::new(State { body: Arc::new(String::new()), at: None, prev_vmstat: None }),
    };
    let mut server = Server::new(listener(args.listen)?, limits, |req: &Request<'_>| handle(&ex, req))
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    // Print the bound address (port 0 picks one) so scripts and tests can find it.
    match server.local_addr() {
        Ok(a) => eprintln!("memdx serve: listening on http://{a}/metrics"),
        Err(_) => eprintln!("memdx serve: listening"),
    }
    // Only a broken listener or epoll ends the loop: exit non-zero so that the service manager
    // restarts the exporter (Restart=on-failure).
    server.run().with_context(|| format!("serving on {}", args.listen))?;
    Ok(super::EXIT_OK)
}
