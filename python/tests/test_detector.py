"""neardup.Detector labels articles as the library's detector (and so `neardup serve`)
does, and bad input raises the typed exceptions with the library's messages."""

import datetime as dt
import doctest
import json

import pytest

import neardup
from conftest import KREMLIN

EXCERPT = "aggregator-3-excerpt"


def kremlin():
    return [json.loads(line) for line in KREMLIN.read_text(encoding="utf-8").splitlines()]


def test_kremlin_labels_match_the_ground_truth_and_the_service():
    detector = neardup.Detector()
    verdicts = [detector.ingest(r["id"], r["text"], r["source"], r["date"]) for r in kremlin()]
    got = [(v["id"], v["kind"], v["cluster_id"], v["origin_id"]) for v in verdicts]
    # The readout's story is named after its first indexed member; its origin is the
    # earliest published (korrespondent, 20:15, before aggregator-1 at 21:40). The
    # excerpt is found by containment alone.
    assert got == [
        ("aggregator-1", "new_story", "aggregator-1", "aggregator-1"),
        ("korrespondent", "duplicate", "aggregator-1", "korrespondent"),
        ("aggregator-2", "duplicate", "aggregator-1", "korrespondent"),
        (EXCERPT, "partial_copy", "aggregator-1", "korrespondent"),
        ("elysee-independent", "new_story", "elysee-independent", "elysee-independent"),
        ("template-2022-02-12", "new_story", "template-2022-02-12", "template-2022-02-12"),
    ]
    # Stories are exactly the ground truth's.
    truth = {r["id"]: r["cluster"] for r in kremlin()}
    by_cluster = {}
    for v in verdicts:
        by_cluster.setdefault(v["cluster_id"], set()).add(truth[v["id"]])
    assert all(len(stories) == 1 for stories in by_cluster.values())
    for v in verdicts:
        if v["kind"] == "new_story":
            assert v["matches"] == [] and v["link"] is None
        else:
            assert v["matches"] and v["best_jaccard"] > 0 and v["best_containment"] > 0
    story = detector.cluster("aggregator-2")
    assert story["cluster_id"] == "aggregator-1" and story["origin_id"] == "korrespondent"
    assert [m["id"] for m in story["members"]][0] == "korrespondent"
    assert len(story["members"]) == 4
    assert detector.stats()["documents"] == 6 and detector.stats()["clusters"] == 3
    assert len(detector) == 6 and "korrespondent" in detector


def test_check_does_not_store_and_remove_forgets():
    detector = neardup.Detector()
    rows = kremlin()
    first = rows[1]
    detector.ingest(first["id"], first["text"], first["source"], first["date"])
    probe = detector.check("probe", rows[0]["text"], rows[0]["source"])
    assert probe["kind"] == "duplicate" and probe["cluster_id"] == first["id"]
    assert "probe" not in detector and len(detector) == 1
    assert detector.remove(first["id"]) is True
    assert detector.remove(first["id"]) is False
    assert detector.check("probe", rows[0]["text"])["kind"] == "new_story"


def test_dates_in_every_form_agree():
    millis = neardup.parse_date("2022-01-28T20:15:00Z")
    assert millis == 1643400900000
    naive = dt.datetime(2022, 1, 28, 20, 15)
    aware = dt.datetime(2022, 1, 28, 21, 15, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    for n, published in enumerate([millis, "2022-01-28T20:15:00", naive, aware]):
        detector = neardup.Detector()
        detector.ingest(f"a{n}", "one two three four five six seven", published=published)
        assert detector.cluster(f"a{n}")["members"][0]["published"] == millis


def test_config_dict_is_the_cli_config():
    detector = neardup.Detector({"jaccard_threshold": 0.5, "boilerplate": {"enabled": False}})
    assert detector.config["jaccard_threshold"] == 0.5
    assert detector.config["boilerplate"]["enabled"] is False
    assert detector.config["num_perm"] == neardup.Detector().config["num_perm"]


@pytest.mark.parametrize(
    "call, field, message",
    [
        (lambda d: d.ingest("", "text"), "id", "invalid id: is missing or blank"),
        (lambda d: d.ingest("x", "text", "s" * 2000), "source", "invalid source: is 2000 bytes"),
        (lambda d: d.ingest("x", "text", published="not a date"), "published", "invalid published"),
        (lambda d: d.check("x", "text", published=1.5), "published", "invalid published"),
    ],
)
def test_bad_input_raises_invalid_input_naming_the_field(call, field, message):
    with pytest.raises(neardup.InvalidInput) as caught:
        call(neardup.Detector())
    assert caught.value.field == field
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, neardup.NeardupError)


def test_bad_config_raises_invalid_config():
    with pytest.raises(neardup.InvalidConfig) as caught:
        neardup.Detector({"num_perm": 7})
    assert caught.value.field == "num_perm"
    assert "must be a multiple of 16" in str(caught.value)
    with pytest.raises(neardup.InvalidConfig, match="unknown field `no_such_setting`"):
        neardup.Detector({"no_such_setting": 1})
    with pytest.raises(neardup.InvalidConfig):
        neardup.Detector("num_perm=16")


def test_duplicate_id_and_missing_story():
    detector = neardup.Detector()
    detector.ingest("a", "one two three four five six seven")
    with pytest.raises(neardup.DuplicateId) as caught:
        detector.ingest("a", "something else entirely, words and more words")
    assert caught.value.id == "a"
    with pytest.raises(neardup.NotFound) as missing:
        detector.cluster("nope")
    assert missing.value.id == "nope" and isinstance(missing.value, KeyError)
    assert str(missing.value) == 'story not found: "nope"'


def test_the_docstring_example_runs():
    assert doctest.testmod(neardup).failed == 0
