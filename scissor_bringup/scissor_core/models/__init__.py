"""Vision models in plain torch (torchvision-compatible state_dicts) and the Darknet YOLOv3; see ``registry``."""
