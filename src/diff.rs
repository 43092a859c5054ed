//! What a copy did to its origin, line by line: the lines it kept, cut and added, and
//! its lines left out of matching as site chrome. Lines are compared by their normalized
//! text, so a copy that only changes case or punctuation keeps the line; blank lines are
//! left out. The diff itself is `similar`'s (patience), over one key per line.

use serde::{Deserialize, Serialize};
use similar::{Algorithm, DiffTag};

use crate::text::normalize;

/// What happened to one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineChange {
    /// In both (the copy's wording shown).
    Kept,
    /// In the origin only.
    Cut,
    /// In the copy only.
    Added,
    /// A line of the copy left out of matching as site chrome.
    Chrome,
}

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffLine {
    /// What happened to it.
    pub change: LineChange,
    /// The line as written (the copy's for kept lines), trimmed.
    pub text: String,
}

/// A text with the normalized lines its fingerprint left out as chrome (a verdict's
/// `chrome_ignored`).
#[derive(Debug, Clone, Copy)]
pub struct DiffText<'a> {
    /// The raw text.
    pub text: &'a str,
    /// Normalized chrome lines.
    pub chrome: &'a [String],
}

/// A line with its normalized key; chrome lines are marked.
struct Line<'a> {
    raw: &'a str,
    key: String,
    chrome: bool,
}

fn lines<'a>(text: &DiffText<'a>) -> Vec<Line<'a>> {
    text.text
        .lines()
        .filter_map(|raw| {
            let key = normalize(raw);
            let chrome = text.chrome.contains(&key);
            (!key.is_empty()).then(|| Line { raw: raw.trim(), key, chrome })
        })
        .collect()
}

/// The lines of `copy` against `origin`, in the copy's order, each cut line where it
/// stood in the origin. The origin's own chrome lines are left out.
pub fn line_diff(origin: &DiffText<'_>, copy: &DiffText<'_>) -> Vec<DiffLine> {
    let old: Vec<Line<'_>> = lines(origin).into_iter().filter(|l| !l.chrome).collect();
    let new_all = lines(copy);
    let new: Vec<&Line<'_>> = new_all.iter().filter(|l| !l.chrome).collect();
    let old_keys: Vec<&str> = old.iter().map(|l| l.key.as_str()).collect();
    let new_keys: Vec<&str> = new.iter().map(|l| l.key.as_str()).collect();
    let ops = similar::capture_diff_slices(Algorithm::Patience, &old_keys, &new_keys);

    // Chrome lines are put back before the first body line that follows them.
    let mut chrome = new_all.iter().enumerate().filter(|(_, l)| l.chrome).peekable();
    let position = |line: &Line<'_>| new_all.iter().position(|l| std::ptr::eq(l, line));
    let mut out = Vec::with_capacity(old.len() + new_all.len());
    let push = |out: &mut Vec<DiffLine>, change, text: &str| {
        out.push(DiffLine { change, text: text.to_owned() });
    };
    for op in ops {
        let (tag, old_range, new_range) = op.as_tag_tuple();
        if matches!(tag, DiffTag::Delete | DiffTag::Replace) {
            for line in &old[old_range] {
                push(&mut out, LineChange::Cut, line.raw);
            }
        }
        let change = if tag == DiffTag::Equal { LineChange::Kept } else { LineChange::Added };
        if tag != DiffTag::Delete {
            for line in &new[new_range] {
                let at = position(line).unwrap_or(usize::MAX);
                while let Some((_, c)) = chrome.next_if(|(ix, _)| *ix < at) {
                    push(&mut out, LineChange::Chrome, c.raw);
                }
                push(&mut out, change, line.raw);
            }
        }
    }
    for (_, line) in chrome {
        push(&mut out, LineChange::Chrome, line.raw);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(origin: &str, copy: &str, chrome: &[&str]) -> Vec<(LineChange, String)> {
        let chrome: Vec<String> = chrome.iter().map(|c| normalize(c)).collect();
        let origin = DiffText { text: origin, chrome: &[] };
        let copy = DiffText { text: copy, chrome: &chrome };
        line_diff(&origin, &copy).into_iter().map(|l| (l.change, l.text)).collect()
    }

    #[test]
    fn kept_cut_added_and_chrome_in_the_copys_order() {
        let origin = "Title\n\nFirst paragraph.\nSecond paragraph.\nThird paragraph.";
        let copy = "Home » News\nTITLE\n\nFirst paragraph!\nAn added line.\nThird paragraph.\n\nLeave a comment";
        use LineChange::*;
        let expected = [
            (Chrome, "Home » News"),
            (Kept, "TITLE"),
            (Kept, "First paragraph!"),
            (Cut, "Second paragraph."),
            (Added, "An added line."),
            (Kept, "Third paragraph."),
            (Chrome, "Leave a comment"),
        ];
        let expected: Vec<(LineChange, String)> =
            expected.iter().map(|(c, t)| (*c, (*t).to_owned())).collect();
        assert_eq!(diff(origin, copy, &["Home » News", "Leave a comment"]), expected);
    }

    #[test]
    fn identical_texts_keep_every_line_and_empty_copies_cut_everything() {
        let text = "one line here\ntwo lines here";
        assert!(diff(text, text, &[]).iter().all(|(c, _)| *c == LineChange::Kept));
        let cut = diff(text, " \n", &[]);
        assert_eq!(cut.len(), 2);
        assert!(cut.iter().all(|(c, _)| *c == LineChange::Cut));
    }

    #[test]
    fn markup_is_kept_as_text() {
        let lines = diff("a story", "a story\n<script>alert(1)</script>", &[]);
        assert_eq!(lines[1], (LineChange::Added, "<script>alert(1)</script>".to_owned()));
    }
}
