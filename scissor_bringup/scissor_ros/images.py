"""sensor_msgs/Image and CompressedImage <-> BGR numpy frames, through :mod:`scissor_core.sources.imaging`.

The project's own small replacement for cv_bridge (not installable here): pixel data
moves as buffers (``np.frombuffer`` on receipt, one memcpy into an ``array.array``
when publishing), never as per-element lists.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rclpy.node import Node
from rclpy.subscription import Subscription
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from scissor_core.sources.imaging import ImageFields, compressed_to_bgr, from_bgr, to_bgr
from scissor_ros.messages import uint8_array
from scissor_ros.topics import subscription

CAMERA_TOPICS: dict[str, tuple[type, str]] = {
    "raw": (Image, "camera/image_raw"),
    "compressed": (CompressedImage, "camera/image_raw/compressed"),
}
"""Per ``device.image_transport``: the message type and topic a camera reader subscribes to (the names of
image_transport's raw and compressed transports, so a driver's ``image_raw/compressed`` remaps 1:1)."""


def image_to_bgr(msg: Image) -> np.ndarray:
    """sensor_msgs/Image -> (H, W, 3) BGR uint8; raises :class:`~scissor_core.sources.imaging.ImageError`."""
    return to_bgr(ImageFields(msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step, msg.data))


def bgr_to_image(frame: np.ndarray, encoding: str = "bgr8", header: Header | None = None) -> Image:
    """(H, W, 3) BGR uint8 -> sensor_msgs/Image in ``encoding``."""
    fields = from_bgr(frame, encoding)
    msg = Image(check_fields=True)  # stores the array.array below by reference
    if header is not None:
        msg.header = header
    msg.height, msg.width, msg.encoding = fields.height, fields.width, fields.encoding
    msg.is_bigendian, msg.step = fields.is_bigendian, fields.step
    msg.data = uint8_array(fields.data)
    return msg


def compressed_image_to_bgr(msg: CompressedImage) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg or png) -> (H, W, 3) BGR uint8; raises ImageError."""
    return compressed_to_bgr(msg.format, msg.data)


def subscribe_camera(node: Node, transport: str, callback: Callable[[Image | CompressedImage,
                     Callable[[], np.ndarray]], None]) -> Subscription:
    """Subscribe to the camera in ``transport`` (raw or compressed, :data:`CAMERA_TOPICS`); ``callback``
    gets each message and a function that decodes it to BGR (raising ImageError)."""
    msg_type, topic = CAMERA_TOPICS[transport]
    decode = image_to_bgr if msg_type is Image else compressed_image_to_bgr
    return subscription(node, msg_type, topic, lambda msg: callback(msg, lambda: decode(msg)))
