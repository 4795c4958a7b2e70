"""scissor_device: the device-side ROS 2 nodes.

camera_node (frames), device_node (queues, split runner, shaped link) and annotator_node (results drawn on
the frames).
"""
