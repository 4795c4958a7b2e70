"""`scissor bench transport`: FeatureMap throughput device -> edge over DDS against raw TCP.

Each configuration runs in two fresh processes on loopback (an edge that
receives and acknowledges, a device that sends and times), ping-pong style: the
device builds and publishes one FeatureMap of the given size, the edge gets its
payload as a numpy array and answers with a small FeatureMap; the time from
building the message to the answer is one transfer. A TCP sender/receiver pair
does the same (8-byte length, payload, 8-byte answer; the receiver allocates a
fresh buffer per message, as a DDS reader does) in the same run, so the ratio
DDS / TCP compares like with like. Every process gets the same allocator set-up
as the nodes (``ros.malloc_reuse_bytes``). Configurations:

- transports: ``DEFAULT`` (Fast DDS defaults: shared memory with 512 KB segments +
  UDP), any other ``FASTDDS_BUILTIN_TRANSPORTS`` value such as ``LARGE_DATA`` (shared
  memory + TCP, UDP for discovery only), or ``profile``: the XML profile of
  ``ros.fastdds_profile`` (shared memory with a 64 MB segment + UDP);
- modes: ``message``, rclpy messages both ways (uint8[] assigned an ``array.array``
  by reference; rclpy converts the received payload into an ``array.array``, three
  copies); ``raw-sub``, the same publisher, but the edge takes a raw subscription
  and reads the payload as a numpy view of the received bytes (rosbags), as
  edge_node does; ``serialized``, as ``raw-sub`` with the device serializing with
  rosbags and publishing the bytes.

With ``--netns`` both pairs run as two hosts instead: the edge processes in one network namespace, the
device processes in another, joined by a veth pair (:class:`scissor_bringup.netns.NetnsLink`, unshaped
unless a rate is given), TCP between their addresses and DDS on UDPv4 with the two-host profile
(``config/fastdds_udp_profile.xml``, transport ``netns-udp``), as ``scissor testbed --netns`` runs nodes.

Payload sealing (``link.key_file``, :mod:`scissor_core.wire.sealing`) is measured on its own
in this process (:func:`measure_sealing`: seal on the device + open on the edge, median
of several runs per size) and set against the transfer times of the same sizes.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from scissor_bringup.netns import NetnsLink

MODES = ("message", "raw-sub", "serialized")
PROFILE = "profile"
DEFAULT_TRANSPORTS = ("DEFAULT", "LARGE_DATA", PROFILE)
DEFAULT_SIZES_MB = (0.1, 1.0, 4.0, 20.0)
_MB = 1e6
_LENGTH = struct.Struct("<Q")
_STOP = 2**64 - 1  # seq / length that ends a run


@dataclass(frozen=True)
class Measurement:
    """Median transfer time of one message size over one configuration."""

    config: str
    size: int
    median_s: float

    @property
    def mb_per_s(self) -> float:
        return self.size / self.median_s / _MB


@dataclass(frozen=True)
class Plan:
    """What every configuration sends."""

    sizes: tuple[int, ...]
    warmup: int
    repeats: int
    timeout: float
    """Bound on one configuration (s)."""
    malloc_reuse_bytes: int

    def args(self) -> list[str]:
        return ["--sizes", ",".join(map(str, self.sizes)), "--warmup", str(self.warmup), "--repeats",
                str(self.repeats), "--timeout", str(self.timeout), "--malloc-reuse", str(self.malloc_reuse_bytes)]


def _payloads(sizes: Sequence[int]) -> dict[int, np.ndarray]:
    return {size: np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8) for size in sizes}


def _timed(plan: Plan, transfer: Callable[[int, np.ndarray], None]) -> dict[int, list[float]]:
    """Median-ready times of ``transfer(size, payload)`` per size, after the warm-up."""
    times: dict[int, list[float]] = {}
    for size, payload in _payloads(plan.sizes).items():
        times[size] = []
        for i in range(plan.warmup + plan.repeats):
            start = time.perf_counter()
            transfer(size, payload)
            if i >= plan.warmup:
                times[size].append(time.perf_counter() - start)
    return times


# ----------------------------------------------------------------------------- DDS roles


def _dds_edge(topic: str, mode: str, timeout: float) -> int:
    """Receive FeatureMaps, view the payload as numpy, answer each with its seq."""
    import rclpy

    from scissor_msgs.msg import FeatureMap
    from scissor_ros import cdr
    from scissor_ros.topics import qos

    rclpy.init()
    node = rclpy.create_node("bench_transport_edge")
    ack = node.create_publisher(FeatureMap, f"{topic}/ack", qos("reliable"))
    done = []

    def answer(seq: int, payload: np.ndarray, expected: int) -> None:
        if payload.size != expected:
            raise RuntimeError(f"seq {seq}: payload of {payload.size} bytes, header says {expected}")
        ack.publish(FeatureMap(seq=seq))
        if seq == _STOP:
            done.append(True)

    if mode == "message":
        def on_message(msg: FeatureMap) -> None:
            answer(msg.seq, np.frombuffer(msg.payload, np.uint8), msg.payload_bytes)
        node.create_subscription(FeatureMap, topic, on_message, qos("reliable"))
    else:
        def on_raw(raw: bytes) -> None:
            msg = cdr.deserialize(raw, cdr.FEATURE_MAP)
            answer(msg.seq, msg.payload, msg.payload_bytes)
        node.create_subscription(FeatureMap, topic, on_raw, qos("reliable"), raw=True)
    print(json.dumps({"ready": True}), flush=True)
    deadline = time.monotonic() + timeout
    try:
        while not done and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
        time.sleep(0.2)  # let the last answer leave before the participant goes away
    finally:
        node.destroy_node()
        rclpy.shutdown()
    return 0 if done else 2


def _dds_device(topic: str, mode: str, plan: Plan) -> int:
    """Send FeatureMaps ping-pong style; print the times per size as one JSON line."""
    import rclpy

    from scissor_msgs.msg import FeatureMap
    from scissor_ros import cdr
    from scissor_ros.messages import uint8_array
    from scissor_ros.topics import qos

    rclpy.init()
    node = rclpy.create_node("bench_transport_device")
    pub = node.create_publisher(FeatureMap, topic, qos("reliable"))
    answered: set[int] = set()
    node.create_subscription(FeatureMap, f"{topic}/ack", lambda m: answered.add(m.seq), qos("reliable"))
    deadline = time.monotonic() + plan.timeout
    seqs = iter(range(_STOP))

    def send(seq: int, payload: np.ndarray) -> None:
        if mode == "serialized":
            msg = cdr.message(cdr.FEATURE_MAP, seq=seq, payload=payload, payload_bytes=payload.size)
            pub.publish(cdr.serialize(msg, cdr.FEATURE_MAP))
        else:
            msg = FeatureMap(check_fields=True)  # stores the array.array by reference
            msg.seq, msg.payload, msg.payload_bytes = seq, uint8_array(payload), payload.size
            pub.publish(msg)
        while seq not in answered:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer to seq {seq}")
            rclpy.spin_once(node, timeout_sec=0.01)

    try:
        while pub.get_subscription_count() < 1 or node.count_publishers(f"{topic}/ack") < 1:
            if time.monotonic() > deadline:
                raise TimeoutError("the edge did not match")
            rclpy.spin_once(node, timeout_sec=0.05)
        time.sleep(0.5)  # discovery of the answer path completes both ways
        times = _timed(plan, lambda size, payload: send(next(seqs), payload))
        print(json.dumps(times), flush=True)
        send(_STOP, np.empty(0, np.uint8))
    finally:
        node.destroy_node()
        rclpy.shutdown()
    return 0


# ----------------------------------------------------------------------------- TCP roles


def _recv_exact(sock: socket.socket, size: int) -> bytearray:
    buf = bytearray(size)
    view, got = memoryview(buf), 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            raise ConnectionError("peer closed the connection")
        got += n
    return buf


def _tcp_edge(timeout: float, bind: str) -> int:
    """Accept one connection; receive length-prefixed messages, answer each with its length."""
    with socket.create_server((bind, 0)) as server:
        server.settimeout(timeout)
        print(json.dumps({"port": server.getsockname()[1]}), flush=True)
        conn, _ = server.accept()
        with conn:
            conn.settimeout(timeout)
            while True:
                (size,) = _LENGTH.unpack(_recv_exact(conn, _LENGTH.size))
                if size == _STOP:
                    return 0
                payload = np.frombuffer(_recv_exact(conn, size), np.uint8)
                conn.sendall(_LENGTH.pack(payload.size))


def _tcp_device(host: str, port: int, plan: Plan) -> int:
    """Send length-prefixed messages ping-pong style; print the times per size as one JSON line."""
    with socket.create_connection((host, port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def send(size: int, payload: np.ndarray) -> None:
            sock.sendall(_LENGTH.pack(size))
            sock.sendall(memoryview(payload))
            (echo,) = _LENGTH.unpack(_recv_exact(sock, _LENGTH.size))
            if echo != size:
                raise RuntimeError(f"TCP answer {echo} for a {size}-byte message")

        times = _timed(plan, send)
        sock.sendall(_LENGTH.pack(_STOP))
    print(json.dumps(times), flush=True)
    return 0


# ----------------------------------------------------------------------------- driver


@dataclass(frozen=True)
class Hosts:
    """Where the two processes of a pair run: this machine's loopback, or two network namespaces."""

    link: NetnsLink | None = None

    def prefix(self, side: str) -> list[str]:
        return self.link.prefix(side) if self.link else []

    def address(self, side: str) -> str:
        return self.link.addresses[side] if self.link else "127.0.0.1"

    def dds_env(self, side: str, transport: str, domain_id: int, profile: str | None) -> dict[str, str]:
        """The environment of a DDS process: the transport's on loopback, the two-host one in namespaces."""
        if self.link is None:
            return _ros_env(transport, domain_id, profile)
        env = _ros_env("DEFAULT", domain_id, None)
        env.update(self.link.env(side))
        return env


LOOPBACK = Hosts()
NETNS_TRANSPORT = "netns-udp"
"""The DDS configuration of ``--netns``: the two-host nodes' UDPv4 profile."""


def _spawn(args: list[str], env: dict[str, str], prefix: Sequence[str] = ()) -> subprocess.Popen:
    return subprocess.Popen([*prefix, sys.executable, "-m", "scissor_bringup.bench_transport", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _ros_env(transport: str, domain_id: int, profile: str | None) -> dict[str, str]:
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               PYTHONUNBUFFERED="1")
    for var in ("ROS_LOCALHOST_ONLY", "FASTDDS_BUILTIN_TRANSPORTS", "FASTDDS_DEFAULT_PROFILES_FILE"):
        env.pop(var, None)
    if transport == PROFILE:
        if profile is None:
            raise ValueError("transport 'profile' needs ros.fastdds_profile in the config")
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = profile
    elif transport != "DEFAULT":
        env["FASTDDS_BUILTIN_TRANSPORTS"] = transport
    return env


def _role(proc: subprocess.Popen) -> str:
    return " ".join(proc.args[proc.args.index("--role"):][:2])


def _first_line(proc: subprocess.Popen) -> dict:
    line = proc.stdout.readline() if proc.stdout else ""
    if not line:
        proc.wait(timeout=10)
        raise RuntimeError(f"{_role(proc)} exited with {proc.returncode}:\n{proc.stderr.read()[-2000:]}")
    return json.loads(line)


def _finish(procs: Sequence[subprocess.Popen], timeout: float) -> list[str]:
    """Wait for every process; their outputs. Kills leftovers; raises on a failed one."""
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                raise RuntimeError(f"{_role(proc)} exited with {proc.returncode}:\n{err[-2000:]}")
            outputs.append(out)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return outputs


def measure_dds(transport: str, mode: str, plan: Plan, domain_id: int, profile: str | None,
                hosts: Hosts = LOOPBACK) -> list[Measurement]:
    """One DDS configuration, in an edge and a device process of its own."""
    topic = f"/scissor_bench/features_{uuid.uuid4().hex[:8]}"
    common = ["--topic", topic, "--mode", mode, *plan.args()]
    edge = _spawn(["--role", "dds-edge", *common], hosts.dds_env("edge", transport, domain_id, profile),
                  hosts.prefix("edge"))
    try:
        _first_line(edge)
        device = _spawn(["--role", "dds-device", *common], hosts.dds_env("device", transport, domain_id, profile),
                        hosts.prefix("device"))
    except BaseException:
        _finish([edge], 1)
        raise
    out, _ = _finish([device, edge], plan.timeout + 10)
    times = json.loads(out)
    return [Measurement(f"{transport}/{mode}", int(size), statistics.median(t)) for size, t in times.items()]


def measure_tcp(plan: Plan, hosts: Hosts = LOOPBACK) -> list[Measurement]:
    """The reference: the same ping-pong over a TCP socket between two processes."""
    edge = _spawn(["--role", "tcp-edge", "--bind", hosts.address("edge"), *plan.args()], dict(os.environ),
                  hosts.prefix("edge"))
    try:
        port = _first_line(edge)["port"]
        device = _spawn(["--role", "tcp-device", "--connect", f"{hosts.address('edge')}:{port}", *plan.args()],
                        dict(os.environ), hosts.prefix("device"))
    except BaseException:
        _finish([edge], 1)
        raise
    out, _ = _finish([device, edge], plan.timeout + 10)
    return [Measurement("tcp", int(size), statistics.median(t)) for size, t in json.loads(out).items()]


def run(plan: Plan, transports: Sequence[str] = DEFAULT_TRANSPORTS, modes: Sequence[str] = MODES,
        profile: str | None = None, progress: bool = True, hosts: Hosts = LOOPBACK) -> list[Measurement]:
    """TCP first, then every transport x mode; ``profile`` is the XML file of transport ``profile``. In
    network namespaces (``hosts.link``) the one transport is :data:`NETNS_TRANSPORT`."""
    domain_id = 1 + os.getpid() % 100
    if hosts.link is not None:
        transports = (NETNS_TRANSPORT,)
    results = measure_tcp(plan, hosts)
    for transport in transports:
        for mode in modes:
            if progress:
                print(f"# measuring {transport}/{mode} ...", file=sys.stderr, flush=True)
            results += measure_dds(transport, mode, plan, domain_id, profile, hosts)
    return results


@dataclass(frozen=True)
class SealCost:
    """Median time to seal (device) and to open (edge) one payload of ``size`` bytes."""

    size: int
    seal_s: float
    open_s: float

    @property
    def total_s(self) -> float:
        return self.seal_s + self.open_s

    @property
    def ms_per_mb(self) -> float:
        return self.total_s * 1e3 / (self.size / _MB)


def measure_sealing(sizes: Sequence[int], repeats: int = 7, warmup: int = 1) -> list[SealCost]:
    """AES-256-GCM seal + open of each payload size in this process (median of ``repeats``)."""
    from scissor_core.wire.sealing import KEY_BYTES, Opener, Sealer

    key = os.urandom(KEY_BYTES)
    sealer, opener = Sealer(key), Opener(key)
    costs, seq = [], 0
    for size, payload in _payloads(sizes).items():
        seal_times, open_times = [], []
        for i in range(warmup + repeats):
            meta = {"seq": seq, "model": "bench", "split": "cut", "codec": "raw"}
            seq += 1
            start = time.perf_counter()
            blob = sealer.seal(payload, **meta)
            sealed = time.perf_counter()
            if len(opener.open(blob, **meta)) != size:
                raise RuntimeError(f"opening a sealed {size}-byte payload gave another size")
            if i >= warmup:
                seal_times.append(sealed - start)
                open_times.append(time.perf_counter() - sealed)
        costs.append(SealCost(size, statistics.median(seal_times), statistics.median(open_times)))
    return costs


NODE_CONFIG = f"{PROFILE}/raw-sub"
"""The DDS configuration the nodes use: the XML profile, raw subscription on the edge."""


def format_sealing(costs: Sequence[SealCost], results: Sequence[Measurement] = ()) -> str:
    """Markdown table of the sealing cost, also as a share of the unsealed transfer time of the same size
    over TCP and over the nodes' DDS configuration (or the fastest measured one)."""
    by = {(m.config, m.size): m.median_s for m in results}
    lines = ["| size (MB) | seal ms | open ms | seal+open ms | ms per MB | vs TCP transfer | vs DDS transfer |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for c in costs:
        dds = by.get((NODE_CONFIG, c.size)), NODE_CONFIG
        if dds[0] is None:
            dds = min(((s, config) for (config, size), s in by.items() if size == c.size and config != "tcp"),
                      default=(None, ""))
        tcp = by.get(("tcp", c.size))
        vs_tcp = f"+{c.total_s / tcp:.0%}" if tcp else "–"
        vs_dds = f"+{c.total_s / dds[0]:.0%} ({dds[1]})" if dds[0] else "–"
        lines.append(f"| {c.size / _MB:g} | {c.seal_s * 1e3:.2f} | {c.open_s * 1e3:.2f} | {c.total_s * 1e3:.2f} "
                     f"| {c.ms_per_mb:.2f} | {vs_tcp} | {vs_dds} |")
    return "\n".join(lines)


def format_table(results: Sequence[Measurement]) -> str:
    """Markdown table: MB/s per configuration (ratio to TCP), one row per size; then the best configuration."""
    configs = list(dict.fromkeys(m.config for m in results))
    sizes = sorted({m.size for m in results})
    by = {(m.config, m.size): m for m in results}

    def ratio(config: str, size: int) -> float:
        return by[(config, size)].mb_per_s / by[("tcp", size)].mb_per_s

    lines = ["| size (MB) | " + " | ".join(f"{c} MB/s" for c in configs) + " |",
             "|---:|" + "---:|" * len(configs)]
    for size in sizes:
        cells = [f"{by[(c, size)].mb_per_s:,.0f}" + ("" if c == "tcp" else f" ({ratio(c, size):.2f}x)")
                 for c in configs]
        lines.append(f"| {size / _MB:g} | " + " | ".join(cells) + " |")
    dds = [c for c in configs if c != "tcp"]
    if dds:
        best = max(dds, key=lambda c: statistics.fmean(ratio(c, s) for s in sizes))
        per_size = ", ".join(f"{s / _MB:g} MB {ratio(best, s):.2f}x" for s in sizes)
        lines.append(f"\nbest DDS configuration: {best} (ratio to TCP: {per_size})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the helper processes (``--role``)."""
    from scissor_ros.process import reuse_freed_memory

    p = argparse.ArgumentParser(description="helper process of `scissor bench transport`")
    p.add_argument("--role", required=True, choices=("dds-edge", "dds-device", "tcp-edge", "tcp-device"))
    p.add_argument("--bind", default="127.0.0.1", help="tcp-edge: address to listen on")
    p.add_argument("--connect", default="", help="tcp-device: HOST:PORT of the tcp-edge")
    p.add_argument("--topic", default="")
    p.add_argument("--mode", choices=MODES, default="message")
    p.add_argument("--sizes", required=True)
    p.add_argument("--warmup", type=int, required=True)
    p.add_argument("--repeats", type=int, required=True)
    p.add_argument("--timeout", type=float, required=True)
    p.add_argument("--malloc-reuse", type=int, required=True)
    args = p.parse_args(argv)
    plan = Plan(tuple(int(s) for s in args.sizes.split(",")), args.warmup, args.repeats, args.timeout,
                args.malloc_reuse)
    reuse_freed_memory(plan.malloc_reuse_bytes)
    if args.role == "dds-edge":
        return _dds_edge(args.topic, args.mode, plan.timeout)
    if args.role == "tcp-edge":
        return _tcp_edge(plan.timeout, args.bind)
    if args.role == "tcp-device":
        host, _, port = args.connect.rpartition(":")
        return _tcp_device(host, int(port), plan)
    return _dds_device(args.topic, args.mode, plan)


if __name__ == "__main__":
    sys.exit(main())
