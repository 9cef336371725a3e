"""The ns-3 simulation of one TCP transfer, run in a child process (``python -m`` this module).

ns-3's Python bindings are cppyy: importing them takes seconds, prints cling's symbol warnings
on the native stderr, and leaves global simulator state behind. So the simulation runs here, in
a child that :mod:`splitbench.network.tcp` starts per batch, feeds a JSON list of transfers on
stdin, and reads one JSON line per finished transfer from (the original) stdout.

The simulation is C++ compiled once by cling (:data:`SIMULATION`) so that a transfer of a few
megabytes costs milliseconds, not a Python callback per packet: two nodes joined by a
point-to-point link (rate, one-way delay, a packet error model on both receivers, Linux's
classic 1,000-packet pfifo_fast queue), ns-3's default TCP (CUBIC) with the given segment size,
initial window, 4 MB socket buffers (Linux autotuning reaches that; ns-3's 128 KB default
would cap the window below the bandwidth-delay product of a fast long link) and a 1 s SYN
timeout (RFC 6298), a sender of exactly ``bytes`` and a PacketSink. With ``handshake`` the
clock starts at the first SYN. Without, the connection is an open one: one segment is
exchanged first (so the receiver's window is the scaled one, as after a request, not the
64 KB a SYN-ACK can advertise) and the clock starts when it is acknowledged. The result is
the time until the sink has received the last byte.
"""

from __future__ import annotations

import json
import os
import sys

SIMULATION = r"""
#include "ns3/applications-module.h"
#include "ns3/core-module.h"
#include "ns3/internet-module.h"
#include "ns3/network-module.h"
#include "ns3/point-to-point-module.h"
#include "ns3/traffic-control-module.h"

namespace splitbench_sim {
using namespace ns3;

static uint64_t g_prime = 0;   // bytes exchanged before the measured transfer (open connection)
static uint64_t g_bytes = 0;   // the measured transfer
static uint64_t g_queued = 0;  // bytes handed to the sender's socket so far
static uint64_t g_limit = 0;   // bytes the sender may queue in the current phase
static uint64_t g_got = 0;
static double g_start = -1.0;
static double g_done = -1.0;
static Ptr<Socket> g_sock;

static void Fill(Ptr<Socket> sock, uint32_t) {
    while (g_queued < g_limit) {
        uint32_t room = sock->GetTxAvailable();
        if (room == 0) return;  // called again when the buffer drains
        uint64_t left = g_limit - g_queued;
        uint32_t n = uint32_t(left < room ? left : room);
        if (n > 65536) n = 65536;
        int sent = sock->Send(Create<Packet>(n));
        if (sent <= 0) return;
        g_queued += uint64_t(sent);
    }
}

static void StartMeasured() {
    g_start = Simulator::Now().GetSeconds();
    g_limit = g_prime + g_bytes;
    Fill(g_sock, 0);
}

// An open connection has exchanged data before: its receive window is the scaled one, not the
// 64 KB a SYN-ACK can advertise. The measured transfer starts when the priming bytes are acked.
static void OnAck(SequenceNumber32, SequenceNumber32 now) {
    if (g_start < 0 && g_prime > 0 && uint64_t(now.GetValue()) >= g_prime + 1) StartMeasured();
}

static void OnConnected(Ptr<Socket> sock) {
    g_limit = g_prime > 0 ? g_prime : g_bytes;
    Fill(sock, 0);
}

static void OnFailed(Ptr<Socket>) {}

// At t = 0, once the simulation has initialised every object (queue discs included).
static void Begin(Ptr<Node> node, Ipv4Address to, uint16_t port) {
    g_sock = Socket::CreateSocket(node, TcpSocketFactory::GetTypeId());
    g_sock->TraceConnectWithoutContext("HighestRxAck", MakeCallback(&OnAck));
    g_sock->SetConnectCallback(MakeCallback(&OnConnected), MakeCallback(&OnFailed));
    g_sock->SetSendCallback(MakeCallback(&Fill));
    g_sock->Bind();
    g_sock->Connect(InetSocketAddress(to, port));
}

static void OnRx(Ptr<const Packet> p, const Address&) {
    g_got += p->GetSize();
    if (g_got >= g_prime + g_bytes && g_done < 0) {
        g_done = Simulator::Now().GetSeconds();
        Simulator::Stop();
    }
}

double transfer(double rate_bps, double delay_s, double loss, uint32_t segment, uint32_t cwnd,
                bool handshake, uint64_t bytes, uint32_t seed, double limit_s) {
    g_prime = handshake ? 0 : segment;
    g_bytes = bytes; g_queued = 0; g_limit = 0; g_got = 0;
    g_start = handshake ? 0.0 : -1.0;
    g_done = -1.0;
    RngSeedManager::SetSeed(1);
    RngSeedManager::SetRun(seed);
    Config::SetDefault("ns3::TcpSocket::SegmentSize", UintegerValue(segment));
    Config::SetDefault("ns3::TcpSocket::InitialCwnd", UintegerValue(cwnd));
    Config::SetDefault("ns3::TcpSocket::SndBufSize", UintegerValue(4u << 20));
    Config::SetDefault("ns3::TcpSocket::RcvBufSize", UintegerValue(4u << 20));
    // A lost SYN is retried after 1 s (RFC 6298, and Linux), not ns-3's 3 s.
    Config::SetDefault("ns3::TcpSocket::ConnTimeout", TimeValue(Seconds(1.0)));

    NodeContainer nodes;
    nodes.Create(2);
    PointToPointHelper link;
    link.SetDeviceAttribute("DataRate", DataRateValue(DataRate(uint64_t(rate_bps))));
    link.SetChannelAttribute("Delay", TimeValue(Seconds(delay_s)));
    NetDeviceContainer devices = link.Install(nodes);
    if (loss > 0) {
        for (uint32_t i = 0; i < 2; ++i) {
            Ptr<RateErrorModel> em = CreateObject<RateErrorModel>();
            em->SetAttribute("ErrorRate", DoubleValue(loss));
            em->SetAttribute("ErrorUnit", StringValue("ERROR_UNIT_PACKET"));
            // Fixed streams: a draw depends on its seed (the run number), never on how many
            // random variables earlier simulations in this process created.
            em->AssignStreams(i);
            devices.Get(i)->SetAttribute("ReceiveErrorModel", PointerValue(em));
        }
    }
    InternetStackHelper stack;
    stack.Install(nodes);
    stack.AssignStreams(nodes, 10);
    TrafficControlHelper tch;  // Linux's classic pfifo_fast, 1,000 packets (txqueuelen)
    tch.SetRootQueueDisc("ns3::PfifoFastQueueDisc", "MaxSize", StringValue("1000p"));
    tch.Install(devices);
    Ipv4AddressHelper address;
    address.SetBase("10.1.1.0", "255.255.255.0");
    Ipv4InterfaceContainer ifaces = address.Assign(devices);

    uint16_t port = 9;
    PacketSinkHelper sinkHelper("ns3::TcpSocketFactory",
                                InetSocketAddress(Ipv4Address::GetAny(), port));
    ApplicationContainer sinkApp = sinkHelper.Install(nodes.Get(1));
    sinkApp.Start(Seconds(0.0));
    sinkApp.Get(0)->TraceConnectWithoutContext("Rx", MakeCallback(&OnRx));

    Simulator::Schedule(Seconds(0.0), &Begin, nodes.Get(0), ifaces.GetAddress(1), port);

    Simulator::Stop(Seconds(limit_s));
    Simulator::Run();
    g_sock = nullptr;
    Simulator::Destroy();
    if (g_done < 0 || g_start < 0) return -1.0;
    return g_done - g_start;
}
}  // namespace splitbench_sim
"""

SIM_LIMIT_S = 3600.0  # simulated seconds after which a transfer counts as not finished


MODULES = ("core", "network", "internet", "point-to-point", "applications", "traffic-control")


def _load_ns3():  # type: ignore[no-untyped-def]
    """cppyy with the five ns-3 libraries the simulation uses (their dependencies follow).

    ``from ns import ns`` parses the headers of all ~40 modules (LTE, Wi-Fi, ...) and takes
    10-20 s on a loaded machine; loading only these takes about 4 s. It falls back to the full
    import when the wheel's layout is not the expected one."""
    import glob
    import importlib.util

    spec = importlib.util.find_spec("ns3")
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        libs = [glob.glob(os.path.join(root, "lib*", f"libns3.*-{m}.so")) for m in MODULES]
        if all(len(found) == 1 for found in libs):
            import cppyy

            cppyy.add_include_path(os.path.join(root, "include"))
            for (path,) in libs:
                cppyy.add_library_path(os.path.dirname(path))
                cppyy.load_library(path)
            return cppyy
    import cppyy
    from ns import ns  # noqa: F401  (loads every module's library and headers)

    return cppyy


def main() -> int:
    # ns-3 and cling print on the native stdout/stderr: keep the original stdout for results
    # only, and send everything else to stderr (the parent keeps its tail for error lines).
    results = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    jobs = json.load(sys.stdin)
    cppyy = _load_ns3()
    cppyy.cppdef(SIMULATION)
    transfer = cppyy.gbl.splitbench_sim.transfer
    results.write(json.dumps({"ready": True}) + "\n")
    for i, job in enumerate(jobs):
        seconds = transfer(
            float(job["rate_bps"]),
            float(job["delay_s"]),
            float(job["loss"]),
            int(job["segment"]),
            int(job["cwnd"]),
            bool(job["handshake"]),
            int(job["bytes"]),
            int(job["seed"]),
            SIM_LIMIT_S,
        )
        ms = seconds * 1e3 if seconds >= 0 else None
        results.write(json.dumps({"i": i, "ms": ms}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
