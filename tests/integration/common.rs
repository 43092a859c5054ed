//! Helpers shared by the integration tests: where the repository and the shared corpora
//! are, running the `neardup` binary, and the two ways a test gets a server. An
//! in-process [`TestServer`] is for calling the service; a [`ServeProcess`] is the real
//! `neardup serve` binary, for what only a process shows (signals, SIGKILL, its output).
//! A spawned server's address comes from `serve --address-file`, never from its stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[cfg(all(feature = "server", feature = "cli"))]
pub(crate) use served::{ServeProcess, TestServer};

/// The repository root.
pub(crate) fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/data` next to the repository, or `None` (with a note on stderr) when this
/// machine does not have it: tests that need the big corpora skip then.
pub(crate) fn shared_data(test: &str) -> Option<PathBuf> {
    let dir = root().join("../shared/data");
    if dir.join("synd-dev.jsonl").is_file() {
        Some(dir)
    } else {
        eprintln!("SKIPPED {test}: {} is absent (CI always has it)", dir.display());
        None
    }
}

/// The first `limit` articles of a JSONL corpus (`id`, `text`, `source`, `date`), as a
/// gRPC client sends them.
#[cfg(feature = "server")]
pub(crate) fn load_articles(path: &Path, limit: usize) -> Vec<neardup::service::pb::Article> {
    use neardup::service::{convert, pb};
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .take(limit)
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let field = |name: &str| row[name].as_str().unwrap_or_default().to_owned();
            pb::Article {
                id: field("id"),
                text: field("text"),
                source: field("source"),
                published_at: neardup::scan::input::parse_date(&field("date"))
                    .map(convert::timestamp),
                ..Default::default()
            }
        })
        .collect()
}

/// Tokens of the three scopes, as the tests of secured servers write them.
#[cfg(feature = "server")]
pub(crate) const READER: &str = "reader-0123456789abcdef";
#[cfg(feature = "server")]
pub(crate) const WRITER: &str = "writer-0123456789abcdef";
#[cfg(feature = "server")]
pub(crate) const ADMIN: &str = "admin-0123456789abcdef";

/// A token file in `dir` giving [`READER`] `check`, [`WRITER`] `check,ingest` and
/// [`ADMIN`] `admin`.
#[cfg(feature = "server")]
pub(crate) fn token_file(dir: &Path) -> PathBuf {
    let path = dir.join("tokens");
    let text = format!("# role tokens\n{READER} check\n{WRITER} check,ingest\n{ADMIN} admin\n");
    std::fs::write(&path, text).unwrap();
    path
}

/// `message` with `authorization: Bearer TOKEN` when a token is given.
#[cfg(feature = "server")]
pub(crate) fn with_token<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        let value: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// The seed of a randomized test: `$var` when set (to repeat a run), else the clock.
/// Printed, so that a failure can be repeated.
pub(crate) fn seed(var: &str) -> u64 {
    let seed = std::env::var(var).ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
            as u64
            | 1
    });
    eprintln!("{var}={seed}");
    seed
}

/// One step of a small xorshift generator.
pub(crate) fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Runs the release-or-debug `neardup` binary built for these tests.
pub(crate) fn neardup(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neardup")).args(args).output().expect("failed to run neardup")
}

/// Stdout as UTF-8, or a panic showing stderr.
pub(crate) fn stdout_ok(output: &Output) -> String {
    assert!(output.status.success(), "neardup failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[cfg(all(feature = "server", feature = "cli"))]
mod served {
    use std::io::Read;
    use std::net::SocketAddr;
    use std::path::Path;
    use std::process::{Child, Command, ExitStatus, Stdio};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    use tokio::sync::oneshot;
    use tonic::transport::Channel;

    use neardup::config::ServiceConfig;
    use neardup::service::Server;
    use neardup::service::pb::deduplicator_client::DeduplicatorClient;

    /// Longest a spawned server may take to listen; a debug build restoring a data
    /// directory on a busy machine needs seconds, not minutes.
    const LISTEN_LIMIT: Duration = Duration::from_secs(120);

    /// The service running in this process on a free loopback port. [`shutdown`] stops
    /// it gracefully and waits; dropping it only asks it to stop.
    ///
    /// [`shutdown`]: TestServer::shutdown
    pub(crate) struct TestServer {
        address: SocketAddr,
        metrics: Option<SocketAddr>,
        stop: Option<oneshot::Sender<()>>,
        task: Option<tokio::task::JoinHandle<neardup::Result<()>>>,
        /// The data directory, when the server owns a fresh one.
        _dir: Option<tempfile::TempDir>,
    }

    impl TestServer {
        /// A server with `config` on a fresh data directory of its own.
        pub(crate) async fn start(config: ServiceConfig) -> TestServer {
            let dir = tempfile::tempdir().unwrap();
            let mut server = TestServer::start_in(config, dir.path()).await;
            server._dir = Some(dir);
            server
        }

        /// A server with `config` on `data_dir`, which outlives it.
        pub(crate) async fn start_in(mut config: ServiceConfig, data_dir: &Path) -> TestServer {
            config.listen = "127.0.0.1:0".parse().unwrap();
            config.store.data_dir = data_dir.to_owned();
            let server = Server::bind(config).await.expect("server binds");
            let address = server.local_addr();
            let metrics = server.metrics_addr();
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(server.run(async {
                let _ = stopped.await;
            }));
            TestServer { address, metrics, stop: Some(stop), task: Some(task), _dir: None }
        }

        pub(crate) fn address(&self) -> SocketAddr {
            self.address
        }

        /// The `/metrics` endpoint's address, when the config asked for one.
        pub(crate) fn metrics_addr(&self) -> Option<SocketAddr> {
            self.metrics
        }

        /// `http://HOST:PORT`.
        pub(crate) fn url(&self) -> String {
            format!("http://{}", self.address)
        }

        /// A plain-text connection.
        pub(crate) async fn channel(&self) -> Channel {
            Channel::from_shared(self.url()).unwrap().connect().await.unwrap()
        }

        pub(crate) async fn client(&self) -> DeduplicatorClient<Channel> {
            DeduplicatorClient::new(self.channel().await)
        }

        /// Triggers the graceful shutdown and waits for the server to return.
        pub(crate) async fn shutdown(mut self) {
            self.stop.take().unwrap().send(()).unwrap();
            let task = self.task.take().unwrap();
            task.await.unwrap().expect("server stops cleanly");
        }
    }

    impl Drop for TestServer {
        fn drop(&mut self) {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
        }
    }

    /// The `neardup serve` binary on a free loopback port, killed (SIGKILL) when dropped.
    pub(crate) struct ServeProcess {
        child: Child,
        address: SocketAddr,
        stderr: Option<Stderr>,
        /// Holds the address file.
        files: tempfile::TempDir,
    }

    impl ServeProcess {
        /// Starts `neardup serve --listen 127.0.0.1:0 --data-dir DATA_DIR ARGS...` and
        /// returns once it listens, as its address file says. Panics with the server's
        /// stderr if it exits first or is not listening within [`LISTEN_LIMIT`].
        pub(crate) fn start(data_dir: &Path, args: &[&str]) -> ServeProcess {
            let files = tempfile::tempdir().unwrap();
            let address_file = files.path().join("address");
            let mut child = Command::new(env!("CARGO_BIN_EXE_neardup"))
                .args(["serve", "--listen", "127.0.0.1:0", "--address-file"])
                .arg(&address_file)
                .arg("--data-dir")
                .arg(data_dir)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("neardup serve starts");
            let stderr = Stderr::collect(&mut child);
            match wait_for_address(&mut child, &address_file) {
                Ok(address) => ServeProcess { child, address, stderr: Some(stderr), files },
                Err(failure) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("neardup serve {failure}:\n{}", stderr.finish());
                }
            }
        }

        pub(crate) fn address(&self) -> SocketAddr {
            self.address
        }

        /// The file the server wrote its address to.
        pub(crate) fn address_file(&self) -> std::path::PathBuf {
            self.files.path().join("address")
        }

        /// The process id, for signals.
        pub(crate) fn pid(&self) -> u32 {
            self.child.id()
        }

        /// A plain-text connection.
        pub(crate) async fn channel(&self) -> Channel {
            let url = format!("http://{}", self.address);
            Channel::from_shared(url).unwrap().connect().await.unwrap()
        }

        pub(crate) async fn client(&self) -> DeduplicatorClient<Channel> {
            DeduplicatorClient::new(self.channel().await)
        }

        /// SIGKILL, and reaps the process.
        pub(crate) fn kill(&mut self) {
            let _ = self.child.kill();
            self.child.wait().unwrap();
        }

        /// SIGTERM; waits for the exit and returns its status with everything the server
        /// wrote to stderr.
        pub(crate) fn terminate(&mut self) -> (ExitStatus, String) {
            let pid = self.child.id().to_string();
            let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
            assert!(sent.success(), "kill -TERM {pid}");
            let status = self.child.wait().unwrap();
            (status, self.stderr.take().map(Stderr::finish).unwrap_or_default())
        }
    }

    /// Polls for the address file every few milliseconds until it appears, the server
    /// exits, or [`LISTEN_LIMIT`] passes; the error says which.
    fn wait_for_address(child: &mut Child, path: &Path) -> Result<SocketAddr, String> {
        let deadline = Instant::now() + LISTEN_LIMIT;
        loop {
            if let Ok(text) = std::fs::read_to_string(path) {
                let temporary = path.with_file_name("address.tmp");
                assert!(!temporary.exists(), "the address file is renamed into place");
                return text.parse().map_err(|_| format!("wrote {text:?}, not an address"));
            }
            if let Some(status) = child.try_wait().unwrap() {
                return Err(format!("exited before listening ({status})"));
            }
            if Instant::now() >= deadline {
                return Err(format!("was not listening after {LISTEN_LIMIT:?}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A child's stderr, read on a thread of its own so that the child never blocks on
    /// a full pipe, and kept whole for the test to show or check.
    struct Stderr(JoinHandle<Vec<u8>>);

    impl Stderr {
        fn collect(child: &mut Child) -> Stderr {
            let mut pipe = child.stderr.take().expect("stderr is piped");
            Stderr(std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                bytes
            }))
        }

        /// Everything written, once the child has exited and the pipe is closed.
        fn finish(self) -> String {
            String::from_utf8_lossy(&self.0.join().unwrap()).into_owned()
        }
    }

    impl Drop for ServeProcess {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
