"""Results as ROS perception users consume them: ``vision_msgs/Detection2DArray`` for a detector,
``vision_msgs/Classification`` for a classifier, each with the camera frame's header (its stamp and
frame_id, carried from the camera through the device and the edge).

``vision_msgs`` comes from a ROS distro (``ros-$DISTRO-vision-msgs``; here ``make test`` builds it from
``../shared/ros2-src``): when it is not importable, :func:`vision_publisher` returns None and the edge
publishes ``scissor/result`` alone. ``class_id`` is the class name when the model has one, else its index.
"""
from __future__ import annotations

from typing import Any

from rclpy.node import Node
from rclpy.publisher import Publisher
from std_msgs.msg import Header

from scissor_core.runtime.records import EdgeResult
from scissor_ros.topics import publisher

try:
    from vision_msgs.msg import (Classification, Detection2D, Detection2DArray, ObjectHypothesis,
                                 ObjectHypothesisWithPose)
except ImportError:  # no vision_msgs in this ROS installation
    Detection2DArray = Classification = None

VISION_TOPICS = {"detection": "scissor/detections", "classification": "scissor/classification"}
"""The vision_msgs topic per model task."""


def vision_publisher(node: Node, task: str) -> Publisher | None:
    """A publisher of the task's vision_msgs type on its topic, or None without vision_msgs."""
    if Detection2DArray is None:
        return None
    return publisher(node, Detection2DArray if task == "detection" else Classification, VISION_TOPICS[task])


def class_label(class_id: int, name: str) -> str:
    return name or str(class_id)


def detection_array(result: EdgeResult, header: Header) -> Any:
    """The detections of ``result`` (boxes in the camera frame's pixels) as a Detection2DArray."""
    out = Detection2DArray(header=header)
    for det in result.detections:
        d = Detection2D(header=header)
        d.bbox.center.position.x, d.bbox.center.position.y = (det.x1 + det.x2) / 2, (det.y1 + det.y2) / 2
        d.bbox.size_x, d.bbox.size_y = det.x2 - det.x1, det.y2 - det.y1
        d.results.append(ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(
            class_id=class_label(det.class_id, det.class_name), score=float(det.score))))
        out.detections.append(d)
    return out


def classification(result: EdgeResult, header: Header, names: list[str]) -> Any:
    """The top-k classes of ``result`` as a Classification (named from the model's ``names``)."""
    return Classification(header=header, results=[
        ObjectHypothesis(class_id=class_label(c, names[c] if c < len(names) else ""), score=float(s))
        for c, s in zip(result.topk_classes, result.topk_scores)])


def vision_message(result: EdgeResult, task: str, header: Header, names: list[str]) -> Any:
    """The vision_msgs message of a result that ran (not an error result)."""
    return detection_array(result, header) if task == "detection" else classification(result, header, names)
