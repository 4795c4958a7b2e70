"""The DNN-Scissor learner: Advantage Actor-Critic over the observed queue state.

Paper settings (the defaults of the ``agent`` config section, :class:`AgentConfig`): actor and critic
are each a fully connected net with two hidden layers of 16 ReLU units (our
reading of "2 layers, 16 neurons"), softmax on the actor's output; discount
0.95, learning rate 1e-3 (Adam); every 5 completed transitions a batch of 5 is
sampled uniformly from a replay buffer; actor loss ``-sum log pi(a|s) * delta``
with ``delta = r + gamma v(s') - v(s)`` (not back-propagated into the actor),
critic loss MSE to the TD target ``r + gamma v(s')``.

Choices where the paper is silent, written down here:

- A transition ``(s_t, a_t, r_t, s_{t+1})`` completes when frame t's outcome
  (its reward) has arrived *and* the next frame's state has been observed; the
  outcome may arrive many frames later (a frame in flight), so transitions are
  kept pending by sequence number. The task is treated as continuing: there is
  no terminal state, and pending transitions at an episode's end are discarded.
- Several devices at one edge share one learner (:meth:`A2CPolicy.stream`): one network, normaliser, buffer
  and optimiser, but each device its own pending transitions, since ``s_{t+1}`` is the *same device's* next
  frame and sequence numbers restart per device. Each device learns from its own frames' rewards.
- State normalisation: a running mean / standard deviation of the state vector
  (the paper's ``[l, c, b_hat (MB/s), tau (s), o (MB)]``, or extended)
  updated while training and frozen when evaluating; it is saved in the policy file.
- With the paper's settings the replay buffer keeps the last 10,000 transitions.
- Beyond the paper, and on by default (``PAPER_AGENT`` in the config turns them
  off): an entropy bonus and advantage normalisation (``entropy_coef``,
  ``normalize_advantage``), the extended state (``state: extended``: the work in
  service, which the paper's state omits), and ``buffer_size == batch ==
  update_every``, which makes the updates on-policy (each batch is the last
  ``batch`` transitions, as in textbook A2C).

The networks are torch modules (their state_dicts are the policy file), but
decisions and updates run in numpy on views of the torch parameters, with the
gradients written out by hand and Adam as in ``torch.optim.Adam``: for nets
this small, autograd's per-op overhead (milliseconds per update) would dominate
training. ``test/test_a2c.py`` checks the hand-written gradients against
autograd on the same loss.
"""
from __future__ import annotations

import os
import random
from collections import deque
from pathlib import Path

import numpy as np
import torch
from torch import nn

from scissor_core.config import AgentConfig
from scissor_core.runtime.costs import SplitCosts, codec_plan
from scissor_core.runtime.outcome import FrameOutcome
from scissor_core.runtime.policy import Policy
from scissor_core.runtime.queues import STATE_SIZES, ObservedState

POLICY_FORMAT = 1


A2C_FIELDS = ("hidden", "layers", "gamma", "lr", "batch", "update_every", "buffer_size", "entropy_coef",
              "normalize_advantage", "state")
"""The learner's hyper-parameters: fields of :class:`~scissor_core.config.AgentConfig` (the paper's values:
``PAPER_AGENT`` there), the one place they are defined; a policy file records them."""


def _mlp(inputs: int, outputs: int, hidden: int, layers: int) -> nn.Sequential:
    sizes = [inputs] + [hidden] * layers
    modules: list[nn.Module] = []
    for a, b in zip(sizes, sizes[1:]):
        modules += [nn.Linear(a, b), nn.ReLU()]
    modules.append(nn.Linear(sizes[-1], outputs))
    return nn.Sequential(*modules)


MIN_STATE_SCALE = np.array([1.0, 1.0, 0.1, 0.01, 0.01, 0.01, 0.01, 1.0, 0.01])
"""Smallest standard deviation the normaliser uses per state feature, in the state's own units
(1 frame, 1 feature map, 0.1 MB/s, 10 ms, 0.01 MB; extended: 10 ms, 0.01 MB; edge: 1 frame, 10 ms): a feature that
never varied in training (a constant-rate link's b_hat) must not be divided by ~0 when it does vary at
serving time."""
STATE_CLIP = 10.0
"""Normalised features are clipped to +-this: inputs far outside the training range stay bounded."""


class RunningNormaliser:
    """Running mean and standard deviation (Welford) of the state vector; frozen when not training.

    The standard deviation is floored per feature (:data:`MIN_STATE_SCALE`) and the result
    clipped (:data:`STATE_CLIP`), so a policy trained on one link still behaves on another.
    """

    def __init__(self, size: int = STATE_SIZES["paper"]) -> None:
        self.floor = MIN_STATE_SCALE[:size]
        self.count = 0
        self.mean = np.zeros(size)
        self.m2 = np.zeros(size)

    def update(self, x: np.ndarray) -> None:
        self.count += 1
        delta = x - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (x - self.mean)

    @property
    def std(self) -> np.ndarray:
        if self.count < 2:
            return np.maximum(np.ones_like(self.mean), self.floor)
        return np.maximum(np.sqrt(self.m2 / (self.count - 1)), self.floor)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.clip((x - self.mean) / self.std, -STATE_CLIP, STATE_CLIP)


class _NumpyMLP:
    """Forward/backward of a ReLU MLP on numpy views of a torch ``nn.Sequential``'s parameters."""

    def __init__(self, net: nn.Sequential) -> None:
        self.params = [(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in net if isinstance(m, nn.Linear)]

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Output for a batch (B, in) and the layer inputs needed by :meth:`backward`."""
        inputs = []
        h = x
        last = len(self.params) - 1
        for i, (w, b) in enumerate(self.params):
            inputs.append(h)
            h = h @ w.T + b
            if i < last:
                h = np.maximum(h, 0.0)
        return h, inputs

    def backward(self, grad_out: np.ndarray, inputs: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Gradients (weight, bias) per layer for dLoss/dOutput ``grad_out``."""
        grads = []
        g = grad_out
        for i in range(len(self.params) - 1, -1, -1):
            w, _ = self.params[i]
            grads.append((g.T @ inputs[i], g.sum(axis=0)))
            if i:
                g = (g @ w) * (inputs[i] > 0)
        return grads[::-1]


class _Adam:
    """torch.optim.Adam's update rule (default betas and eps) on one flat numpy parameter vector."""

    def __init__(self, flat: np.ndarray, lr: float, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        self.flat, self.lr, self.betas, self.eps = flat, lr, betas, eps
        self.m = np.zeros_like(flat)
        self.v = np.zeros_like(flat)
        self.t = 0

    def step(self, grad: np.ndarray) -> None:
        self.t += 1
        b1, b2 = self.betas
        m, v = self.m, self.v
        m *= b1
        m += (1 - b1) * grad
        v *= b2
        v += (1 - b2) * grad * grad
        denom = np.sqrt(v / (1 - b2**self.t))
        denom += self.eps
        self.flat -= (self.lr / (1 - b1**self.t)) * m / denom


def _share_one_buffer(modules: list[nn.Module]) -> np.ndarray:
    """Re-seat every parameter as a view into one flat tensor and return its numpy view,
    so that one vectorised Adam step updates all of them (and the state_dicts see it)."""
    params = [p for m in modules for p in m.parameters()]
    flat = torch.empty(sum(p.numel() for p in params))
    offset = 0
    for p in params:
        n = p.numel()
        flat[offset:offset + n] = p.data.reshape(-1)
        p.data = flat[offset:offset + n].view_as(p)
        offset += n
    return flat.numpy()


class _Transitions:
    """One stream of frames' transitions waiting for their reward or their next state, by sequence number."""

    def __init__(self) -> None:
        self.pending: dict[int, list] = {}  # seq -> [state, action, reward | None, next state | None]
        self.previous_seq: int | None = None

    def clear(self) -> None:
        self.pending.clear()
        self.previous_seq = None


class A2CPolicy(Policy):
    """The learning agent behind the one :class:`Policy` interface."""

    name = "a2c"

    def __init__(self, costs: SplitCosts, settings: AgentConfig | None = None, seed: int = 0,
                 training: bool = True) -> None:
        super().__init__(costs)
        self.settings = settings = settings or AgentConfig()
        self.training = training
        self.seed = seed
        n = len(costs.splits)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            size = STATE_SIZES[settings.state]
            self.actor = _mlp(size, n, settings.hidden, settings.layers)
            self.critic = _mlp(size, 1, settings.hidden, settings.layers)
        self._adam = _Adam(_share_one_buffer([self.actor, self.critic]), settings.lr)
        self._actor = _NumpyMLP(self.actor)
        self._critic = _NumpyMLP(self.critic)
        self.normaliser = RunningNormaliser(size)
        self.buffer: deque[tuple[np.ndarray, int, float, np.ndarray]] = deque(maxlen=settings.buffer_size)
        self._own = _Transitions()
        self._streams: list[A2CStream] = []
        self._completed = 0
        self.updates = 0
        self._rng = random.Random(seed)

    # -------------------------------------------------------------- deciding
    def probabilities(self, state_vector: np.ndarray) -> np.ndarray:
        """Softmax action probabilities for a normalised state (numpy forward, no autograd)."""
        h = state_vector
        params = self._actor.params
        for w, b in params[:-1]:
            h = w @ h
            h += b
            np.maximum(h, 0.0, out=h)
        w, b = params[-1]
        h = w @ h
        h += b
        h -= h.max()
        np.exp(h, out=h)
        h /= h.sum()
        return h

    def features(self, state: ObservedState) -> np.ndarray:
        """The un-normalised input vector for ``state`` (``agent.state``: the paper's 5 values, extended or edge)."""
        vector = state.features(self.settings.state)
        return np.asarray(vector, dtype=np.float64)

    def decide(self, state: ObservedState) -> str:
        return self._decide(state, self._own)

    def _decide(self, state: ObservedState, transitions: _Transitions) -> str:
        raw = self.features(state)
        if self.training:
            self.normaliser.update(raw)
        s = self.normaliser(raw).astype(np.float32)
        probs = self.probabilities(s)
        if self.training:
            action = min(int(np.searchsorted(np.cumsum(probs), self._rng.random())), len(probs) - 1)
            previous = transitions.previous_seq
            if previous is not None and previous in transitions.pending:
                transitions.pending[previous][3] = s
                self._try_complete(transitions, previous)
            transitions.pending[state.seq] = [s, action, None, None]
            transitions.previous_seq = state.seq
        else:
            action = int(np.argmax(probs))
        self.last_probabilities = tuple(probs.tolist())
        return self.costs.splits[action]

    def stream(self) -> A2CStream:
        """Another device deciding with this learner: same network and learning, its own transitions."""
        stream = A2CStream(self)
        self._streams.append(stream)
        return stream

    # -------------------------------------------------------------- learning
    def observe(self, outcome: FrameOutcome) -> None:
        self._observe(outcome, self._own)

    def _observe(self, outcome: FrameOutcome, transitions: _Transitions) -> None:
        if not self.training:
            return
        entry = transitions.pending.get(outcome.seq)
        if entry is not None:
            entry[2] = outcome.reward
            self._try_complete(transitions, outcome.seq)

    def _try_complete(self, transitions: _Transitions, seq: int) -> None:
        s, a, r, s_next = transitions.pending[seq]
        if r is None or s_next is None:
            return
        del transitions.pending[seq]
        self.buffer.append((s, a, r, s_next))
        self._completed += 1
        if self._completed % self.settings.update_every == 0 and len(self.buffer) >= self.settings.batch:
            batch = self._rng.sample(range(len(self.buffer)), self.settings.batch)
            s_b, a_b, r_b, next_b = zip(*(self.buffer[i] for i in batch))
            self.update(np.stack(s_b), np.asarray(a_b), np.asarray(r_b, dtype=np.float32), np.stack(next_b))

    def end_episode(self) -> None:
        """Queues are reset between episodes: drop transitions that cannot complete (every stream's)."""
        for transitions in (self._own, *(stream.transitions for stream in self._streams)):
            transitions.clear()

    def losses_and_gradients(self, s: np.ndarray, a: np.ndarray, r: np.ndarray, s_next: np.ndarray):
        """The paper's losses on one batch and their gradient as one flat vector (actor then critic
        parameters, in ``parameters()`` order).

        critic: mean((v(s) - (r + gamma v(s')))^2), target held fixed;
        actor: -sum(log pi(a|s) * delta) - entropy_coef * mean entropy, delta held fixed.
        """
        st = self.settings
        value, critic_inputs = self._critic.forward(s)
        value = value[:, 0]
        target = r + st.gamma * self._critic.forward(s_next)[0][:, 0]
        delta = target - value
        critic_loss = float(np.mean(delta**2))
        critic_grad = (-2.0 / len(s)) * delta
        advantage = delta
        if st.normalize_advantage and len(s) > 1:
            advantage = (delta - delta.mean()) / (delta.std(ddof=1) + 1e-8)
        logits, actor_inputs = self._actor.forward(s)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_pi = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        pi = np.exp(log_pi)
        rows = np.arange(len(s))
        entropy = -(pi * log_pi).sum(axis=1)
        actor_loss = float(-(log_pi[rows, a] * advantage).sum())
        grad_logits = pi * advantage[:, None]
        grad_logits[rows, a] -= advantage
        if st.entropy_coef:
            grad_logits += (st.entropy_coef / len(s)) * pi * (log_pi + entropy[:, None])
        grads = self._actor.backward(grad_logits, actor_inputs)
        grads += self._critic.backward(critic_grad[:, None], critic_inputs)
        losses = {"actor_loss": actor_loss, "critic_loss": critic_loss, "entropy": float(entropy.mean())}
        return losses, np.concatenate([g.reshape(-1) for layer in grads for g in layer])

    def update(self, s: np.ndarray, a: np.ndarray, r: np.ndarray, s_next: np.ndarray) -> dict[str, float]:
        """One actor-critic step (Adam) on a batch of transitions."""
        losses, grads = self.losses_and_gradients(s, a, r, s_next)
        self._adam.step(grads)
        self.updates += 1
        return losses

    # -------------------------------------------------------------- files
    def save(self, path: str | Path) -> Path:
        """Weights, state normalisation, settings and the model/codec/candidate set, loadable with
        ``torch.load(weights_only=True)`` (no pickled code). Written to a temporary file and renamed, so that
        a reader (or a checkpoint interrupted by a stop) never sees half a file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        torch.save({
            "format": POLICY_FORMAT,
            "kind": self.name,
            "model": self.costs.model,
            "codec": self.costs.codec,
            "frame_codec": self.costs.frame_codec or "",
            "splits": list(self.costs.splits),
            "settings": {name: getattr(self.settings, name) for name in A2C_FIELDS},
            "seed": self.seed,
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "norm_count": self.normaliser.count,
            "norm_mean": torch.from_numpy(self.normaliser.mean.copy()),
            "norm_m2": torch.from_numpy(self.normaliser.m2.copy()),
        }, partial)
        os.replace(partial, path)
        return path

    @classmethod
    def load(cls, path: str | Path, costs: SplitCosts, training: bool = False) -> A2CPolicy:
        """Load a policy file for ``costs`` (same model, codec and candidate splits, else ValueError)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"policy file {path} does not exist")
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises UnpicklingError/RuntimeError variants for foreign files
            raise ValueError(f"{path}: not a safe policy file ({type(exc).__name__}: {exc})") from None
        if not isinstance(data, dict) or data.get("format") != POLICY_FORMAT or data.get("kind") != cls.name:
            raise ValueError(f"{path}: not an a2c policy file of format {POLICY_FORMAT}")
        mine = (costs.model, costs.codec_plan, list(costs.splits))
        frame_codec = data.get("frame_codec") or None  # absent in files written before frame codecs existed
        theirs = (data["model"], codec_plan(data["codec"], frame_codec), data["splits"])
        if mine != theirs:
            raise ValueError(f"{path}: policy is for model {theirs[0]!r}, codec {theirs[1]!r}, splits {theirs[2]}; "
                             f"this run has model {mine[0]!r}, codec {mine[1]!r}, splits {mine[2]} "
                             "(codec.frame_encoding must match the training's too)")
        recorded = {"state": "paper", **data["settings"]}  # files from before agent.state had the paper's state
        settings = AgentConfig(**{k: v for k, v in recorded.items() if k in A2C_FIELDS})
        policy = cls(costs, settings, seed=int(data["seed"]), training=training)
        inputs = data["norm_mean"].numel()
        if inputs != STATE_SIZES[settings.state]:
            raise ValueError(f"{path}: trained on a {settings.state!r} state of {inputs} inputs; this version's has "
                             f"{STATE_SIZES[settings.state]} (train it again: `scissor train`)")
        policy.actor.load_state_dict(data["actor"])
        policy.critic.load_state_dict(data["critic"])
        policy.normaliser.count = int(data["norm_count"])
        policy.normaliser.mean = data["norm_mean"].numpy().astype(np.float64)
        policy.normaliser.m2 = data["norm_m2"].numpy().astype(np.float64)
        return policy


class A2CStream(Policy):
    """One more device of an :class:`A2CPolicy` (:meth:`A2CPolicy.stream`): decides and learns with that
    learner, keeping its own frames' transitions apart."""

    def __init__(self, learner: A2CPolicy) -> None:
        super().__init__(learner.costs)
        self.learner = learner
        self.name = learner.name
        self.transitions = _Transitions()

    def decide(self, state: ObservedState) -> str:
        split = self.learner._decide(state, self.transitions)
        self.last_probabilities = self.learner.last_probabilities
        return split

    def observe(self, outcome: FrameOutcome) -> None:
        self.learner._observe(outcome, self.transitions)
