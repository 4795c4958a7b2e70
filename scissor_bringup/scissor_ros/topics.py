"""The QoS of every scissor topic, and publishers and subscriptions that apply it (overridable per topic)."""
from __future__ import annotations

from collections.abc import Callable

from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.subscription import Subscription

QOS_PROFILES: dict[str, QoSProfile] = {
    "sensor": qos_profile_sensor_data,
    "reliable": QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.VOLATILE),
    "latched": QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL),
}
"""Named QoS profiles: sensor data (best effort, depth 5), reliable (depth 10), latched (transient local, depth 1)."""

TOPIC_QOS: dict[str, str] = {
    "camera/image_raw": "sensor",
    "camera/image_raw/compressed": "sensor",
    "scissor/annotated": "sensor",
    "scissor/features": "reliable",
    "scissor/result": "reliable",
    "scissor/detections": "reliable",
    "scissor/classification": "reliable",
    "scissor/feature_receipt": "reliable",
    "scissor/split_decision": "reliable",
    "scissor/queue_state": "reliable",
    "scissor/link_state": "reliable",
    "scissor/frame_outcome": "reliable",
    "/diagnostics": "reliable",  # absolute, as diagnostic_updater and aggregators use it
}
"""The QoS profile of every scissor topic (overridable per topic with the standard qos_overrides parameters)."""


def qos(name: str) -> QoSProfile:
    """A named profile of :data:`QOS_PROFILES`."""
    return QOS_PROFILES[name]


def publisher(node: Node, msg_type: type, topic: str) -> Publisher:
    """A publisher with the topic's QoS from :data:`TOPIC_QOS`; history, depth and reliability can be
    overridden at start-up (``-p qos_overrides./camera/image_raw.publisher.reliability:=reliable``)."""
    return node.create_publisher(msg_type, topic, qos(TOPIC_QOS[topic]),
                                 qos_overriding_options=QoSOverridingOptions.with_default_policies())


def subscription(node: Node, msg_type: type, topic: str, callback: Callable[..., None], raw: bool = False
                 ) -> Subscription:
    """A subscription with the topic's QoS (overridable like :func:`publisher`'s); ``raw`` delivers CDR bytes."""
    return node.create_subscription(msg_type, topic, callback, qos(TOPIC_QOS[topic]), raw=raw,
                                    qos_overriding_options=QoSOverridingOptions.with_default_policies())


def peers_on_both_ends(requests: Publisher, answers: Subscription, own_answers: int = 0) -> int:
    """How many peers both read what ``requests`` publishes and write what ``answers`` reads (a node that
    only listens, such as a recorder, is not a peer; a stand-in that only answers is not one either).
    ``own_answers``: publishers of the answers' topic in this node itself, which are not peers."""
    return min(requests.get_subscription_count(), answers.get_publisher_count() - own_answers)
