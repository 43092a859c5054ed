//! The texts the service keeps for people to read: the title, body and chrome lines of
//! each article ingested since the server started, in memory, up to a byte budget
//! (`limits.kept_text_bytes`; oldest ingested dropped first). The durable log keeps
//! signatures, not texts, so a restarted server shows stories without their texts until
//! copies arrive again. A removed article's text is dropped at once (a takedown must not
//! leave the words on show). [`compare`] makes a story's page from them: each copy's
//! line diff against its origin ([`crate::diff`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use super::{convert, pb};
use crate::detector::ClusterView;
use crate::diff::{DiffText, line_diff};

/// Copies of one story compared at most, earliest first: a page for people, bounded in
/// size whatever the story's.
pub(crate) const MAX_COMPARED_COPIES: usize = 100;

/// What is kept of one article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeptText {
    pub(crate) title: String,
    pub(crate) text: String,
    /// Normalized lines its fingerprint left out as chrome.
    pub(crate) chrome: Vec<String>,
}

impl KeptText {
    fn bytes(&self) -> usize {
        self.title.len() + self.text.len() + self.chrome.iter().map(String::len).sum::<usize>()
    }

    fn as_diff(&self) -> DiffText<'_> {
        DiffText { text: &self.text, chrome: &self.chrome }
    }

    /// The title, else the first line with words, shortened to about 200 bytes.
    pub(crate) fn headline(&self) -> String {
        let line = if self.title.trim().is_empty() {
            self.text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default()
        } else {
            self.title.trim()
        };
        match line.char_indices().nth(200) {
            Some((cut, _)) => format!("{}…", &line[..cut]),
            None => line.to_owned(),
        }
    }
}

/// Kept texts by article id, the oldest dropped first when over budget.
#[derive(Debug)]
pub(crate) struct KeptTexts {
    budget: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Each text with the number of its insertion.
    by_id: HashMap<Box<str>, (Arc<KeptText>, u64)>,
    /// Insertions, oldest first; an entry whose number no longer matches `by_id` is stale.
    order: VecDeque<(Box<str>, u64)>,
    bytes: usize,
    next: u64,
}

impl KeptTexts {
    /// Keeps up to `budget` bytes of text; 0 keeps nothing.
    pub(crate) fn new(budget: usize) -> Self {
        KeptTexts { budget, inner: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `kept` under `id`, replacing what was kept for it; drops the oldest texts
    /// while over budget. A text larger than the whole budget is not kept.
    pub(crate) fn keep(&self, id: &str, kept: KeptText) {
        let size = kept.bytes();
        if size > self.budget {
            self.forget(id);
            return;
        }
        let mut inner = self.lock();
        let number = inner.next;
        inner.next += 1;
        if let Some((old, _)) = inner.by_id.insert(id.into(), (Arc::new(kept), number)) {
            inner.bytes -= old.bytes();
        }
        inner.bytes += size;
        inner.order.push_back((id.into(), number));
        while inner.bytes > self.budget {
            let Some((oldest, number)) = inner.order.pop_front() else { break };
            if inner.by_id.get(&oldest).is_some_and(|(_, n)| *n == number) {
                let (gone, _) = inner.by_id.remove(&oldest).expect("checked");
                inner.bytes -= gone.bytes();
            }
        }
        // Removals and replacements leave stale entries behind; sweep them now and then
        // so the queue stays proportional to what is kept.
        if inner.order.len() > 2 * inner.by_id.len() + 1024 {
            let Inner { by_id, order, .. } = &mut *inner;
            order.retain(|(id, number)| by_id.get(id).is_some_and(|(_, n)| n == number));
        }
    }

    /// Drops the text of `id`, if kept.
    pub(crate) fn forget(&self, id: &str) {
        let mut inner = self.lock();
        if let Some((gone, _)) = inner.by_id.remove(id) {
            inner.bytes -= gone.bytes();
        }
    }

    /// Bytes kept (titles, texts and chrome lines).
    pub(crate) fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// The text kept for `id`.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<KeptText>> {
        self.lock().by_id.get(id).map(|(kept, _)| Arc::clone(kept))
    }
}

/// `view` with the kept text of its origin and each copy's diff against it.
pub(crate) fn compare(view: ClusterView, texts: &KeptTexts) -> pb::StoryComparison {
    let (origin_member, others): (Vec<_>, Vec<_>) =
        view.members.into_iter().partition(|m| m.id == view.origin_id);
    let origin_text = texts.get(&view.origin_id);
    let origin = origin_member.into_iter().next().map(|member| pb::StoryText {
        member: Some(convert::member(member)),
        text_kept: origin_text.is_some(),
        title: origin_text.as_ref().map(|t| t.title.clone()).unwrap_or_default(),
        text: origin_text.as_ref().map(|t| t.text.clone()).unwrap_or_default(),
        diff: Vec::new(),
    });
    let left_out = others.len().saturating_sub(MAX_COMPARED_COPIES);
    let copies = others
        .into_iter()
        .take(MAX_COMPARED_COPIES)
        .map(|member| {
            let kept = texts.get(&member.id);
            let diff = match (&origin_text, &kept) {
                (Some(origin), Some(copy)) => line_diff(&origin.as_diff(), &copy.as_diff()),
                _ => Vec::new(),
            };
            pb::StoryText {
                member: Some(convert::member(member)),
                text_kept: kept.is_some(),
                title: kept.map(|t| t.title.clone()).unwrap_or_default(),
                text: String::new(),
                diff: diff.into_iter().map(convert::diff_line).collect(),
            }
        })
        .collect();
    pb::StoryComparison {
        cluster_id: view.cluster_id,
        origin_id: view.origin_id,
        origin,
        copies,
        copies_left_out: u32::try_from(left_out).unwrap_or(u32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(body: &str) -> KeptText {
        KeptText { title: String::new(), text: body.into(), chrome: Vec::new() }
    }

    #[test]
    fn oldest_go_first_and_removed_ones_at_once() {
        let texts = KeptTexts::new(10);
        texts.keep("a", text("aaaa"));
        texts.keep("b", text("bbbb"));
        texts.keep("a", text("AAAA")); // replaced: now the newest
        texts.keep("c", text("cccc"));
        assert!(texts.get("b").is_none(), "the oldest is dropped");
        assert_eq!(texts.get("a").unwrap().text, "AAAA");
        texts.forget("a");
        assert!(texts.get("a").is_none());
        texts.keep("huge", text("x".repeat(11).as_str()));
        assert!(texts.get("huge").is_none(), "larger than the budget");
        assert_eq!(texts.get("c").unwrap().text, "cccc");
        assert_eq!(texts.bytes(), 4);
        assert!(KeptTexts::new(0).get("c").is_none());
    }

    #[test]
    fn headline_is_the_title_or_the_first_line() {
        let titled = KeptText { title: " T ".into(), ..text("body") };
        assert_eq!(titled.headline(), "T");
        assert_eq!(text("\n\n  first line \nsecond").headline(), "first line");
        assert_eq!(text(&"é".repeat(300)).headline().chars().count(), 201);
    }
}
