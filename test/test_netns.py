"""The real shaped link: edge in its own network namespace behind a tc-shaped veth (root only)."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from scissor_bringup.netns import Impairment, NetnsLink, Outages, cleanup_stale, list_namespaces
from scissor_core.runtime.device import EDGE_AWAY_POLICY
from scissor_bringup.testbed_run import run_testbed

from conftest import write_config

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("tc") is None,
                                reason="network namespaces and tc need root and iproute2")


def dead_pid() -> int:
    pid = 4_000_000
    while os.path.exists(f"/proc/{pid}"):
        pid += 1
    return pid


def test_cleanup_removes_only_namespaces_of_finished_scissor_runs():
    stale, other = NetnsLink(dead_pid()), "scissor-test-not-ours"
    stale.create()
    subprocess.run(["ip", "netns", "add", other], check=True)
    try:
        removed = cleanup_stale()
        assert set(stale.namespaces.values()) <= set(removed)
        left = set(list_namespaces())
        assert other in left and not set(stale.namespaces.values()) & left
        assert cleanup_stale() == []  # idempotent
    finally:
        subprocess.run(["ip", "netns", "del", other], capture_output=True)
        stale.destroy()


@pytest.mark.timeout(300)
def test_testbed_over_a_tc_shaped_veth_link(tmp_path, domain):  # noqa: F811
    config_file = write_config(tmp_path, camera={"interval": 0.4, "wait_for_subscribers": 1},
                               agent={"policy": "fixed:conv2"}, link={"trace": "const:1MB"})
    run = run_testbed(config_file, 150, tmp_path / "run", max_frames=10, stop_after_outcomes=10, netns=True)
    assert [o.seq for o in run.outcomes] == list(range(10)), run.summary
    assert all(o.completed and o.split == "conv2" for o in run.outcomes), run.summary
    assert "qdisc tbf" in run.summary and "rate 8Mbit" in run.summary
    sent = int(run.summary.split(" Sent ")[1].split()[0])
    assert sent >= sum(o.bytes_sent for o in run.outcomes)  # the feature maps crossed the shaped link
    assert not [ns for ns in list_namespaces() if ns.endswith(f"-{os.getpid()}")]  # cleaned up


@pytest.mark.timeout(300)
def test_a_lossy_link_delivers_every_frame(tmp_path, domain):
    """5% of the device's packets dropped by the kernel: with the UDP profile (datagrams below the MTU,
    frequent heartbeats) every frame's feature maps still arrive, receipted, and complete."""
    config_file = write_config(tmp_path, camera={"interval": 0.4, "wait_for_subscribers": 1},
                               agent={"policy": "fixed:conv2"}, link={"trace": "const:2MB"},
                               device={"edge_timeout": 30.0})
    run = run_testbed(config_file, 200, tmp_path / "run", max_frames=15, stop_after_outcomes=15, netns=True,
                      impairment=Impairment(loss=0.05))
    assert [o.seq for o in run.outcomes] == list(range(15)), run.summary
    assert all(o.completed and o.split == "conv2" for o in run.outcomes), run.summary
    assert "loss 5%" in run.summary and "0 outages" in run.summary


@pytest.mark.timeout(300)
def test_an_outage_sends_frames_device_only_and_offloading_resumes(tmp_path, domain):
    """The link down for 8 s: the edge leaves the device's graph (its lease, 4 s), frames run device-only
    meanwhile, and once the link is back the edge returns and frames are offloaded again; every frame read
    has one outcome and no node fails."""
    config_file = write_config(tmp_path, camera={"interval": 0.3, "wait_for_subscribers": 1},
                               agent={"policy": "fixed:conv2"}, link={"trace": "const:2MB"})
    run = run_testbed(config_file, 240, tmp_path / "run", max_frames=90, stop_after_outcomes=90, netns=True,
                      outages=Outages(duration=8.0, every=1000.0, first=3.0))
    assert all(code in (0, -2) for code in run.exit_codes.values()), run.summary
    assert sorted(o.seq for o in run.outcomes) == list(range(90)), run.summary
    away = [o.seq for o in run.outcomes if o.policy == EDGE_AWAY_POLICY]
    assert away and all(o.completed and o.split == "last" for o in run.outcomes if o.policy == EDGE_AWAY_POLICY)
    assert any(o.completed and o.split == "conv2" for o in run.outcomes if o.seq > max(away)), run.summary
    assert "1 outages" in run.summary


@pytest.mark.timeout(400)
def test_bench_link_measures_a_real_link_against_its_trace(tmp_path, domain):  # noqa: F811
    """scissor bench link on one case over tc and its app-shaper twin: every frame read has an outcome, the
    table and CSV hold both runs, and the device's b_hat (replayed from its outcomes) never believes the
    link faster than tc lets it be (it once read ~14x a 1 MB/s link)."""
    from scissor_bringup.bench_link import bench_link, plan

    config_file = write_config(tmp_path, camera={"seed": 3})
    cases = plan(config_file, ["alexnet"], ["conv2"], ["const:2MB"], [0.5], seconds=1.5)
    assert [c.shaper for c in cases] == ["tc", "app"] and cases[0].interval == pytest.approx(129_857 / 1e6, rel=0.05)
    assert [c.frames for c in cases] == [12, 12]
    text, rows = bench_link(config_file, cases, tmp_path / "bench", progress=False)
    assert [len(r.outcomes) for r in rows] == [12, 12], text
    tc = rows[0]
    assert tc.estimates and all(e.b_hat <= 1.25 * e.rate for e in tc.estimates[5:]), tc.estimates
    assert "app shaper vs tc, alexnet conv2 on const:2MB" in text and "median error <= 10%" in text
    assert (tmp_path / "bench" / "bench-link.csv").read_text().count("\n") == 3
