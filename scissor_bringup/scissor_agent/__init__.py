"""agent_node: serves the split policy over ROS 2 and learns online (training CLI: `scissor train`)."""
