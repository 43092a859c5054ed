//! The stories page in a real browser: headless Chromium driven over WebDriver
//! (`chromedriver`, Debian's `chromium` and `chromium-driver`) against a server loaded
//! with `examples/kremlin.jsonl` and an article whose text is markup. The page must list
//! the Kremlin story with its three copies, show the excerpt as a partial copy with its
//! diff and the pickup timeline, pick up an article stored while it is open, answer a
//! Check, and show the markup as text without running it. Screenshots of the list and the story page are written for a person to
//! look at. Skips, saying so, when Chromium or chromedriver is not installed.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::common::{READER, TestServer, WRITER, load_articles, root, token_file, with_token};
use neardup::config::ServiceConfig;
use neardup::service::pb;

/// Markup an article might carry; the page must show it as text and never run it.
const HOSTILE: &str = "<script>window.pwned = 1</script>\n\
    <img src=x onerror=\"window.pwned = 2\">\n\
    The regional council approved the new tram line after a long debate about costs, \
    routes through the old town and the years of building work ahead for residents.";

/// Longest the page may take to show what a step waits for.
const WAIT: Duration = Duration::from_secs(30);

/// The first of `names` found on `PATH`.
fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path).map(|dir| dir.join(name)).find(|file| file.is_file())
    })
}

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(binary: &Path) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver is not listening on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { child, url: format!("http://127.0.0.1:{port}") }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn css(client: &Client, selector: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("{selector} did not appear: {e}"))
}

async fn screenshot(client: &Client, dir: &Path, name: &str) {
    let png = client.screenshot().await.unwrap();
    let path = dir.join(name);
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_stories_copies_diffs_and_checks() {
    let (Some(chromium), Some(chromedriver)) =
        (on_path(&["chromium", "chromium-browser", "google-chrome"]), on_path(&["chromedriver"]))
    else {
        eprintln!(
            "SKIPPED the_page_shows_stories_copies_diffs_and_checks: chromium and chromedriver \
             are not installed (Debian: apt-get install chromium chromium-driver)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tokens = token_file(dir.path());
    let server =
        TestServer::start(ServiceConfig { auth_tokens: Some(tokens), ..Default::default() }).await;
    let mut grpc = server.client().await;
    let kremlin = load_articles(&root().join("examples/kremlin.jsonl"), 100);
    for article in &kremlin {
        let request = pb::IngestRequest { article: Some(article.clone()) };
        grpc.ingest(with_token(request, Some(WRITER))).await.unwrap();
    }
    let hostile = pb::Article {
        id: "markup".into(),
        title: "<b>Tram</b> <script>window.pwned = 3</script>".into(),
        text: HOSTILE.into(),
        source: "<i>outlet</i>".into(),
        published_at: Some(neardup::service::convert::timestamp(1_650_000_000_000)),
        ..Default::default()
    };
    grpc.ingest(with_token(pb::IngestRequest { article: Some(hostile) }, Some(WRITER)))
        .await
        .unwrap();

    let driver = Driver::start(&chromedriver);
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1600"],
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&shots).unwrap();
    eprintln!("screenshots go to {}", shots.display());

    let outcome = async {
        // The list, once the reader's token is given.
        client.goto(&format!("{}/", server.url())).await.unwrap();
        css(&client, "#token").await.send_keys(READER).await.unwrap();
        css(&client, "#token-form button").await.click().await.unwrap();
        let row = css(&client, r#"tr.story[data-id="aggregator-1"]"#).await;
        assert_eq!(row.find(Locator::Css(".copies")).await.unwrap().text().await.unwrap(), "3");
        let row_text = row.text().await.unwrap();
        assert!(row_text.contains("Putin and Macron discussed Ukraine and security"), "{row_text}");
        assert!(row_text.contains("korrespondent.net"), "{row_text}");
        // The markup article's headline is text in the list.
        let markup_row = css(&client, r#"tr.story[data-id="markup"]"#).await;
        let markup_text = markup_row.text().await.unwrap();
        assert!(markup_text.contains("<b>Tram</b> <script>"), "{markup_text}");
        screenshot(&client, &shots, "list.png").await;
        // The list follows the feed: an article stored now shows up without a reload.
        let late = pb::Article {
            id: "late-news".into(),
            text: "The harbour strike ended after talks through the night, union leaders \
                   said, and the first ships were unloaded by morning."
                .into(),
            source: "wire".into(),
            published_at: Some(neardup::service::convert::timestamp(1_700_000_000_000)),
            ..Default::default()
        };
        let mut feed = grpc.clone();
        feed.ingest(with_token(pb::IngestRequest { article: Some(late) }, Some(WRITER)))
            .await
            .unwrap();
        let first_row = css(&client, r#"tr.story[data-id="late-news"]"#).await;
        assert!(first_row.text().await.unwrap().contains("The harbour strike ended"));
        let top = css(&client, "#stories tbody tr:first-child").await;
        assert_eq!(top.attr("data-id").await.unwrap().as_deref(), Some("late-news"));

        // The Kremlin story: three copies, the excerpt a partial copy with cut lines,
        // and a timeline with a dot per pickup.
        // Found again: the list was redrawn when the late article came.
        let row = css(&client, r#"tr.story[data-id="aggregator-1"]"#).await;
        row.find(Locator::Css("a")).await.unwrap().click().await.unwrap();
        css(&client, "#copies .copy").await;
        let copies = client.find_all(Locator::Css("#copies .copy")).await.unwrap();
        assert_eq!(copies.len(), 3);
        let excerpt = css(&client, r#".copy[data-id="aggregator-3-excerpt"]"#).await;
        assert_eq!(excerpt.attr("data-kind").await.unwrap().as_deref(), Some("PARTIAL_COPY"));
        let badge = excerpt.find(Locator::Css(".badge")).await.unwrap().text().await.unwrap();
        assert_eq!(badge, "partial copy");
        assert!(!excerpt.find_all(Locator::Css(".diff li.cut")).await.unwrap().is_empty());
        let aggregator = css(&client, r#".copy[data-id="aggregator-1"]"#).await;
        let added = aggregator.find_all(Locator::Css(".diff li.added")).await.unwrap();
        assert!(!added.is_empty(), "the aggregator's wrapper lines show as added");
        let dots = client.find_all(Locator::Css("svg#timeline circle")).await.unwrap();
        assert_eq!(dots.len(), 4);
        let origin_dots =
            client.find_all(Locator::Css("svg#timeline circle.origin")).await.unwrap();
        assert_eq!(origin_dots.len(), 1);
        let title = css(&client, "#story-title").await.text().await.unwrap();
        assert!(title.contains("Putin and Macron"), "{title}");
        screenshot(&client, &shots, "story.png").await;

        // Check a pasted text: a duplicate of the Kremlin story.
        client.goto(&format!("{}/#/", server.url())).await.unwrap();
        let text = &kremlin.iter().find(|a| a.id == "korrespondent").unwrap().text;
        client
            .execute(
                "document.getElementById('check-text').value = arguments[0];",
                vec![json!(text)],
            )
            .await
            .unwrap();
        css(&client, "#check-button").await.click().await.unwrap();
        let verdict = css(&client, "#check-verdict").await;
        assert_eq!(verdict.attr("data-kind").await.unwrap().as_deref(), Some("DUPLICATE"));
        assert!(verdict.text().await.unwrap().contains("aggregator-1"));
        screenshot(&client, &shots, "check.png").await;

        // The markup article's page: its title, outlet and text are shown as written,
        // and nothing in them ran.
        client.goto(&format!("{}/#/story/markup", server.url())).await.unwrap();
        let title = client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::XPath("//h2[@id='story-title'][contains(., 'Tram')]"))
            .await
            .unwrap();
        assert_eq!(title.text().await.unwrap(), "<b>Tram</b> <script>window.pwned = 3</script>");
        let origin = css(&client, "#story-origin").await.text().await.unwrap();
        assert!(origin.contains("<i>outlet</i>"), "{origin}");
        client
            .execute("document.getElementById('origin-details').open = true;", vec![])
            .await
            .unwrap();
        let shown = css(&client, "#origin-text").await.text().await.unwrap();
        assert!(shown.contains("<script>window.pwned = 1</script>"), "{shown}");
        let state = client
            .execute(
                "return {pwned: window.pwned === undefined ? null : window.pwned, \
                 scripts: document.scripts.length, images: document.images.length};",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(state, json!({"pwned": Value::Null, "scripts": 1, "images": 0}));
        screenshot(&client, &shots, "markup.png").await;
    }
    .await;
    client.close().await.unwrap();
    drop(driver);
    server.shutdown().await;
    outcome
}
