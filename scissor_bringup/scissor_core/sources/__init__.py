"""Frame sources and image conversions: the synthetic scene, OpenCV captures, image folders, rosbag2 replays."""
