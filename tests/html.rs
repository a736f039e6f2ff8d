//! The `--html` report: self-contained (no URL in any src/href, no script, a CSP that forbids
//! requests), with the findings, charts and a flame graph of real allocation stacks; and, when
//! Debian's `chromium` is installed, opened headless: `--dump-dom` holds the findings and a
//! screenshot is written (path printed) for a person to look at.

use memdx_analyze::Case;
use memdx_render::html::{render, stacks_from_ftrace, HtmlInput};
use memdx_store::{sample, Store};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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

    let chromium = ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    let Some(chromium) = chromium else {
        eprintln!("skipped: chromium not installed (apt-get install -y chromium)");
        std::fs::remove_dir_all(&tmp).unwrap();
        return;
    };
    let base = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        // Any request the page tried would fail to resolve; the CSP forbids them anyway.
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ];
    let url = format!("file://{}", file.display());
    let dom = Command::new(chromium)
        .args(base)
        .arg(format!("--user-data-dir={}", tmp.join("p1").display()))
        .args(["--dump-dom", &url])
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    for f in &report.findings {
        assert!(dom.contains(&memdx_render::html::esc(&f.title)), "dump-dom lacks finding {}", f.id);
    }
    let shot = std::env::var_os("MEMDX_HTML_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.join("report.png"));
    let st = Command::new(chromium)
        .args(base)
        .arg(format!("--user-data-dir={}", tmp.join("p2").display()))
        .args(["--window-size=1280,3000", "--hide-scrollbars"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "screenshot is empty");
    eprintln!("screenshot: {}", shot.display());
    if std::env::var_os("MEMDX_HTML_SCREENSHOT").is_some() {
        std::fs::copy(&file, shot.with_extension("html")).unwrap();
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}
