"""The wire: how a cut's tensors become bytes (``codec``) and how those bytes are sealed (``sealing``)."""
