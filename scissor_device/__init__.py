"""scissor_device: the device-side ROS 2 nodes.

camera_node (frames) and device_node (queues, split runner, shaped link).
"""
