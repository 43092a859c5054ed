//! Proto messages to core types and back. Conversions that can fail return a
//! [`crate::Error::InvalidInput`] naming the proto field, which becomes `INVALID_ARGUMENT`.
//! [`to_json`] renders any message of the API as proto3 JSON from the descriptors the
//! server embeds for reflection, so a client can print a response whole, new fields
//! included.

use std::time::Duration;

use crate::article::OwnedArticle;
use crate::cluster::CopyKind;
use crate::config::ServiceConfig;
use crate::detector::{ClusterView, Match, Member, StoryPage, StoryQuery, Verdict};
use crate::diff::{DiffLine, LineChange};
use crate::error::{Error, Result};
use crate::service::pb;
use crate::store::DurableStats;

/// The article of a request; `None` (field not set) is an error. Title, url and labels
/// are accepted for the caller's convenience but play no part in detection.
pub fn article(article: Option<pb::Article>) -> Result<OwnedArticle> {
    titled_article(article).map(|(article, _)| article)
}

/// [`article`] and its title, which the server keeps with the text for people to read.
pub fn titled_article(article: Option<pb::Article>) -> Result<(OwnedArticle, String)> {
    let article = article.ok_or_else(|| Error::input("article", "is missing"))?;
    let published = article
        .published_at
        .map(|ts| {
            unix_millis(&ts).ok_or_else(|| {
                Error::input("article.published_at", format!("{ts:?} is not a valid timestamp"))
            })
        })
        .transpose()?;
    let title = article.title;
    let article =
        OwnedArticle { id: article.id, text: article.text, source: article.source, published };
    // Here, before the store sees it, so that every limit is reported alike.
    article.as_article().validate()?;
    Ok((article, title))
}

/// The story query of a `ListStories` request.
pub fn story_query(request: pb::ListStoriesRequest) -> Result<StoryQuery> {
    let since = request
        .since
        .map(|ts| {
            unix_millis(&ts)
                .ok_or_else(|| Error::input("since", format!("{ts:?} is not a valid timestamp")))
        })
        .transpose()?;
    let after = match request.cursor.as_str() {
        "" => None,
        cursor => Some(cursor.parse()?),
    };
    Ok(StoryQuery {
        since,
        source: (!request.source.is_empty()).then_some(request.source),
        limit: request.limit as usize,
        after,
    })
}

/// A page of stories as a proto message; `headline` gives a story's origin headline
/// when its text is kept.
pub fn story_page(
    page: StoryPage,
    headline: impl Fn(&str) -> Option<String>,
) -> pb::ListStoriesResponse {
    let stories = page
        .stories
        .into_iter()
        .map(|story| pb::StorySummary {
            headline: headline(&story.origin_id).unwrap_or_default(),
            members: u32::try_from(story.members).unwrap_or(u32::MAX),
            first_published: story.first_published.map(timestamp),
            latest_published: story.latest_published.map(timestamp),
            cluster_id: story.cluster_id,
            origin_id: story.origin_id,
            origin_source: story.origin_source,
            sources: story.sources,
        })
        .collect();
    pb::ListStoriesResponse {
        stories,
        next_cursor: page.next.map(|c| c.to_string()).unwrap_or_default(),
        matched: page.matched as u64,
    }
}

/// A line of a diff as a proto message.
pub fn diff_line(line: DiffLine) -> pb::DiffLine {
    let change = match line.change {
        LineChange::Kept => pb::LineChange::LineKept,
        LineChange::Cut => pb::LineChange::LineCut,
        LineChange::Added => pb::LineChange::LineAdded,
        LineChange::Chrome => pb::LineChange::LineChrome,
    };
    pb::DiffLine { change: change.into(), text: line.text }
}

/// `message` (of the proto type `full_name`, e.g. `neardup.v1.Cluster`) as proto3 JSON,
/// with the proto's field names, every field (default values included) and 64-bit
/// integers as numbers, not strings.
pub fn to_json<M: prost::Message>(message: &M, full_name: &str) -> Result<serde_json::Value> {
    use prost_reflect::{DynamicMessage, SerializeOptions};
    let descriptor = message_descriptor(full_name)?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(|e| internal(format!("{full_name} does not decode: {e}")))?;
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(false)
        .stringify_64_bit_integers(false);
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| internal(format!("{full_name} as JSON: {e}")))
}

fn internal(reason: String) -> Error {
    Error::Internal { reason }
}

/// The descriptor of the API message `full_name` (e.g. `neardup.v1.Article`), from the
/// descriptor set embedded for reflection.
pub(crate) fn message_descriptor(full_name: &str) -> Result<prost_reflect::MessageDescriptor> {
    use prost_reflect::DescriptorPool;
    static POOL: std::sync::OnceLock<Option<DescriptorPool>> = std::sync::OnceLock::new();
    let pool = POOL
        .get_or_init(|| DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).ok())
        .as_ref()
        .ok_or_else(|| internal("the embedded proto descriptors do not decode".into()))?;
    pool.get_message_by_name(full_name)
        .ok_or_else(|| internal(format!("no message {full_name} in the proto")))
}

/// A corpus record as a request article: how the CLI clients send files.
#[cfg(feature = "scan")]
pub fn article_from_record(record: crate::scan::input::Record<'_>) -> pb::Article {
    pb::Article {
        published_at: record.published.map(timestamp),
        id: record.id.into_owned(),
        text: record.text.into_owned(),
        source: record.source.map(|s| s.into_owned()).unwrap_or_default(),
        ..Default::default()
    }
}

/// A required id field (an article or cluster id): not blank, at most
/// [`crate::article::MAX_ID_BYTES`] long.
pub fn required<'a>(field: &'static str, value: &'a str) -> Result<&'a str> {
    crate::article::validate_id(value).map_err(|err| match err {
        Error::InvalidInput { reason, .. } => Error::input(field, reason),
        other => other,
    })?;
    Ok(value)
}

/// Unix milliseconds of a well-formed timestamp (nanos in range, no overflow).
fn unix_millis(ts: &prost_types::Timestamp) -> Option<i64> {
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return None;
    }
    ts.seconds.checked_mul(1000)?.checked_add(i64::from(ts.nanos / 1_000_000))
}

/// The timestamp of Unix milliseconds.
pub fn timestamp(millis: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: (millis.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// The proto enum of a kind.
pub fn kind(kind: CopyKind) -> pb::Kind {
    match kind {
        CopyKind::NewStory => pb::Kind::NewStory,
        CopyKind::Duplicate => pb::Kind::Duplicate,
        CopyKind::PartialCopy => pb::Kind::PartialCopy,
    }
}

/// A core verdict as a proto message.
pub fn verdict(verdict: Verdict) -> pb::Verdict {
    let to_pb = |m: Match| pb::Match {
        id: m.id,
        source: m.source,
        jaccard: m.jaccard as f32,
        containment: m.containment as f32,
        containment_rev: m.containment_rev as f32,
    };
    pb::Verdict {
        id: verdict.id,
        kind: kind(verdict.kind).into(),
        cluster_id: verdict.cluster_id,
        origin_id: verdict.origin_id,
        matches: verdict.matches.into_iter().map(to_pb).collect(),
        link: verdict.link.map(to_pb),
        origin_jaccard: verdict.origin_jaccard as f32,
        origin_containment: verdict.origin_containment as f32,
        best_jaccard: verdict.best_jaccard as f32,
        best_containment: verdict.best_containment as f32,
        chrome_ignored: verdict.chrome_ignored,
    }
}

/// A proto verdict back as a core one (for clients that print verdicts). Scores are
/// rounded to 4 decimals, as `neardup scan` writes them, so that the f32 of the wire does
/// not show as 0.800000011920929.
pub fn verdict_from_pb(verdict: pb::Verdict) -> Result<Verdict> {
    let kind = match verdict.kind() {
        pb::Kind::NewStory => CopyKind::NewStory,
        pb::Kind::Duplicate => CopyKind::Duplicate,
        pb::Kind::PartialCopy => CopyKind::PartialCopy,
        pb::Kind::Unspecified => {
            return Err(Error::input("verdict.kind", format!("{} is not a kind", verdict.kind)));
        }
    };
    let from_pb = |m: pb::Match| Match {
        id: m.id,
        source: m.source,
        jaccard: round4(m.jaccard),
        containment: round4(m.containment),
        containment_rev: round4(m.containment_rev),
    };
    Ok(Verdict {
        id: verdict.id,
        kind,
        cluster_id: verdict.cluster_id,
        origin_id: verdict.origin_id,
        matches: verdict.matches.into_iter().map(from_pb).collect(),
        link: verdict.link.map(from_pb),
        origin_jaccard: round4(verdict.origin_jaccard),
        origin_containment: round4(verdict.origin_containment),
        best_jaccard: round4(verdict.best_jaccard),
        best_containment: round4(verdict.best_containment),
        chrome_ignored: verdict.chrome_ignored,
    })
}

fn round4(x: f32) -> f64 {
    (f64::from(x) * 1e4).round() / 1e4
}

/// A cluster as a proto message.
pub fn cluster(view: ClusterView) -> pb::Cluster {
    pb::Cluster {
        cluster_id: view.cluster_id,
        origin_id: view.origin_id,
        members: view.members.into_iter().map(member).collect(),
    }
}

/// A member of a story as a proto message.
pub fn member(member: Member) -> pb::Member {
    pb::Member {
        kind: kind(member.kind).into(),
        id: member.id,
        source: member.source,
        published_at: member.published.map(timestamp),
        jaccard: member.jaccard as f32,
        containment: member.containment as f32,
    }
}

/// The stats response.
pub fn stats(stats: &DurableStats, config: &ServiceConfig, uptime: Duration) -> pb::StatsResponse {
    let detector = &config.detector;
    let small = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let (oldest_kept_id, oldest_kept_at) = match &stats.oldest_kept {
        Some((id, millis)) => (id.clone(), Some(timestamp(*millis))),
        None => (String::new(), None),
    };
    pb::StatsResponse {
        documents: stats.detector.documents as u64,
        clusters: stats.detector.clusters as u64,
        config: Some(pb::Config {
            shingle_size: small(detector.shingle_size),
            num_perm: small(detector.num_perm),
            seed: detector.seed,
            lsh_threshold: detector.lsh_threshold,
            bands: small(detector.bands),
            rows: small(detector.rows),
            jaccard_threshold: detector.jaccard_threshold,
            containment_threshold: detector.containment_threshold,
            max_matches: small(detector.max_matches),
            max_message_bytes: config.max_message_bytes as u64,
        }),
        memory_bytes: stats.detector.heap_bytes as u64,
        uptime: Some(duration(uptime)),
        durable: true,
        window: config.store.window.map(duration),
        oldest_kept_id,
        oldest_kept_at,
        disk_bytes: stats.store.disk_bytes,
        sync: stats.store.sync.to_string(),
        log_records: stats.store.records,
        log_syncs: stats.store.syncs,
    }
}

fn duration(span: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(span.as_secs()).unwrap_or(i64::MAX),
        nanos: span.subsec_nanos() as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_millis() {
        for millis in [0, 1, 999, 1_643_402_400_123, -1, -1001] {
            assert_eq!(unix_millis(&timestamp(millis)), Some(millis), "{millis}");
        }
        let bad = prost_types::Timestamp { seconds: 1, nanos: 1_000_000_000 };
        assert_eq!(unix_millis(&bad), None);
        assert_eq!(unix_millis(&prost_types::Timestamp { seconds: i64::MAX, nanos: 0 }), None);
    }

    #[test]
    fn article_needs_the_field_and_a_valid_time() {
        assert!(matches!(article(None), Err(Error::InvalidInput { field: "article", .. })));
        let bad_time = pb::Article {
            id: "a".into(),
            text: "t".into(),
            published_at: Some(prost_types::Timestamp { seconds: 0, nanos: -1 }),
            ..Default::default()
        };
        assert!(matches!(
            article(Some(bad_time)),
            Err(Error::InvalidInput { field: "article.published_at", .. })
        ));
        let good = pb::Article {
            id: "a".into(),
            text: "t".into(),
            source: "s".into(),
            published_at: Some(timestamp(1500)),
            ..Default::default()
        };
        let owned = article(Some(good)).unwrap();
        assert_eq!((owned.id.as_str(), owned.published), ("a", Some(1500)));
    }

    #[test]
    fn messages_render_as_proto_json() {
        let cluster = pb::Cluster {
            cluster_id: "a".into(),
            origin_id: "a".into(),
            members: vec![pb::Member {
                id: "a".into(),
                published_at: Some(timestamp(1_643_402_400_000)),
                jaccard: 1.0,
                ..Default::default()
            }],
        };
        let json = to_json(&cluster, "neardup.v1.Cluster").unwrap();
        assert_eq!(json["cluster_id"], "a");
        assert_eq!(json["members"][0]["published_at"], "2022-01-28T20:40:00Z");
        assert_eq!(json["members"][0]["source"], "", "default values are kept");
        assert!(to_json(&cluster, "neardup.v1.Nothing").is_err());
    }

    #[test]
    fn verdicts_round_trip() {
        let core = Verdict {
            id: "b".into(),
            kind: CopyKind::PartialCopy,
            cluster_id: "a".into(),
            origin_id: "a".into(),
            matches: vec![Match {
                id: "a".into(),
                source: "wire".into(),
                jaccard: 0.25,
                containment: 0.8125,
                containment_rev: 0.3125,
            }],
            link: Some(Match {
                id: "a".into(),
                source: "wire".into(),
                jaccard: 0.25,
                containment: 0.8125,
                containment_rev: 0.3125,
            }),
            origin_jaccard: 0.25,
            origin_containment: 0.8125,
            best_jaccard: 0.25,
            best_containment: 0.8125,
            chrome_ignored: vec!["leave a comment".into()],
        };
        assert_eq!(verdict_from_pb(verdict(core.clone())).unwrap(), core);
        let unspecified = pb::Verdict { id: "x".into(), ..Default::default() };
        assert!(verdict_from_pb(unspecified).is_err());
    }
}
