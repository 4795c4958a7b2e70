"""The pipeline one frame takes, shared by the simulator and the live nodes.

``outcome`` (the one per-frame record and the reward), ``queues`` (the device's
two queues and their drop rules), ``traces`` (bandwidth traces and the estimate
b_hat), ``costs`` (profiles and per-split cost tables), ``policy`` (the one
Policy interface), ``device`` (the live device pipeline) and ``edge`` (the live
edge pipeline and its serving queue).
"""
