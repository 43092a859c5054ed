//! Listing stories: newest first, filtered by time and outlet, one page at a time. A
//! story's place in the list is its latest pickup (the latest publication time among its
//! members, then the latest arrival), so a story moves to the top when a copy of it
//! appears. A page is chosen in one pass over the stories, keeping only the best `limit`
//! keys in a heap: at 100k stories a page costs a few milliseconds under the read lock,
//! and nothing is copied but the page itself. Pages are cut by a [`StoryCursor`], the key
//! of the last story of the previous page, so a story that moves up while a reader pages
//! down is not shown twice.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::state::State;
use crate::article::NO_DATE;
use crate::error::{Error, Result};
use crate::lsh::Slot;

/// Default stories per page.
pub const DEFAULT_STORY_PAGE: usize = 50;
/// Most stories one page may ask for.
pub const MAX_STORY_PAGE: usize = 1000;

/// Which stories to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoryQuery {
    /// Only stories picked up at or after this time (Unix ms): their latest pickup is
    /// not earlier.
    pub since: Option<i64>,
    /// Only stories with a member from this outlet.
    pub source: Option<String>,
    /// Stories per page; 0 means [`DEFAULT_STORY_PAGE`], at most [`MAX_STORY_PAGE`].
    pub limit: usize,
    /// Continue after this story (the previous page's `next`).
    pub after: Option<StoryCursor>,
}

/// Where a page ends: the sort key of its last story. Shown as `<ms>.<seq>` and parsed
/// back by [`str::parse`]; callers treat it as opaque.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoryCursor {
    latest: i64,
    seq: u64,
}

impl fmt::Display for StoryCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.latest, self.seq)
    }
}

impl FromStr for StoryCursor {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad =
            || Error::input("cursor", format!("{text:?} is not a cursor from a previous page"));
        let (latest, seq) = text.split_once('.').ok_or_else(bad)?;
        Ok(StoryCursor {
            latest: latest.parse().map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

/// One story in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorySummary {
    /// The story's id.
    pub cluster_id: String,
    /// Its earliest published member.
    pub origin_id: String,
    /// The origin's outlet.
    pub origin_source: String,
    /// Live members, the origin included.
    pub members: usize,
    /// Distinct outlets, in the order of their first pickup (the origin's first).
    pub sources: Vec<String>,
    /// Publication time of the origin (Unix ms), if dated.
    pub first_published: Option<i64>,
    /// Latest publication time among the members, if any is dated.
    pub latest_published: Option<i64>,
}

/// A page of stories.
#[derive(Debug, Clone, PartialEq)]
pub struct StoryPage {
    /// Newest first.
    pub stories: Vec<StorySummary>,
    /// The cursor of the next page; `None` on the last page.
    pub next: Option<StoryCursor>,
    /// Stories that pass the filters, on every page.
    pub matched: usize,
}

impl StoryQuery {
    fn page_size(&self) -> Result<usize> {
        match self.limit {
            0 => Ok(DEFAULT_STORY_PAGE),
            n if n > MAX_STORY_PAGE => {
                Err(Error::input("limit", format!("{n} is more than {MAX_STORY_PAGE}")))
            }
            n => Ok(n),
        }
    }
}

/// A story's sort key: latest publication time (undated members count as older than
/// any date), then latest arrival.
fn story_key(state: &State, members: &[Slot]) -> StoryCursor {
    let mut key = StoryCursor { latest: NO_DATE, seq: 0 };
    for &slot in members {
        let entry = state.entry(slot);
        key.latest = key.latest.max(entry.published);
        key.seq = key.seq.max(entry.seq);
    }
    key
}

/// The page of stories `query` asks for (see the module documentation).
pub(super) fn list(state: &State, query: &StoryQuery) -> Result<StoryPage> {
    let limit = query.page_size()?;
    let source = match &query.source {
        Some(name) if !name.is_empty() => match state.sources.find(name) {
            Some(ix) => Some(ix),
            None => return Ok(StoryPage { stories: Vec::new(), next: None, matched: 0 }),
        },
        _ => None,
    };
    let mut matched = 0;
    // The `limit` greatest keys after the cursor; the heap's top is the least of them.
    let mut best: BinaryHeap<Reverse<(StoryCursor, u32)>> = BinaryHeap::with_capacity(limit + 1);
    let mut more = false;
    for (ix, story) in state.stories.iter().enumerate() {
        let Some(story) = story else { continue };
        let key = story_key(state, &story.members);
        if query.since.is_some_and(|since| key.latest < since) {
            continue;
        }
        if source.is_some_and(|s| !story.members.iter().any(|&m| state.entry(m).source == s)) {
            continue;
        }
        matched += 1;
        if query.after.is_some_and(|after| key >= after) {
            continue;
        }
        best.push(Reverse((key, ix as u32)));
        if best.len() > limit {
            best.pop();
            more = true;
        }
    }
    let mut chosen: Vec<(StoryCursor, u32)> = best.into_iter().map(|Reverse(k)| k).collect();
    chosen.sort_unstable_by(|a, b| b.cmp(a));
    let next = if more { chosen.last().map(|(key, _)| *key) } else { None };
    let stories = chosen.iter().map(|&(_, ix)| summary(state, ix)).collect();
    Ok(StoryPage { stories, next, matched })
}

fn summary(state: &State, ix: u32) -> StorySummary {
    let story = state.stories[ix as usize].as_ref().expect("chosen story exists");
    let mut members: Vec<Slot> = story.members.to_vec();
    members.sort_by_key(|&slot| state.order_key(slot));
    let mut sources: Vec<u32> = Vec::new();
    for &slot in &members {
        let source = state.entry(slot).source;
        if !sources.contains(&source) {
            sources.push(source);
        }
    }
    let origin = state.entry(state.origin(story));
    let latest = members.iter().map(|&m| state.entry(m).published).max().unwrap_or(NO_DATE);
    StorySummary {
        cluster_id: story.id.to_string(),
        origin_id: origin.id().to_string(),
        origin_source: state.source(origin).to_owned(),
        members: members.len(),
        sources: sources.into_iter().map(|s| state.sources.get(s).to_owned()).collect(),
        first_published: origin.published(),
        latest_published: (latest != NO_DATE).then_some(latest),
    }
}

#[cfg(test)]
mod tests {
    use crate::article::Article;
    use crate::config::DetectorConfig;
    use crate::detector::Detector;

    use super::*;

    /// Distinct stories: no two share a shingle.
    fn story_text(n: usize) -> String {
        (0..40).map(|w| format!("w{n}x{w}")).collect::<Vec<_>>().join(" ")
    }

    fn ingest(detector: &Detector, id: &str, text: &str, source: &str, published: Option<i64>) {
        detector.ingest(&Article { id, text, source, published }).unwrap();
    }

    fn ids(page: &StoryPage) -> Vec<&str> {
        page.stories.iter().map(|s| s.cluster_id.as_str()).collect()
    }

    #[test]
    fn newest_pickup_first_and_paged_without_repeats() {
        let detector = Detector::new(DetectorConfig::default()).unwrap();
        for n in 0..7 {
            ingest(&detector, &format!("s{n}"), &story_text(n), "wire", Some(1000 * n as i64));
        }
        // A late copy of the oldest story moves it to the top.
        ingest(&detector, "copy", &story_text(0), "daily", Some(10_000));
        let query = |after, limit| StoryQuery { limit, after, ..Default::default() };
        let first = detector.stories(&query(None, 3)).unwrap();
        assert_eq!(ids(&first), ["s0", "s6", "s5"]);
        assert_eq!(first.matched, 7);
        assert_eq!(first.stories[0].members, 2);
        assert_eq!(first.stories[0].sources, ["wire", "daily"]);
        assert_eq!(first.stories[0].first_published, Some(0));
        assert_eq!(first.stories[0].latest_published, Some(10_000));
        let cursor: StoryCursor = first.next.unwrap().to_string().parse().unwrap();
        let second = detector.stories(&query(Some(cursor), 3)).unwrap();
        assert_eq!(ids(&second), ["s4", "s3", "s2"]);
        let third = detector.stories(&query(second.next, 3)).unwrap();
        assert_eq!((ids(&third), third.next), (vec!["s1"], None));
    }

    #[test]
    fn filters_by_time_and_outlet() {
        let detector = Detector::new(DetectorConfig::default()).unwrap();
        ingest(&detector, "old", &story_text(1), "wire", Some(1_000));
        ingest(&detector, "new", &story_text(2), "wire", Some(5_000));
        ingest(&detector, "undated", &story_text(3), "blog", None);
        ingest(&detector, "pickup", &story_text(1), "daily", Some(2_000));
        let list = |since, source: &str| {
            let query = StoryQuery { since, source: Some(source.to_owned()), ..Default::default() };
            ids(&detector.stories(&query).unwrap()).join(",")
        };
        assert_eq!(list(None, ""), "new,old,undated");
        assert_eq!(list(Some(2_000), ""), "new,old");
        assert_eq!(list(Some(3_000), ""), "new");
        assert_eq!(list(None, "daily"), "old");
        assert_eq!(list(None, "blog"), "undated");
        assert_eq!(list(None, "nobody"), "");
    }

    #[test]
    fn bad_limits_and_cursors_name_the_field() {
        let detector = Detector::new(DetectorConfig::default()).unwrap();
        let too_many = StoryQuery { limit: MAX_STORY_PAGE + 1, ..Default::default() };
        assert!(matches!(
            detector.stories(&too_many),
            Err(Error::InvalidInput { field: "limit", .. })
        ));
        for text in ["", "12", "a.b", "1.-2"] {
            assert!(
                matches!(
                    text.parse::<StoryCursor>(),
                    Err(Error::InvalidInput { field: "cursor", .. })
                ),
                "{text}"
            );
        }
    }
}
