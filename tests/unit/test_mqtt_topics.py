"""Topic filters an MQTT ingest worker accepts as its partition."""

from __future__ import annotations

import pytest

from shopfloor.workers.ingest_mqtt import TopicFilterError, check_topic_filter


@pytest.mark.parametrize(
    "topic",
    ["spBv1.0/#", "spBv1.0/plant1/+/line-a/#", "shopfloor/json/hall-2/#", "spBv1.0/g/NDATA/n1"],
)
def test_plain_filters_are_taken_as_they_are(topic: str) -> None:
    assert check_topic_filter(topic) == topic


@pytest.mark.parametrize(
    ("topic", "says"),
    [
        ("$share/ingest/spBv1.0/#", "shared subscription"),
        ("spBv1.0/#/NDATA", "'#' the last level"),
        ("spBv1.0/line+/#", "'+' must be a whole level"),
        ("spBv1.0/li#", "'#' the last level"),
        ("", "not a topic filter"),
    ],
)
def test_shared_and_malformed_filters_are_refused_with_the_reason(topic: str, says: str) -> None:
    with pytest.raises(TopicFilterError, match=says.replace("+", r"\+")):
        check_topic_filter(topic)
