//! The `--html` report: self-contained (no URL in any src/href, no script, a CSP that forbids
//! requests), with the findings, charts and a flame graph of real allocation stacks; and, when
//! Debian's `chromium` is installed, opened headless: `--dump-dom` holds the findings and a
//! screenshot is written (path printed) for a person to look at.

use memdx_analyze::Case;
use memdx_render::html::{render, stacks_from_ftrace, HtmlInput};
use memdx_store::{sample, Store};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
mod common;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The real captures of testdata/store/churn_v1 as a history database.
fn history_db(db: &Path) -> memdx_store::History {
    let mut store = Store::open(db).unwrap();
    let steps = manifest().join("testdata/store/churn_v1/steps");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(steps).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    for d in dirs {
        let mut case = Case::new();
        let mut time = None;
        for f in ["misc.txt", "slabinfo.txt"] {
            let text = std::fs::read_to_string(d.join(f)).unwrap();
            time = time.or_else(|| memdx_parse::sections::capture_time(&text));
            case.ingest(f, &text, None);
        }
        store.write(&sample::from_case(time.unwrap(), &case, &sample::Extras::default())).unwrap();
    }
    store.load(&memdx_store::Query::default()).unwrap()
}

fn assert_self_contained(html: &str) {
    assert!(!html.contains("<script"), "no script");
    for attr in ["src=", "href=", "@import"] {
        assert!(!html.contains(attr), "{attr} found: the report must not load anything");
    }
    // `url(#id)` names a gradient in the same SVG; any other url() would be a fetch.
    assert_eq!(html.matches("url(").count(), html.matches("url(#").count(), "url() to outside the file");
    // The only URLs are XML namespace names (SVG, xlink, inferno's `fg:`), which are never fetched.
    let stripped = html
        .replace("http://www.w3.org/2000/svg", "")
        .replace("http://www.w3.org/1999/xlink", "")
        .replace("http://github.com/jonhoo/inferno", "");
    assert!(!stripped.contains("http://") && !stripped.contains("https://"), "a URL in the report");
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
}

#[test]
fn report_is_complete_and_self_contained() {
    let tmp = std::env::temp_dir().join(format!("memdx-html-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let inputs = manifest().join("testdata/diagnose/seed000_slab/inputs");
    let mut case = Case::new();
    let errs = memdx_source::gather(std::slice::from_ref(&inputs), &mut case, &Default::default());
    assert!(errs.is_empty());
    let report = memdx_analyze::analyze(&case);
    assert!(!report.findings.is_empty(), "seed000 has findings");
    let hist = history_db(&tmp.join("h.db"));
    let hr = memdx_store::findings::analyze(&hist);
    let trace =
        std::fs::read_to_string(manifest().join("testdata/store/trace/option_stacktrace_kmalloc.trace.txt"))
            .unwrap();
    let stacks = stacks_from_ftrace(&trace);
    let seen: u64 = stacks.iter().map(|s| s.1).sum();
    assert_eq!(seen as usize, trace.matches("<stack trace>").count(), "every stack counted");
    assert!(stacks.iter().all(|(s, _)| s.last().is_some_and(|f| f == "trace_event_raw_event_kmalloc")));
    let latency =
        [("<1ms", 120u64), ("1-10ms", 30), ("10-100ms", 4), (">100ms", 1)].map(|(l, n)| (l.to_string(), n));
    let mut input = HtmlInput::new(&case, &report, "test");
    input.generated = Some(1_795_301_200);
    input.history = Some(&hist);
    input.history_report = Some(&hr);
    input.stacks = &stacks;
    input.reclaim_latency = &latency;
    let html = render(&input);
    assert_self_contained(&html);
    for f in &report.findings {
        assert!(html.contains(&memdx_render::html::esc(&f.title)), "finding {} missing", f.id);
    }
    for section in [
        "id=\"memory\"",
        "id=\"slab\"",
        "id=\"fragmentation\"",
        "id=\"reclaim\"",
        "id=\"history\"",
        "id=\"stacks\"",
    ] {
        assert!(html.contains(section), "{section}");
    }
    assert!(html.contains("seq_read_iter"), "flame graph frames");
    assert!(html.contains("Slab caches that grew most"), "history chart");
    let file = tmp.join("report.html");
    std::fs::write(&file, &html).unwrap();

    // The CLI writes the same kind of file.
    let cli = tmp.join("cli.html");
    let out = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .args(["diagnose", "--color", "never", "--html"])
        .arg(&cli)
        .arg("--db")
        .arg(tmp.join("h.db"))
        .arg(&inputs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("From the history in"));
    let cli_html = std::fs::read_to_string(&cli).unwrap();
    assert_self_contained(&cli_html);
    assert!(cli_html.contains(&memdx_render::html::esc(&report.findings[0].title)));

    let chromium = chromium();
    let Some(chromium) = chromium else {
        std::fs::remove_dir_all(&tmp).unwrap();
        common::skip("chromium not installed (apt-get install -y chromium)");
        return;
    };
    let dom = dump_dom(chromium, &tmp.join("p1"), &file);
    let dom = String::from_utf8_lossy(&dom.stdout);
    for f in &report.findings {
        assert!(dom.contains(&memdx_render::html::esc(&f.title)), "dump-dom lacks finding {}", f.id);
    }
    let shot = std::env::var_os("MEMDX_HTML_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.join("report.png"));
    screenshot(chromium, &tmp.join("p2"), &file, "1280,3000", &shot);
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "screenshot is empty");
    eprintln!("screenshot: {}", shot.display());
    if std::env::var_os("MEMDX_HTML_SCREENSHOT").is_some() {
        std::fs::copy(&file, shot.with_extension("html")).unwrap();
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// `chromium --dump-dom` of a local file: the DOM after parsing and layout.
fn dump_dom(chromium: &str, profile: &Path, file: &Path) -> std::process::Output {
    Command::new(chromium)
        .args(HEADLESS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", &format!("file://{}", file.display())])
        .output()
        .unwrap()
}

/// A PNG screenshot of a local file at `size` ("W,H") CSS pixels, one device pixel each.
fn screenshot(chromium: &str, profile: &Path, file: &Path, size: &str, shot: &Path) {
    let st = Command::new(chromium)
        .args(HEADLESS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args([&format!("--window-size={size}"), "--hide-scrollbars", "--force-device-scale-factor=1"])
        // Every tile rastered before the frame is captured: on a loaded host the capture once
        // came before the page's lower tiles were painted (a blank band where the memory
        // breakdown's last legend rows are, and their colours "not painted").
        .arg("--run-all-compositor-stages-before-draw")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", file.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "chromium --screenshot failed");
}

/// Attribute `name="..."` values of every `<tag ...>` element in `html`.
fn attrs<'a>(html: &'a str, tag: &str, name: &str) -> Vec<&'a str> {
    html.split(&format!("<{tag} "))
        .skip(1)
        .filter_map(|el| {
            let el = &el[..el.find('>').unwrap_or(el.len())];
            let at = el.find(&format!("{name}=\""))? + name.len() + 2;
            Some(&el[at..at + el[at..].find('"')?])
        })
        .collect()
}

/// Texts of the `<text class="CLASS" ...>` elements of an SVG fragment.
fn texts<'a>(svg: &'a str, class: &str) -> Vec<&'a str> {
    svg.split(&format!("<text class=\"{class}\""))
        .skip(1)
        .filter_map(|t| {
            let start = t.find('>')? + 1;
            Some(&t[start..start + t[start..].find("</text>")?])
        })
        .collect()
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

const HEADLESS: [&str; 7] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--host-resolver-rules=MAP * ~NOTFOUND",
];

/// The report's charts as Chromium renders them (DOM after layout, and a screenshot's pixels): the
/// memory breakdown's legend colours are distinct and each is painted; every memory axis has one unit,
/// named in its caption, and the top tick is the largest value in that unit (computed here from the
/// captured buddyinfo); history charts carry time ticks at the UTC times they name; the header names
/// the kernel release once, or says it is missing.
#[test]
fn rendered_charts_legends_axes_ticks_and_header() {
    let Some(chromium) = chromium() else {
        common::skip("chromium not installed (apt-get install -y chromium)");
        return;
    };
    let tmp = std::env::temp_dir().join(format!("memdx-html-render-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let root = manifest().join("testdata/serve/v1-root");
    history_db(&tmp.join("h.db"));
    let file = tmp.join("report.html");
    let out = Command::new(env!("CARGO_BIN_EXE_memdx"))
        .args(["diagnose", "--color", "never", "--html"])
        .arg(&file)
        .arg("--db")
        .arg(tmp.join("h.db"))
        .arg("--root")
        .arg(&root)
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
    let dump = dump_dom(chromium, &tmp.join("p1"), &file);
    let dom = String::from_utf8_lossy(&dump.stdout).into_owned();
    assert!(
        dom.contains("id=\"memory\""),
        "chromium rendered nothing: {}",
        String::from_utf8_lossy(&dump.stderr)
    );

    // Header: the release once, no "unknown kernel".
    let meta = &dom[dom.find("<p class=\"meta\">").unwrap()..];
    let meta = &meta[..meta.find("</p>").unwrap()];
    assert!(meta.starts_with("<p class=\"meta\">kernel 6.18.44-fc-v857 "), "{meta}");
    assert_eq!(dom.matches("unknown kernel").count(), 0);

    // Memory breakdown: one distinct colour per part, the same in the bar and the legend.
    let mem = &dom[dom.find("id=\"memory\"").unwrap()..dom.find("id=\"slab\"").unwrap()];
    let bar: Vec<&str> = attrs(mem, "rect", "fill");
    let legend: Vec<&str> =
        attrs(mem, "span", "style").into_iter().map(|s| s.trim_start_matches("color:")).collect();
    assert_eq!(legend.len(), 10, "{legend:?}");
    assert_eq!(bar, legend, "bar and legend colours differ");
    let distinct: std::collections::BTreeSet<&str> = legend.iter().copied().collect();
    assert_eq!(distinct.len(), legend.len(), "legend repeats a colour: {legend:?}");

    // Free memory per order: unit from the largest bar of each zone, computed from buddyinfo here.
    let buddy = std::fs::read_to_string(root.join("proc/buddyinfo")).unwrap();
    let frag = &dom[dom.find("id=\"fragmentation\"").unwrap()..dom.find("id=\"reclaim\"").unwrap()];
    let figures: Vec<&str> = frag.split("<figure>").skip(1).collect();
    for line in buddy.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let zone = f[3];
        let max_kib =
            f[4..].iter().enumerate().map(|(o, n)| (n.parse::<u64>().unwrap() * 4) << o).max().unwrap()
                as f64;
        let fig = figures.iter().find(|g| g.contains(&format!("node 0 {zone}:"))).unwrap();
        let (unit, div) = if max_kib >= 1024.0 * 1024.0 {
            ("GiB", 1024.0 * 1024.0)
        } else if max_kib >= 1024.0 {
            ("MiB", 1024.0)
        } else {
            ("KiB", 1.0)
        };
        assert!(fig.contains(&format!("free memory by block order</b> ({unit})")), "{zone}: {fig}");
        let ticks = texts(fig, "ytick");
        assert_eq!(ticks.len(), 5, "{zone}: {ticks:?}");
        assert!(ticks.iter().all(|t| t.parse::<f64>().is_ok()), "{zone}: a tick with a unit: {ticks:?}");
        let top: f64 = ticks[4].parse().unwrap();
        assert!(
            (top - max_kib / div).abs() <= 0.01 * (max_kib / div),
            "{zone}: top tick {top} for {max_kib} KiB"
        );
    }
    // The unusable free space index as the kernel prints it (0.000 to 1.000), not x1000.
    let cells: Vec<&str> =
        frag.split("<td class=\"n\">").skip(1).map(|c| &c[..c.find('<').unwrap()]).collect();
    assert_eq!(cells.len(), 3 * 11, "{cells:?}");
    for c in &cells {
        let ok = c.len() == 5
            && c.as_bytes()[1] == b'.'
            && c.parse::<f64>().is_ok_and(|v| (0.0..=1.0).contains(&v));
        assert!(ok, "unusable index cell {c:?} is not on the kernel's 0.000-1.000 scale");
    }

    // History: every line chart has at least three time ticks inside the recorded span, labelled
    // with the UTC time of day they stand at, left to right.
    let hist = &dom[dom.find("id=\"history\"").unwrap()..dom.find("id=\"stacks\"").unwrap()];
    let charts: Vec<&str> = hist.split("<figure>").skip(1).collect();
    assert!(charts.len() >= 2, "{} history charts", charts.len());
    for c in &charts {
        let times: Vec<i64> = attrs(c, "text", "data-t").iter().map(|t| t.parse().unwrap()).collect();
        let labels = texts(c, "xtick");
        assert!(times.len() >= 3 && times.len() == labels.len(), "{c}");
        assert!(times.windows(2).all(|w| w[0] < w[1]));
        assert!(times.iter().all(|&t| (1_795_301_155..=1_795_301_187).contains(&t)), "{times:?}");
        for (t, l) in times.iter().zip(&labels) {
            let s = t.rem_euclid(86400);
            assert_eq!(*l, format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60));
        }
        let xs: Vec<f64> = c
            .split("<text class=\"xtick\"")
            .skip(1)
            .map(|t| {
                let at = t.find(" x=\"").unwrap() + 4;
                t[at..at + t[at..].find('"').unwrap()].parse().unwrap()
            })
            .collect();
        assert!(xs.windows(2).all(|w| w[0] < w[1]), "ticks not left to right: {xs:?}");
        assert!(!c.contains("KiB</b>"), "history memory axes are not in KiB at these sizes: {c}");
    }

    // The screenshot: every legend colour is painted (exact pixels of the legend squares).
    let shot = tmp.join("report.png");
    screenshot(chromium, &tmp.join("p2"), &file, "1280,1400", &shot);
    let dec = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let ch = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        other => panic!("screenshot colour type {other:?}"),
    };
    let painted: std::collections::BTreeSet<[u8; 3]> =
        buf[..info.buffer_size()].chunks(ch).map(|p| [p[0], p[1], p[2]]).collect();
    for c in &legend {
        let rgb = [0, 2, 4].map(|i| u8::from_str_radix(&c[1 + i..3 + i], 16).unwrap());
        assert!(painted.contains(&rgb), "legend colour {c} not painted in {}", shot.display());
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}
