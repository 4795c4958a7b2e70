"""Build the policy a live node serves (the agent's, or the device's fallback) from the config."""
from __future__ import annotations

from pathlib import Path

from scissor_core.config import CONFIG_DIR, ScissorConfig
from scissor_core.policies import make_policy
from scissor_core.policies.a2c import A2CPolicy
from scissor_core.runtime.costs import ModelProfile, SplitCosts
from scissor_core.runtime.policy import Policy
from scissor_core.wire.codec import codec_labels

A2C = "a2c"


def default_profile_path(config: ScissorConfig, model: str) -> Path:
    """``device.profile``, or the profile shipped for ``model`` in config/profiles/."""
    if config.device.profile:
        return config.resolve_path(config.device.profile)
    return CONFIG_DIR / "profiles" / f"{model}.json"


def default_policy_path(config: ScissorConfig, model: str) -> Path:
    """``agent.policy_file``, or the policy shipped for ``model`` in config/policies/: ``MODEL.pt`` over its
    splits, ``MODEL-codec.pt`` over the (split, codec) options of ``codec.min_map`` (trained at the shipped
    table and floor; loading refuses a policy whose options differ from the config's)."""
    if config.agent.policy_file:
        return config.resolve_path(config.agent.policy_file)
    return CONFIG_DIR / "policies" / (f"{model}-codec.pt" if config.codec.min_map is not None else f"{model}.pt")


def serve_policy(config: ScissorConfig, profile: ModelProfile, name: str, training: bool = False) -> Policy:
    """``a2c`` loads the trained policy file (refused if it is for another model, codec or split set);
    any other name is a baseline built over the profile."""
    if name == A2C:
        return A2CPolicy.load(default_policy_path(config, profile.model), SplitCosts.for_config(profile, config.codec),
                              training=training)
    tensor_codec, frame_codec = codec_labels(config.codec)
    return make_policy(name, profile, codec=tensor_codec, frame_codec=frame_codec, w=config.reward.w,
                       frame_interval=config.camera.interval_for(profile.model),
                       costs=SplitCosts.for_config(profile, config.codec))
