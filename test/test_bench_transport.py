"""scissor bench transport: the table, and (slow) one real small run of every role."""
from __future__ import annotations

import os
import shutil

import pytest

from scissor_bringup.bench_transport import Measurement, Plan, format_table, run


def test_format_table_ratios_and_best():
    rows = [Measurement("tcp", 1_000_000, 0.001), Measurement("tcp", 4_000_000, 0.002),
            Measurement("DEFAULT/message", 1_000_000, 0.01), Measurement("DEFAULT/message", 4_000_000, 0.04),
            Measurement("profile/raw-sub", 1_000_000, 0.004), Measurement("profile/raw-sub", 4_000_000, 0.004)]
    table = format_table(rows)
    assert "| 1 | 1,000 | 100 (0.10x) | 250 (0.25x) |" in table
    assert "| 4 | 2,000 | 100 (0.05x) | 1,000 (0.50x) |" in table
    assert "best DDS configuration: profile/raw-sub (ratio to TCP: 1 MB 0.25x, 4 MB 0.50x)" in table


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_real_run_every_mode():
    from scissor_core.config import ScissorConfig

    config = ScissorConfig()
    plan = Plan((100_000, 1_000_000), warmup=1, repeats=2, timeout=60, malloc_reuse_bytes=64 << 20)
    results = run(plan, ["profile"], ["message", "raw-sub", "serialized"],
                  str(config.resolve_path(config.ros.fastdds_profile)), progress=False)
    assert {m.config for m in results} == {"tcp", "profile/message", "profile/raw-sub", "profile/serialized"}
    assert all(m.mb_per_s > 0 for m in results)


@pytest.mark.timeout(180)
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("tc") is None,
                    reason="network namespaces and tc need root and iproute2")
def test_a_real_run_between_two_network_namespaces():
    """Both pairs as two hosts: TCP between the namespaces' addresses and DDS with the two-host profile,
    over a tc-shaped veth (a 1 MB message at 20 MB/s cannot cross faster than the link lets it)."""
    from scissor_bringup.bench_transport import Hosts
    from scissor_bringup.netns import NetnsLink, list_namespaces

    link = NetnsLink(os.getpid())
    link.create()
    try:
        link.set_rate(20e6)
        plan = Plan((1_000_000,), warmup=1, repeats=2, timeout=60, malloc_reuse_bytes=0)
        results = run(plan, ["ignored"], ["raw-sub"], None, progress=False, hosts=Hosts(link))
    finally:
        link.destroy()
    assert {m.config for m in results} == {"tcp", "netns-udp/raw-sub"}
    assert all(0 < m.mb_per_s <= 20 * 1.2 for m in results), results  # the link's rate bounds both
    assert not [ns for ns in list_namespaces() if ns.endswith(f"-{os.getpid()}")]
