"""Simulation and training: the discrete-event simulator, its gymnasium wrapper, A2C training, online-learning logs."""
