"""scissor_ros: what every scissor node imports from ROS, one job per module.

``topics`` (QoS table, publishers and subscriptions), ``parameters`` (the typed
config as ROS parameters), ``diagnostics``, ``process`` (transport set-up and
the main loop), ``images`` (sensor_msgs images <-> frames), ``cdr`` (serialized
messages through rosbags) and ``messages`` (scissor_msgs <-> the core's
dataclasses). Nothing here knows a node; the nodes are built from these.
"""
