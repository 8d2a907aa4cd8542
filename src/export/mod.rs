//! Always-on watching: memwatch's findings where a fleet's operators already look. `--serve
//! ADDR` opens an HTTP endpoint with the OpenMetrics/Prometheus text exposition of the
//! analyzer's state ([`metrics`]); Prometheus (or anything that scrapes OpenMetrics) collects
//! it, and distribution across machines is its job, not memwatch's.
//!
//! Data flow: the watch's loop (a sink beside the status line and the session writer) takes a
//! [`metrics::Snapshot`] of the analyzer once a second under its lock; the server thread
//! answers each scrape from the latest snapshot, so a scrape never holds the analyzer and a
//! slow client never slows the watch. The endpoint reveals names from the target's heap, its
//! command line and its paths: it listens on loopback unless an address is given.

pub mod metrics;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::analyzer::Analyzer;
use crate::failure::{Failure, Result};
use crate::tree::TreeAnalyzer;

/// How often the snapshot is taken.
const REFRESH: Duration = Duration::from_secs(1);
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const CLASSIC_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `--serve [HOST:]PORT`: a port alone listens on loopback (127.0.0.1); anything else must
/// name its address (`0.0.0.0:9464` to listen on every interface).
pub fn parse_addr(s: &str) -> std::result::Result<SocketAddr, String> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            format!("--serve takes PORT or HOST:PORT (127.0.0.1:9464, [::1]:9464), not {s:?}")
        })
}

/// The running endpoint: dropped (or [`Exporter::stop`]) at the end of the watch.
pub struct Exporter {
    latest: Arc<Mutex<Arc<String>>>,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
    next: Instant,
    caches: metrics::Caches,
    pub addr: SocketAddr,
}

impl Exporter {
    /// Listen on `addr` and answer scrapes from a thread of its own.
    pub fn start(addr: SocketAddr) -> Result<Exporter> {
        let server = tiny_http::Server::http(addr).map_err(|e| Failure::Serve {
            addr: addr.to_string(),
            detail: e.to_string(),
        })?;
        let server = Arc::new(server);
        let addr = server.server_addr().to_ip().unwrap_or(addr);
        let latest: Arc<Mutex<Arc<String>>> = Arc::new(Mutex::new(Arc::new(metrics::encode_text(
            &metrics::Snapshot::default(),
        ))));
        let thread = {
            let (server, latest) = (server.clone(), latest.clone());
            std::thread::Builder::new()
                .name("memwatch-serve".into())
                .spawn(move || serve(&server, &latest))
                .map_err(|e| Failure::internal(format!("cannot start the metrics thread: {e}")))?
        };
        Ok(Exporter {
            latest,
            server,
            thread: Some(thread),
            next: Instant::now(),
            caches: metrics::Caches::default(),
            addr,
        })
    }

    fn publish(&self, snap: &metrics::Snapshot) {
        let text = Arc::new(metrics::encode_text(snap));
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = text;
    }

    /// Take a snapshot of a single process's analyzer, at most once a second.
    pub fn refresh(&mut self, a: &Mutex<Analyzer>) {
        if Instant::now() < self.next {
            return;
        }
        self.next = Instant::now() + REFRESH;
        let snap = metrics::single(&crate::watch::lock(a), &mut self.caches);
        self.publish(&snap);
    }

    /// The same for a tree.
    pub fn refresh_tree(&mut self, t: &Mutex<TreeAnalyzer>) {
        if Instant::now() < self.next {
            return;
        }
        self.next = Instant::now() + REFRESH;
        let snap = {
            let t = t.lock().unwrap_or_else(|e| e.into_inner());
            metrics::tree(&t, &mut self.caches)
        };
        self.publish(&snap);
    }

    /// Stop answering (the end of the watch).
    pub fn stop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Answer requests until the server is unblocked: `/metrics` the latest exposition, `/` a
/// pointer to it, anything else 404. Each answer is written whole from memory.
fn serve(server: &tiny_http::Server, latest: &Mutex<Arc<String>>) {
    for req in server.incoming_requests() {
        let path = req.url().split('?').next().unwrap_or("").to_string();
        let response = match (req.method(), path.as_str()) {
            (tiny_http::Method::Get | tiny_http::Method::Head, "/metrics") => {
                let text = latest.lock().unwrap_or_else(|e| e.into_inner()).clone();
                // Prometheus asks for OpenMetrics; curl and promtool get the classic format
                let openmetrics = req.headers().iter().any(|h| {
                    h.field.equiv("Accept")
                        && h.value.as_str().contains("application/openmetrics-text")
                });
                let (body, kind) = if openmetrics {
                    (text.as_bytes().to_vec(), CONTENT_TYPE)
                } else {
                    (
                        metrics::classic_text(&text).into_bytes(),
                        CLASSIC_CONTENT_TYPE,
                    )
                };
                tiny_http::Response::from_data(body).with_header(header("Content-Type", kind))
            }
            (tiny_http::Method::Get, "/") => {
                tiny_http::Response::from_data(b"memwatch: the metrics are at /metrics\n".to_vec())
                    .with_header(header("Content-Type", "text/plain; charset=utf-8"))
            }
            _ => tiny_http::Response::from_data(b"not found\n".to_vec()).with_status_code(404),
        };
        let _ = req.respond(response);
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    // both are ASCII constants
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
        .unwrap_or_else(|_| unreachable!("ASCII header"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_alone_listens_on_loopback() {
        assert_eq!(
            parse_addr("9464").unwrap(),
            "127.0.0.1:9464".parse().unwrap()
        );
        assert_eq!(
            parse_addr("0.0.0.0:9464").unwrap(),
            "0.0.0.0:9464".parse().unwrap()
        );
        assert_eq!(parse_addr("[::1]:9").unwrap(), "[::1]:9".parse().unwrap());
        assert!(parse_addr("nonsense").is_err());
        assert!(parse_addr("70000").is_err());
    }

    #[test]
    fn the_endpoint_serves_the_latest_snapshot() {
        let ex = Exporter::start("127.0.0.1:0".parse().unwrap()).unwrap();
        ex.publish(&metrics::Snapshot {
            own_rss_bytes: Some(4096),
            ..Default::default()
        });
        use std::io::{Read, Write};
        let get = |accept: &str| {
            let mut s = std::net::TcpStream::connect(ex.addr).unwrap();
            write!(s, "GET /metrics HTTP/1.0\r\n{accept}\r\n").unwrap();
            let mut body = String::new();
            s.read_to_string(&mut body).unwrap();
            body
        };
        let body = get("Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n");
        assert!(
            body.lines().next().is_some_and(|l| l.ends_with("200 OK")),
            "{body}"
        );
        assert!(body.contains(CONTENT_TYPE), "{body}");
        assert!(
            body.contains("process_resident_memory_bytes 4096"),
            "{body}"
        );
        assert!(body.contains("# EOF"), "{body}");
        let body = get("");
        assert!(body.contains(CLASSIC_CONTENT_TYPE), "{body}");
        assert!(!body.contains("# EOF"), "{body}");
        let mut s = std::net::TcpStream::connect(ex.addr).unwrap();
        write!(s, "GET /nothing HTTP/1.0\r\n\r\n").unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        assert!(
            body.lines().next().is_some_and(|l| l.contains(" 404 ")),
            "{body}"
        );
    }
}
