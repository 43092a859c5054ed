//! `neardup scan --explain` through the binary: each line says why an article sits in its
//! cluster (similarity to the origin both ways, the link that put it there, the chrome
//! lines left out of its fingerprint).

use std::io::Write;
use std::process::Command;

fn scan_explain(corpus: &std::path::Path) -> Vec<serde_json::Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_neardup"))
        .args(["scan", "--explain", "--no-progress"])
        .arg(corpus)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn by_id<'a>(lines: &'a [serde_json::Value], id: &str) -> &'a serde_json::Value {
    lines.iter().find(|line| line["id"] == id).unwrap()
}

#[test]
fn explains_an_excerpt_by_containment() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kremlin.jsonl");
    let lines = scan_explain(&corpus);
    let excerpt = by_id(&lines, "aggregator-3-excerpt");
    assert_eq!(excerpt["kind"], "partial_copy");
    let to_origin = &excerpt["explain"]["to_origin"];
    // Most of the excerpt is in the origin; little of the origin is in the excerpt.
    assert!(to_origin["containment"].as_f64().unwrap() > 0.7, "{to_origin}");
    assert!(to_origin["containment_rev"].as_f64().unwrap() < 0.4, "{to_origin}");
    assert!(to_origin["jaccard"].as_f64().unwrap() < 0.3, "{to_origin}");
    // The link that decided the kind is on every copy's line, explained or not.
    let link = &excerpt["link"];
    assert!(link["id"].is_string(), "{excerpt}");
    assert!(link["jaccard"].as_f64().unwrap() < 0.3, "a partial copy by its link: {link}");
    let alone = by_id(&lines, "elysee-independent");
    assert!(alone["link"].is_null());
    assert_eq!(alone["kind"], "new_story");
}

#[test]
fn lists_the_chrome_lines_left_out() {
    let mut corpus = tempfile::NamedTempFile::with_suffix(".jsonl").unwrap();
    let bodies = [
        "The port authority approved a plan to rebuild the northern pier after storm damage last winter.",
        "Shares of the regional airline fell sharply after it cut its forecast for the summer season.",
        "A new library opened downtown on Monday with a reading garden and a hall for local concerts.",
        "Farmers in the valley expect a record harvest of apples thanks to a warm and rainy spring.",
    ];
    for (n, body) in bodies.iter().enumerate() {
        let text =
            format!("{body}\n\nLeave a Comment\n\nShare this: Facebook Twitter WhatsApp Email");
        let line =
            serde_json::json!({"id": format!("site-{n}"), "source": "site.example", "text": text});
        writeln!(corpus, "{line}").unwrap();
    }
    let lines = scan_explain(corpus.path());
    for line in &lines {
        let ignored: Vec<&str> = line["explain"]["chrome_ignored"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert_eq!(
            ignored,
            ["leave a comment", "shr this facebook twitter whatsapp email"],
            "{line}"
        );
        // With the shared footer left out, four different stories stay apart.
        assert_eq!(line["kind"], "new_story", "{line}");
    }
}
