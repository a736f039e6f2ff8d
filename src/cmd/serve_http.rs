//! A small bounded HTTP/1.1 server for `memdx serve`.
//!
//! Why not tiny_http or hyper: tiny_http spends a thread and two descriptors per connection and
//! never times out an incomplete request head, so 550 idle connections under the default soft
//! RLIMIT_NOFILE (1024) closed its listener for good while the process lived on. hyper 1.x has a
//! header read timeout but no connection limit, needs an async runtime (tokio) for a server that
//! answers one scraper a few times a minute, and bounding connections there means an accept loop
//! and a semaphore of our own anyway. The exporter needs very little HTTP (GET/HEAD of two paths,
//! no request bodies), so it is served here by one thread on `mio` (epoll) with `httparse` for the
//! request head, both pure Rust (static musl builds), and every resource bounded:
//!
//! - connections: at most `max_conns` (kept well under the descriptor limit, which the exporter's
//!   own readings of /proc also need). A new connection beyond it evicts the oldest one that has
//!   not sent a complete request, so any number of slow or idle clients cannot lock out a
//!   scraper: a client that sends its request at once is always served.
//! - request head: at most `max_head` bytes (431 and close beyond), read into one buffer per
//!   connection; request bodies are never read.
//! - time: the request head must arrive within `head_timeout` of the first byte (or of the
//!   accept), a kept-alive connection may idle `idle_timeout`, a response must be taken within
//!   `write_timeout`.
//! - descriptors: when accept(2) fails with EMFILE/ENFILE/ENOBUFS/ENOMEM the oldest connection is
//!   closed (or accepting pauses briefly when none is open); the listener is never given up.
//!
//! Any other error of the listener or of epoll is fatal and returned, so that the process exits
//! non-zero and the service manager restarts it.

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bounds of the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_conns: usize,
    pub max_head: usize,
    pub head_timeout: Duration,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
}

/// A response body: shared (the metrics text, one copy for every client) or static.
#[derive(Clone)]
pub enum Body {
    Shared(Arc<String>),
    Static(&'static [u8]),
}

impl Body {
    fn bytes(&self) -> &[u8] {
        match self {
            Body::Shared(s) => s.as_bytes(),
            Body::Static(b) => b,
        }
    }
}

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Body,
}

impl Response {
    pub fn text(status: u16, body: &'static [u8]) -> Response {
        Response { status, content_type: "text/plain; charset=utf-8", body: Body::Static(body) }
    }
}

/// The request as the handler sees it: method and path (query string removed).
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
}

struct Out {
    head: Vec<u8>,
    body: Body,
    /// Bytes of head + body written so far.
    off: usize,
    /// HEAD: the body is announced, not sent.
    head_only: bool,
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    out: Option<Out>,
    close_after: bool,
    deadline: Instant,
    /// Accept order: the oldest connection is evicted first.
    seq: u64,
}

enum Next {
    Keep,
    Close,
}

const LISTENER: Token = Token(usize::MAX);
/// Connections accepted per turn of the loop, so that requests already received are answered
/// between bursts of new connections.
const ACCEPT_BATCH: usize = 64;

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    }
}

/// Errors of accept(2) that mean "out of descriptors or memory for now", not a broken listener.
fn resource_exhausted(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc_errno::EMFILE | libc_errno::ENFILE | libc_errno::ENOBUFS | libc_errno::ENOMEM)
    )
}

/// Errors of accept(2) about one connection (it went away before it was accepted).
fn per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) || matches!(e.raw_os_error(), Some(libc_errno::EPROTO | libc_errno::EPERM))
}

/// Linux errno values used above (the workspace denies unsafe code, and these are ABI constants).
mod libc_errno {
    pub const EPERM: i32 = 1;
    pub const ENOMEM: i32 = 12;
    pub const ENFILE: i32 = 23;
    pub const EMFILE: i32 = 24;
    pub const EPROTO: i32 = 71;
    pub const ENOBUFS: i32 = 105;
}

/// The soft RLIMIT_NOFILE of this process, from /proc/self/limits (None when unreadable).
pub fn fd_soft_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    if soft == "unlimited" {
        return Some(u64::MAX);
    }
    soft.parse().ok()
}

pub struct Server<H> {
    poll: Poll,
    listener: TcpListener,
    conns: HashMap<usize, Conn>,
    next_token: usize,
    next_seq: u64,
    limits: Limits,
    handler: H,
    /// Accepting stopped before WouldBlock (batch full or descriptors exhausted): go on next turn.
    accept_pending: bool,
    /// Descriptors exhausted with nothing to evict: accept again after this.
    accept_paused_until: Option<Instant>,
    last_warning: Option<Instant>,
}

impl<H: FnMut(&Request<'_>) -> Response> Server<H> {
    pub fn new(listener: std::net::TcpListener, limits: Limits, handler: H) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        let poll = Poll::new()?;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        Ok(Server {
            poll,
            listener,
            conns: HashMap::new(),
            next_token: 0,
            next_seq: 0,
            limits,
            handler,
            accept_pending: true,
            accept_paused_until: None,
            last_warning: None,
        })
    }

    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until a fatal error of the listener or of epoll, which is returned.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(256);
        let mut ready = Vec::new();
        loop {
            let now = Instant::now();
            let mut timeout = Duration::from_secs(1);
            if let Some(d) = self.conns.values().map(|c| c.deadline).min() {
                timeout = timeout.min(d.saturating_duration_since(now));
            }
            match self.accept_paused_until {
                Some(t) => timeout = timeout.min(t.saturating_duration_since(now)),
                None if self.accept_pending => timeout = Duration::ZERO,
                None => {}
            }
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            ready.clear();
            for ev in events.iter() {
                if ev.token() == LISTENER {
                    self.accept_pending = true;
                } else {
                    ready.push(ev.token().0);
                }
            }
            for t in ready.drain(..) {
                self.drive(t);
            }
            if self.accept_paused_until.is_some_and(|t| Instant::now() >= t) {
                self.accept_paused_until = None;
            }
            if self.accept_pending && self.accept_paused_until.is_none() {
                self.accept()?;
            }
            self.expire();
        }
    }

    fn warn(&mut self, msg: &str) {
        if self.last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            // A closed stderr must not end the exporter (eprintln! would panic).
            let _ = writeln!(io::stderr(), "memdx serve: {msg}");
            self.last_warning = Some(Instant::now());
        }
    }

    fn accept(&mut self) -> io::Result<()> {
        for _ in 0..ACCEPT_BATCH {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if self.conns.len() >= self.limits.max_conns {
                        self.evict_oldest();
                        self.warn(&format!(
                            "{} connections open (the limit): the oldest idle ones are closed for new ones",
                            self.limits.max_conns
                        ));
                    }
                    self.add(stream)?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.accept_pending = false;
                    return Ok(());
                }
                Err(e) if per_connection(&e) => {}
                Err(e) if resource_exhausted(&e) => {
                    self.warn(&format!("accept: {e}; closing the oldest connections to make room"));
                    if !self.evict_oldest() {
                        self.accept_paused_until = Some(Instant::now() + Duration::from_millis(100));
                    }
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        // Batch full: more may be waiting (the listener is edge-triggered).
        self.accept_pending = true;
        Ok(())
    }

    fn add(&mut self, mut stream: TcpStream) -> io::Result<()> {
        let _ = stream.set_nodelay(true);
        let token = self.next_token;
        self.next_token = self.next_token.wrapping_add(1) % (usize::MAX - 1);
        match self.poll.registry().register(
            &mut stream,
            Token(token),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            Ok(()) => {}
            // epoll out of memory or the watch limit: drop this connection, keep serving.
            Err(e) if resource_exhausted(&e) || e.raw_os_error() == Some(28) => return Ok(()),
            Err(e) => return Err(e),
        }
        let conn = Conn {
            stream,
            buf: Vec::new(),
            out: None,
            close_after: false,
            deadline: Instant::now() + self.limits.head_timeout,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        self.conns.insert(token, conn);
        // Data may already be there (edge-triggered: no event for what arrived before registering).
        self.drive(token);
        Ok(())
    }

    /// Closes the oldest connection that is not being answered (or the oldest of all when every
    /// one is). False when there is none.
    fn evict_oldest(&mut self) -> bool {
        let pick = |writing: bool| {
            self.conns
                .iter()
                .filter(|(_, c)| writing || c.out.is_none())
                .min_by_key(|(_, c)| c.seq)
                .map(|(t, _)| *t)
        };
        match pick(false).or_else(|| pick(true)) {
            Some(t) => {
                self.close(t);
                true
            }
            None => false,
        }
    }

    fn close(&mut self, token: usize) {
        if let Some(mut c) = self.conns.remove(&token) {
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
    }

    fn expire(&mut self) {
        let now = Instant::now();
        let late: Vec<usize> =
            self.conns.iter().filter(|(_, c)| c.deadline <= now).map(|(t, _)| *t).collect();
        for t in late {
            self.close(t);
        }
    }

    fn drive(&mut self, token: usize) {
        let Some(mut c) = self.conns.remove(&token) else { return };
        match self.step(&mut c) {
            Next::Keep => {
                self.conns.insert(token, c);
            }
            Next::Close => {
                let _ = self.poll.registry().deregister(&mut c.stream);
            }
        }
    }

    /// Reads, answers and writes as far as the socket allows without blocking.
    fn step(&mut self, c: &mut Conn) -> Next {
        let lim = self.limits;
        loop {
            if let Some(out) = &mut c.out {
                match write_out(&mut c.stream, out) {
                    Ok(true) => {}
                    Ok(false) => return Next::Keep,
                    Err(_) => return Next::Close,
                }
                c.out = None;
                if c.close_after {
                    let _ = c.stream.shutdown(std::net::Shutdown::Write);
                    return Next::Close;
                }
                c.deadline =
                    Instant::now() + if c.buf.is_empty() { lim.idle_timeout } else { lim.head_timeout };
                continue;
            }
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&c.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let keep = keep_alive(&req);
                    let has_body = req.headers.iter().any(|h| {
                        h.name.eq_ignore_ascii_case("transfer-encoding")
                            || (h.name.eq_ignore_ascii_case("content-length") && h.value != b"0")
                    });
                    let method = req.method.unwrap_or("");
                    let path = req.path.unwrap_or("/").split('?').next().unwrap_or("/");
                    let resp = if has_body {
                        Response::text(400, b"memdx serve reads no request bodies\n")
                    } else {
                        (self.handler)(&Request { method, path })
                    };
                    let head_only = method == "HEAD";
                    c.close_after = !keep || has_body;
                    c.out = Some(response(resp, head_only, c.close_after));
                    c.buf.drain(..n);
                    c.deadline = Instant::now() + lim.write_timeout;
                }
                Ok(httparse::Status::Partial) if c.buf.len() >= lim.max_head => {
                    c.close_after = true;
                    c.out = Some(response(Response::text(431, b"request head too large\n"), false, true));
                    c.deadline = Instant::now() + lim.write_timeout;
                }
                Ok(httparse::Status::Partial) => match read_some(&mut c.stream, &mut c.buf, lim.max_head) {
                    Ok(0) => return Next::Close,
                    Ok(n) => {
                        if c.buf.len() == n {
                            // The first bytes of a request: its head must follow in time.
                            c.deadline = Instant::now() + lim.head_timeout;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Next::Close,
                },
                Err(httparse::Error::TooManyHeaders) => {
                    c.close_after = true;
                    c.out = Some(response(Response::text(431, b"too many header fields\n"), false, true));
                    c.deadline = Instant::now() + lim.write_timeout;
                }
                Err(_) => {
                    c.close_after = true;
                    c.out = Some(response(Response::text(400, b"bad request\n"), false, true));
                    c.deadline = Instant::now() + lim.write_timeout;
                }
            }
        }
    }
}

/// HTTP/1.1 keeps the connection unless `Connection: close`; HTTP/1.0 closes it unless
/// `Connection: keep-alive`.
fn keep_alive(req: &httparse::Request<'_, '_>) -> bool {
    let conn = req.headers.iter().find(|h| h.name.eq_ignore_ascii_case("connection")).map(|h| h.value);
    match req.version {
        Some(1) => !conn.is_some_and(|v| v.eq_ignore_ascii_case(b"close")),
        _ => conn.is_some_and(|v| v.eq_ignore_ascii_case(b"keep-alive")),
    }
}

fn response(r: Response, head_only: bool, close: bool) -> Out {
    let len = r.body.bytes().len();
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {len}\r\nConnection: {}\r\n\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        if close { "close" } else { "keep-alive" }
    );
    Out { head: head.into_bytes(), body: r.body, off: 0, head_only }
}

/// Appends what the socket has, never growing `buf` past `cap` bytes.
fn read_some(s: &mut TcpStream, buf: &mut Vec<u8>, cap: usize) -> io::Result<usize> {
    let room = cap.saturating_sub(buf.len()).min(16 * 1024);
    let old = buf.len();
    buf.resize(old + room, 0);
    let r = s.read(&mut buf[old..]);
    buf.truncate(old + *r.as_ref().unwrap_or(&0));
    r
}

/// Writes as much of `out` as the socket takes: Ok(true) when all is written.
fn write_out(s: &mut TcpStream, out: &mut Out) -> io::Result<bool> {
    let body = out.body.bytes();
    let body_len = if out.head_only { 0 } else { body.len() };
    let total = out.head.len() + body_len;
    while out.off < total {
        let chunk = if out.off < out.head.len() {
            &out.head[out.off..]
        } else {
            &body[out.off - out.head.len()..body_len]
        };
        match s.write(chunk) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => out.off += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A listener that breaks while the server runs (shut down under it: accept(2) then fails with
    /// EINVAL) ends `run` with that error, which `memdx serve` returns as exit 2 so that the service
    /// manager restarts it, instead of living on without a listener or spinning.
    #[test]
    fn a_broken_listener_ends_run_with_an_error() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let same_socket = l.try_clone().unwrap();
        let limits = Limits {
            max_conns: 8,
            max_head: 8192,
            head_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut s = Server::new(l, limits, |_: &Request<'_>| Response::text(200, b"ok\n")).unwrap();
            let _ = tx.send(s.run());
        });
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        c.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        socket2::SockRef::from(&same_socket).shutdown(std::net::Shutdown::Read).unwrap();
        let r = rx.recv_timeout(Duration::from_secs(10)).expect("run goes on after its listener broke");
        let e = r.expect_err("run ended without an error");
        assert_eq!(e.raw_os_error(), Some(22), "{e}");
    }
}
