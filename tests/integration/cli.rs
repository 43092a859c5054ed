//! The `neardup` binary against real files: the Kremlin example end to end, every
//! malformed-input case with its exit code and file:line message, the other input
//! formats, `neardup eval` agreeing with the reference scorer, and what the binary says
//! about itself (help, version, completions, man pages, the example config).

use std::collections::HashMap;
use std::fs;

use serde_json::Value;

use crate::common::{neardup, root, shared_data, stdout_ok};

fn lines(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn kremlin_copies_cluster_and_other_stories_stay_apart() {
    let example = root().join("examples/kremlin.jsonl");
    let rows = lines(&stdout_ok(&neardup(&["scan", example.to_str().unwrap()])));
    let cluster: HashMap<&str, &str> =
        rows.iter().map(|r| (r["id"].as_str().unwrap(), r["cluster"].as_str().unwrap())).collect();
    // korrespondent.net published first (20:15), so it is the origin of every copy.
    for copy in ["aggregator-1", "korrespondent", "aggregator-2", "aggregator-3-excerpt"] {
        assert_eq!(cluster[copy], "korrespondent", "{copy}");
    }
    assert_eq!(cluster["elysee-independent"], "elysee-independent");
    assert_eq!(cluster["template-2022-02-12"], "template-2022-02-12");
    let excerpt = rows.iter().find(|r| r["id"] == "aggregator-3-excerpt").unwrap();
    assert_eq!(excerpt["kind"], "partial_copy");
}

#[test]
fn malformed_inputs_stop_with_exit_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = r#"{"id":"ok","text":"a perfectly ordinary article text"}"#;
    let cases: &[(&str, &[u8], &str)] = &[
        ("malformed JSON", b"{\"id\":\"x\",\"text\":", "malformed JSON"),
        ("text is a number", b"{\"id\":\"x\",\"text\":42}", "field \"text\" is a number"),
        ("text is null", b"{\"id\":\"x\",\"text\":null}", "field \"text\" is null"),
        ("missing text", b"{\"id\":\"x\"}", "missing field \"text\""),
        ("missing id", b"{\"text\":\"words here\"}", "missing field \"id\""),
        ("invalid UTF-8", b"{\"id\":\"x\",\"text\":\"caf\xe9\"}", "invalid UTF-8"),
        ("empty text", b"{\"id\":\"x\",\"text\":\"  \"}", "invalid text: has no words"),
        (
            "punctuation only",
            b"{\"id\":\"x\",\"text\":\"-- !! ...\"}",
            "invalid text: has no words",
        ),
        ("not an object", b"[1,2,3]", "malformed JSON"),
        ("trailing garbage", b"{\"id\":\"x\",\"text\":\"words\"} extra", "malformed JSON"),
        (
            "duplicate id",
            b"{\"id\":\"ok\",\"text\":\"other words\"}",
            "duplicate id \"ok\", first seen at",
        ),
    ];
    for (name, bad_line, message) in cases {
        let path = dir.path().join("corpus.jsonl");
        let mut content = format!("{good}\n\n").into_bytes();
        content.extend_from_slice(bad_line);
        content.extend_from_slice(b"\n{\"id\":\"ok2\",\"text\":\"another ordinary article\"}\n");
        fs::write(&path, &content).unwrap();
        let output = neardup(&["scan", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        let expected = format!("{}:3: {message}", path.display());
        assert!(stderr.contains(&expected), "{name}: expected {expected:?} in {stderr:?}");
        assert!(output.stdout.is_empty(), "{name}: wrote output despite the error");

        let skipped = neardup(&["scan", "--skip-invalid", path.to_str().unwrap()]);
        let rows = lines(&stdout_ok(&skipped));
        assert_eq!(rows.len(), 2, "{name}: the two good lines are kept");
        let stderr = String::from_utf8_lossy(&skipped.stderr);
        assert!(
            stderr.contains(&expected) && stderr.contains("1 invalid skipped"),
            "{name}: {stderr}"
        );
    }
}

#[test]
fn missing_input_file_is_an_error() {
    let output = neardup(&["scan", "/nonexistent/corpus.jsonl"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/corpus.jsonl"));
}

#[test]
fn custom_fields_plain_lines_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    let story = "the minister said on tuesday that the new rail line would open next spring after years of delay";
    let jsonl = dir.path().join("custom.jsonl");
    fs::write(
        &jsonl,
        format!(
            "{{\"key\":1,\"body\":\"{story}\",\"when\":\"2020-01-02\"}}\n{{\"key\":2,\"body\":\"Home » {story}\",\"when\":\"2020-01-01\"}}\n"
        ),
    )
    .unwrap();
    let rows = lines(&stdout_ok(&neardup(&[
        "scan",
        "--id-field",
        "key",
        "--text-field",
        "body",
        "--date-field",
        "when",
        jsonl.to_str().unwrap(),
    ])));
    assert_eq!(rows[0]["cluster"], "2", "the earlier-dated copy is the origin");

    let plain = dir.path().join("lines.txt");
    fs::write(
        &plain,
        format!("{story}\nsomething else entirely about football results\n{story}.\n"),
    )
    .unwrap();
    let rows = lines(&stdout_ok(&neardup(&["scan", plain.to_str().unwrap()])));
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["1", "2", "3"]);
    assert_eq!(rows[2]["cluster"], "1");

    let tree = dir.path().join("tree");
    fs::create_dir_all(tree.join("sub")).unwrap();
    fs::write(tree.join("a.txt"), story).unwrap();
    fs::write(tree.join("sub/b.txt"), format!("{story} (AP)")).unwrap();
    // Hidden files are skipped (another extension would be an error: see `inputs`).
    fs::write(tree.join(".ignored.md"), story).unwrap();
    let clusters = dir.path().join("clusters.jsonl");
    let rows = lines(&stdout_ok(&neardup(&[
        "scan",
        tree.to_str().unwrap(),
        "--clusters",
        clusters.to_str().unwrap(),
    ])));
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a.txt", "sub/b.txt"]);
    let cluster_lines = lines(&fs::read_to_string(&clusters).unwrap());
    assert_eq!(cluster_lines.len(), 1);
    assert_eq!(cluster_lines[0]["size"], 2);
    assert_eq!(cluster_lines[0]["members"], serde_json::json!(["a.txt", "sub/b.txt"]));
}

#[test]
fn eval_agrees_with_score_py() {
    let Some(data) = shared_data("eval_agrees_with_score_py") else { return };
    let truth = data.join("synd-dev.jsonl");
    let dir = tempfile::tempdir().unwrap();
    let pred = dir.path().join("pred.jsonl");
    stdout_ok(&neardup(&["scan", "--out", pred.to_str().unwrap(), truth.to_str().unwrap()]));
    let ours: Value = serde_json::from_str(&stdout_ok(&neardup(&[
        "eval",
        "--json",
        truth.to_str().unwrap(),
        pred.to_str().unwrap(),
    ])))
    .unwrap();
    let reference = std::process::Command::new("python3")
        .arg(data.join("tools/score.py"))
        .args([&truth, &pred])
        .arg("--json")
        .output()
        .expect("python3 runs score.py");
    let reference: Value = serde_json::from_str(&stdout_ok(&reference)).unwrap();
    for key in ["precision", "recall", "f1", "ari", "origin_accuracy"] {
        let (a, b) = (ours[key].as_f64().unwrap(), reference[key].as_f64().unwrap());
        assert!((a - b).abs() < 5e-5, "{key}: neardup {a} vs score.py {b}");
    }
    for key in ["docs", "true_clusters", "pred_clusters", "missing"] {
        assert_eq!(ours[key], reference[key], "{key}");
    }
    // The accuracy bar the default settings must clear on this sample.
    assert!(ours["f1"].as_f64().unwrap() >= 0.93, "F1 {}", ours["f1"]);
    assert_eq!(reference["same_event_false_merges"], 0);
}

/// `--help` offers what a user runs; the load tools are a developer binary of their own.
#[test]
fn help_lists_only_the_user_commands() {
    let help = stdout_ok(&neardup(&["--help"]));
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    let expected: &[&str] = if cfg!(feature = "server") {
        &[
            "scan",
            "serve",
            "ingest",
            "check",
            "cluster",
            "remove",
            "stats",
            "eval",
            "config",
            "compact",
            "completions",
            "man",
            "help",
        ]
    } else {
        &["scan", "eval", "config", "compact", "completions", "man", "help"]
    };
    assert_eq!(commands, expected, "{help}");
}

/// Help fits an 80-column terminal: every line of the command list and of each
/// command's short and long help.
#[test]
fn help_fits_80_columns() {
    let top = stdout_ok(&neardup(&["--help"]));
    let commands: Vec<String> = top
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .filter(|name| name != "help")
        .collect();
    let mut pages = vec![top];
    for command in &commands {
        for flag in ["-h", "--help"] {
            pages.push(stdout_ok(&neardup(&[command, flag])));
        }
    }
    for page in &pages {
        for line in page.lines() {
            assert!(line.chars().count() <= 80, "{} columns: {line:?}", line.chars().count());
        }
    }
}

/// `--version` names the build; completions and man pages come from the same
/// definitions as `--help`.
#[test]
fn version_completions_and_man_pages() {
    let version = stdout_ok(&neardup(&["--version"]));
    assert!(version.starts_with(&format!("neardup {}", env!("CARGO_PKG_VERSION"))), "{version}");
    let bash = stdout_ok(&neardup(&["completions", "bash"]));
    assert!(bash.contains("_neardup()") && bash.contains("--data-dir"), "{bash}");
    let zsh = stdout_ok(&neardup(&["completions", "zsh"]));
    assert!(zsh.contains("#compdef neardup"), "{zsh}");
    let page = stdout_ok(&neardup(&["man"]));
    assert!(page.starts_with(".ie") || page.contains(".TH neardup"), "{page}");
    assert!(page.contains("completions"), "{page}");
    let serve = stdout_ok(&neardup(&["man", "scan"]));
    assert!(serve.contains(".TH neardup-scan"), "{serve}");
    let unknown = neardup(&["man", "nothing"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("one of: scan"));
}

/// The example config of `deploy/` is a valid config file.
#[cfg(feature = "server")]
#[test]
fn deploy_config_is_valid() {
    let example = root().join("deploy/neardup.toml");
    let printed = stdout_ok(&neardup(&["config", "--config", example.to_str().unwrap()]));
    assert!(printed.contains("window = \"7d\""), "{printed}");
    assert!(printed.contains("metrics_listen = \"127.0.0.1:9464\""), "{printed}");
}
