"""scissor_core: models, DNN splitting, wire codec, profiling and configuration.

Pure Python + torch: nothing here imports ROS, so everything can be tested and
run offline. The ROS nodes (scissor_device, scissor_edge, scissor_agent) are thin
adapters over this package.
"""

__version__ = "0.1.0"
