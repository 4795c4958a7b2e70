"""The A2C learner: hand-written gradients and Adam match torch, policy files are safe, it learns."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from scissor_core.config import AgentConfig, ScissorConfig, use_paper_agent
from scissor_core.policies.a2c import A2CPolicy
from scissor_core.runtime.costs import SplitCosts
from scissor_core.runtime.queues import ObservedState
from scissor_core.simulation.simulator import Simulator

COSTS = SplitCosts(model="alexnet", codec="raw", splits=("0", "conv5", "last"),
                   local=(0.0, 0.02, 0.4), edge=(0.03, 0.01, 0.0), nbytes=(600_000, 37_000, 0))


def batch(policy: A2CPolicy, n: int = 5, seed: int = 0):
    """A random batch of transitions with the policy's state width."""
    width = policy.actor[0].in_features
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(n, width)).astype(np.float32)
    s_next = rng.normal(size=(n, width)).astype(np.float32)
    return s, rng.integers(0, 3, n), rng.normal(size=n).astype(np.float32), s_next


def torch_reference_grads(policy: A2CPolicy, s, a, r, s_next) -> np.ndarray:
    """The paper's losses written with autograd, on the same networks."""
    st = policy.settings
    for p in [*policy.actor.parameters(), *policy.critic.parameters()]:
        p.grad = None
    s_t, next_t = torch.from_numpy(s), torch.from_numpy(s_next)
    value = policy.critic(s_t).squeeze(1)
    target = torch.from_numpy(r) + st.gamma * policy.critic(next_t).squeeze(1).detach()
    delta = (target - value).detach()
    if st.normalize_advantage:
        delta = (delta - delta.mean()) / (delta.std() + 1e-8)
    log_pi = torch.log_softmax(policy.actor(s_t), dim=1)
    entropy = -(log_pi.exp() * log_pi).sum(1).mean()
    actor_loss = -(log_pi.gather(1, torch.from_numpy(a)[:, None]).squeeze(1) * delta).sum()
    loss = actor_loss + torch.nn.functional.mse_loss(value, target) - st.entropy_coef * entropy
    loss.backward()
    return torch.cat([p.grad.reshape(-1) for p in [*policy.actor.parameters(), *policy.critic.parameters()]]).numpy()


@pytest.mark.parametrize("settings", [use_paper_agent(AgentConfig()), AgentConfig(), AgentConfig(state="paper")])
def test_numpy_gradients_equal_autograd(settings):
    policy = A2CPolicy(COSTS, settings, seed=3)
    s, a, r, s_next = batch(policy)
    _, ours = policy.losses_and_gradients(s, a, r, s_next)
    np.testing.assert_allclose(ours, torch_reference_grads(policy, s, a, r, s_next), rtol=1e-4, atol=1e-6)


def test_update_equals_torch_adam_steps():
    ours = A2CPolicy(COSTS, seed=1)
    reference = A2CPolicy(COSTS, seed=1)
    params = [*reference.actor.parameters(), *reference.critic.parameters()]
    optimizer = torch.optim.Adam(params, lr=ours.settings.lr)
    for step in range(3):
        s, a, r, s_next = batch(ours, seed=step)
        ours.update(s, a, r, s_next)
        torch_reference_grads(reference, s, a, r, s_next)
        optimizer.step()
    for mine, theirs in zip(ours.actor.state_dict().values(), reference.actor.state_dict().values(), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)


def test_policy_file_round_trip_and_refusals(tmp_path):
    policy = A2CPolicy(COSTS, seed=2)
    sim = Simulator(policy, _constant_link(), timeout=0.5, interval=0.15)
    sim.run(50)
    path = policy.save(tmp_path / "p.pt")
    loaded = A2CPolicy.load(path, COSTS)
    assert not loaded.training
    state = sim.queues.observe(0.0, 0, 5e6)
    x = loaded.normaliser(loaded.features(state)).astype(np.float32)
    np.testing.assert_array_equal(loaded.probabilities(x), policy.probabilities(x))
    other = SplitCosts("resnet18", "raw", ("0", "last"), (0.0, 0.1), (0.1, 0.0), (1, 0))
    with pytest.raises(ValueError, match="policy is for model 'alexnet'"):
        A2CPolicy.load(path, other)
    with pytest.raises(FileNotFoundError):
        A2CPolicy.load(tmp_path / "absent.pt", COSTS)


def test_policy_file_records_the_frame_codec(tmp_path):
    """A policy trained with JPEG frames at split 0 loads only where split 0 sends JPEG too."""
    with_jpeg = SplitCosts(*(getattr(COSTS, f) for f in ("model", "codec", "splits", "local", "edge", "nbytes")),
                           frame_codec="jpeg-q90")
    path = A2CPolicy(with_jpeg, seed=1).save(tmp_path / "jpeg.pt")
    assert A2CPolicy.load(path, with_jpeg).costs.codec_plan == "raw, frame jpeg-q90"
    with pytest.raises(ValueError, match="codec 'raw, frame jpeg-q90'.*frame_encoding"):
        A2CPolicy.load(path, COSTS)
    with pytest.raises(ValueError, match="codec 'raw'"):
        A2CPolicy.load(A2CPolicy(COSTS, seed=1).save(tmp_path / "raw.pt"), with_jpeg)


class _Payload:
    """A pickle that would run code when loaded without weights_only."""

    def __reduce__(self):
        return (exec, ("open('PWNED_PATH', 'w').write('ran')",))


def test_crafted_pickle_is_refused_and_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = pickle.dumps(_Payload()).replace(b"PWNED_PATH", str(marker).encode())
    path.write_bytes(payload)
    with pytest.raises(ValueError, match="not a safe policy file"):
        A2CPolicy.load(path, COSTS)
    assert not marker.exists()


def _constant_link():
    from scissor_core.runtime.traces import parse_trace

    return parse_trace("const:5MB")


def test_learns_the_clearly_best_split():
    """conv5 is cheap on both sides and small; 0 sends 0.6 MB per frame; last overloads the device."""
    config = ScissorConfig()
    config.model.name = "alexnet"
    policy = A2CPolicy(COSTS, AgentConfig(), seed=0)
    sim = Simulator.from_config(config, policy)
    for episode in range(40):
        sim.run(300, seed=episode)
        policy.end_episode()
    policy.training = False
    outcomes = sim.run(300)
    chosen = [o.split for o in outcomes]
    assert chosen.count("conv5") / len(chosen) > 0.9, {s: chosen.count(s) for s in COSTS.splits}


def test_normaliser_floors_constant_features_and_clips():
    from scissor_core.policies.a2c import STATE_CLIP, RunningNormaliser

    norm = RunningNormaliser()
    for k in range(10):
        norm.update(np.array([float(k % 3), 0.0, 5.0, 0.5, 1.0]))  # b_hat never varies
    assert norm.std[2] == pytest.approx(0.1)  # floored in MB/s, not ~0
    x = norm(np.array([1.0, 0.0, 1.0, 0.5, 1.0]))  # the link dropped to 1 MB/s at serving time
    assert np.all(np.abs(x) <= STATE_CLIP) and x[2] == -STATE_CLIP


def test_a_file_whose_inputs_do_not_match_its_state_is_refused_by_name(tmp_path):
    path = A2CPolicy(COSTS, AgentConfig(state="edge"), seed=0).save(tmp_path / "seven.pt")
    data = torch.load(path, weights_only=True)
    data["norm_mean"] = data["norm_mean"][:7]
    torch.save(data, path)
    with pytest.raises(ValueError, match=r"seven.pt: trained on a 'edge' state of 7 inputs; this version's has 9"):
        A2CPolicy.load(path, COSTS)


def test_extended_state_adds_the_work_in_service_and_old_files_load_with_the_paper_state(tmp_path):
    state = ObservedState(7, 1.0, 0, 0, 5e6, 0.0, 0.0, 0.12, 250_000, 0.0, 2, 0.9)
    assert state.extended_vector() == (*state.vector(), 0.12, 0.25)  # busy device, idle queues
    assert state.edge_vector() == (*state.extended_vector(), 2.0, 0.9)
    extended = A2CPolicy(COSTS, AgentConfig(state="extended"), seed=0)
    assert extended.actor[0].in_features == 7 and extended.features(state).shape == (7,)
    edge = A2CPolicy(COSTS, AgentConfig(state="edge"), seed=0)
    assert edge.actor[0].in_features == 9 and edge.features(state).shape == (9,)
    path = A2CPolicy(COSTS, use_paper_agent(AgentConfig()), seed=0).save(tmp_path / "paper.pt")
    data = torch.load(path, weights_only=True)
    del data["settings"]["state"]  # a file written before agent.state existed
    torch.save(data, path)
    loaded = A2CPolicy.load(path, COSTS)
    assert loaded.settings.state == "paper" and loaded.features(state).shape == (5,)
    assert "paper learner settings" in use_paper_agent(AgentConfig()).describe()
    assert "scissor learner settings" in AgentConfig().describe()
