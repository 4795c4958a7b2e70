"""scissor_edge: the edge-side ROS 2 node (tail inference, receipts, results)."""
