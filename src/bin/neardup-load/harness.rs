//! What `loadgen` and `soak` share: a `neardup serve` child process started on a free
//! loopback port (found next to this tool's own executable unless `--neardup` says
//! otherwise), its address learned from `serve --address-file`, a wait until its health
//! check says SERVING, and a guard that kills it when dropped so no error path leaves a
//! server running. Also the /proc readers that measure the server from outside, and the
//! corpus the clients send, repeated with new ids as often as a run needs.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tonic::transport::Endpoint;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use neardup::scan::input::{self, ReadOptions};
use neardup::service::{SERVICE_NAME, convert, pb};

/// How often the address file and the health check are polled while a server starts.
const POLL: Duration = Duration::from_millis(5);
/// Lines of the server's stderr kept to explain a failed start.
const LOG_TAIL_LINES: usize = 50;

/// The `neardup` binary to start: `given`, or the one built next to this executable
/// (`cargo build --bin neardup --bin neardup-load` puts both in one directory).
pub(crate) fn neardup_binary(given: Option<&Path>) -> Result<PathBuf> {
    let path = match given {
        Some(path) => path.to_owned(),
        None => {
            let me = std::env::current_exe().context("cannot locate this executable")?;
            let name = format!("neardup{}", std::env::consts::EXE_SUFFIX);
            me.parent().context("this executable has no directory")?.join(name)
        }
    };
    if !path.is_file() {
        bail!(
            "no neardup binary at {} (build it with `cargo build --release --bin neardup`, or pass --neardup PATH)",
            path.display()
        );
    }
    Ok(path)
}

/// A directory under the system's temporary directory, deleted with its contents when
/// dropped.
pub(crate) struct ScratchDir(PathBuf);

impl ScratchDir {
    /// A new, empty directory whose name says which tool made it and for what.
    pub(crate) fn new(purpose: &str) -> Result<ScratchDir> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let pid = std::process::id();
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("neardup-load-{pid}-{n}-{purpose}"));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(ScratchDir(path)),
                // Left over from an earlier process with the same id: take the next name.
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(err) => {
                    return Err(err)
                        .with_context(|| format!("failed to create {}", path.display()));
                }
            }
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `neardup serve`, killed (SIGKILL) and reaped when dropped.
pub(crate) struct ServerProcess {
    child: Child,
    address: SocketAddr,
    /// Holds the address file.
    _scratch: ScratchDir,
}

impl ServerProcess {
    /// Starts `neardup serve --listen 127.0.0.1:0 SERVE_ARGS...` and returns once its
    /// health check answers SERVING. A server that exits first, or is not serving within
    /// `limit` (which must cover restoring its data directory), is an error that quotes
    /// the end of its stderr.
    pub(crate) async fn start(
        neardup: &Path,
        serve_args: &[OsString],
        limit: Duration,
    ) -> Result<ServerProcess> {
        let deadline = Instant::now() + limit;
        let scratch = ScratchDir::new("server")?;
        let address_file = scratch.path().join("address");
        let mut child = Command::new(neardup)
            .args(["serve", "--listen", "127.0.0.1:0", "--address-file"])
            .arg(&address_file)
            .args(serve_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("failed to start {} serve", neardup.display()))?;
        let log = LogTail::drain(child.stderr.take().expect("stderr is piped"));
        let started = async {
            let address = wait_for_address(&mut child, &address_file, deadline).await?;
            wait_until_serving(&format!("http://{address}"), deadline).await?;
            anyhow::Ok(address)
        };
        match started.await {
            Ok(address) => Ok(ServerProcess { child, address, _scratch: scratch }),
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("{err:#}; the server's stderr ends with:\n{}", log.finish())
            }
        }
    }

    /// `http://HOST:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The server's process id, for the /proc readers.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown path runs, so only what the server made durable before each
    /// answer survives.
    pub(crate) fn kill(mut self) -> Result<()> {
        self.child.kill().context("failed to kill the server")?;
        self.child.wait().context("failed to reap the server")?;
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls for the address file until it appears or the server exits.
async fn wait_for_address(child: &mut Child, path: &Path, deadline: Instant) -> Result<SocketAddr> {
    loop {
        // The server writes the file through a rename: present means complete.
        if let Ok(text) = std::fs::read_to_string(path) {
            return text
                .trim()
                .parse()
                .with_context(|| format!("{} holds no address: {text:?}", path.display()));
        }
        if let Some(status) = child.try_wait().context("failed to poll the server")? {
            bail!("neardup serve exited before listening ({status})");
        }
        if Instant::now() >= deadline {
            bail!("neardup serve was not listening in time");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Reads the server's stderr on a thread of its own, so the server never blocks on a
/// full pipe, keeping the last lines to quote when it fails to start.
struct LogTail {
    lines: Arc<Mutex<VecDeque<String>>>,
    reader: JoinHandle<()>,
}

impl LogTail {
    fn drain(stderr: ChildStderr) -> LogTail {
        let lines = Arc::new(Mutex::new(VecDeque::new()));
        let kept = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            // Bytes, not `lines()`: a line that is not UTF-8 must not stop the draining.
            for line in BufReader::new(stderr).split(b'\n').map_while(Result::ok) {
                let mut kept = kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if kept.len() == LOG_TAIL_LINES {
                    kept.pop_front();
                }
                kept.push_back(String::from_utf8_lossy(&line).into_owned());
            }
        });
        LogTail { lines, reader }
    }

    /// The kept lines, once the server is gone and its stderr closed.
    fn finish(self) -> String {
        let _ = self.reader.join();
        let lines = self.lines.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        lines.iter().map(String::as_str).collect::<Vec<_>>().join("\n")
    }
}

/// Polls the standard health check until the service answers SERVING.
async fn wait_until_serving(url: &str, deadline: Instant) -> Result<()> {
    let endpoint = Endpoint::from_shared(url.to_owned())?;
    loop {
        if let Ok(channel) = endpoint.connect().await {
            let request = HealthCheckRequest { service: SERVICE_NAME.into() };
            let answer = HealthClient::new(channel).check(request).await;
            if answer.is_ok_and(|a| a.into_inner().status() == ServingStatus::Serving) {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            bail!("the server at {url} was not SERVING in time");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// User plus system CPU seconds of process `pid`, all threads included (Linux only).
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    // Clock ticks per second of /proc times; 100 on every Linux x86-64 build.
    const TICKS_PER_SECOND: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name, which may itself contain spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// Resident memory of a process, from /proc (Linux only); `None` where unreadable.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Memory {
    /// Resident bytes now (`VmRSS`).
    pub(crate) rss: Option<u64>,
    /// The most ever resident (`VmHWM`).
    pub(crate) peak: Option<u64>,
}

/// Resident and peak resident bytes of process `pid`.
pub(crate) fn memory(pid: u32) -> Memory {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return Memory::default();
    };
    let field = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib * 1024)
    };
    Memory { rss: field("VmRSS:"), peak: field("VmHWM:") }
}

/// Every article of a JSONL corpus, as the clients send it.
pub(crate) fn load_corpus(path: &Path) -> Result<Vec<pb::Article>> {
    let mut out = Vec::new();
    let inputs = input::open(path, &ReadOptions::default())
        .with_context(|| format!("failed to open the corpus {}", path.display()))?;
    for input in inputs {
        for span in input.spans() {
            let record = input.parse(span)?;
            out.push(convert::article_from_record(record));
        }
    }
    if out.is_empty() {
        bail!("corpus {} has no articles", path.display());
    }
    Ok(out)
}

/// Article `i` of the repeated corpus: pass `p` of the corpus gets the id suffix `#p`,
/// and with `distinct` its words are marked so that it shares no shingle with other passes.
pub(crate) fn nth_article(
    corpus: &[pb::Article],
    i: usize,
    prefix: &str,
    distinct: bool,
) -> pb::Article {
    let mut article = corpus[i % corpus.len()].clone();
    let pass = i / corpus.len();
    article.id = format!("{prefix}{}#{pass}", article.id);
    if distinct && pass > 0 {
        article.text = mark_words(&article.text, pass);
    }
    article
}

/// Appends a pass-specific letter suffix to every word: copies within one pass still
/// share their words, but no two passes share a word.
fn mark_words(text: &str, pass: usize) -> String {
    let mut suffix = String::from("x");
    let mut n = pass;
    while n > 0 {
        suffix.push(char::from(b'a' + (n % 26) as u8));
        n /= 26;
    }
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    let mut in_word = false;
    for c in text.chars() {
        let word_char = c.is_alphanumeric();
        if in_word && !word_char {
            out.push_str(&suffix);
        }
        out.push(c);
        in_word = word_char;
    }
    if in_word {
        out.push_str(&suffix);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        let before = cpu_seconds(std::process::id()).unwrap();
        let started = Instant::now();
        let mut x = 0u64;
        while started.elapsed() < Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let after = cpu_seconds(std::process::id()).unwrap();
        assert!(after - before >= 0.1, "{before} -> {after}");
    }

    #[test]
    fn own_memory_is_read() {
        let own = memory(std::process::id());
        let (rss, peak) = (own.rss.unwrap(), own.peak.unwrap());
        assert!(rss > 1 << 20, "{rss}");
        assert!(peak >= rss, "{peak} < {rss}");
    }

    #[test]
    fn repeated_ids_are_unique() {
        let corpus = vec![
            pb::Article { id: "a".into(), ..Default::default() },
            pb::Article { id: "b".into(), ..Default::default() },
        ];
        let ids: Vec<String> = (0..5).map(|i| nth_article(&corpus, i, "", false).id).collect();
        assert_eq!(ids, ["a#0", "b#0", "a#1", "b#1", "a#2"]);
    }

    #[test]
    fn distinct_passes_share_no_word() {
        assert_eq!(mark_words("Putin's call, 28 Jan.", 1), "Putinxb'sxb callxb, 28xb Janxb.");
        assert_eq!(mark_words("a", 27), "axbb");
        let pass = |p| mark_words("the same words again", p);
        let words = |t: String| t.split(' ').map(str::to_owned).collect::<Vec<_>>();
        let (one, two) = (words(pass(1)), words(pass(2)));
        assert!(one.iter().all(|w| !two.contains(w)));
        assert_eq!(pass(3), pass(3));
    }
}
