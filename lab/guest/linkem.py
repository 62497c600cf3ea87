#!/usr/bin/python3
# ntp-pool lab: a userspace Ethernet switch that delays, jitters and drops frames, for
# wide-area paths between lab namespaces (issue 13).
#
# Why not `tc qdisc ... netem`: this machine's kernel is built without sch_netem
# (CONFIG_NET_SCH_NETEM is not set, no loadable modules), and without NFQUEUE in nftables
# (CONFIG_NFT_QUEUE is not set). So the switch namespace runs this instead of a kernel bridge:
# one AF_PACKET socket per port (the switch-side end of each node's veth), MAC learning,
# flooding of broadcast/unknown frames, and for each frame from port A to port B a delay of
# egress(A) + ingress(B) plus a uniform jitter of ±jitter ms, and a loss probability per
# frame. Like netem with jitter, frames may be reordered. ARP and IPv6 neighbour discovery
# pass undelayed: the delay stands for the WAN beyond a node's first hop.
#
# Frames a node sends over a veth carry UDP checksums the kernel left for the NIC to finish
# (checksum offload); a frame re-sent through a packet socket is not finished again, so the
# receiver would drop it. This switch therefore recomputes the UDP checksum of every IPv4 and
# IPv6 UDP frame it forwards (RFC 768, RFC 8200 §8.1).
#
# Usage: linkem.py [--jitter-ms J] [--loss P] [--seed N] PORT:EGRESS_MS:INGRESS_MS ...
#   EGRESS_MS delays frames the node on PORT sends, INGRESS_MS frames it receives.
# Runs until killed. Prints one line "linkem: ready <n> ports" to stdout once listening.
import heapq
import random
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def fix_udp(frame):
    """Returns the frame with its UDP checksum recomputed (IPv4/IPv6, no VLAN tags)."""
    if len(frame) < 14:
        return frame
    ethertype = struct.unpack("!H", frame[12:14])[0]
    if ethertype == 0x0800 and len(frame) >= 34:
        ihl = (frame[14] & 0x0F) * 4
        if frame[23] != 17:
            return frame
        total = struct.unpack("!H", frame[16:18])[0]
        udp = bytearray(frame[14 + ihl : 14 + total])
        if len(udp) < 8:
            return frame
        udp[6:8] = b"\0\0"
        pseudo = frame[26:34] + struct.pack("!BBH", 0, 17, len(udp))
        c = csum(pseudo + bytes(udp)) or 0xFFFF
        udp[6:8] = struct.pack("!H", c)
        return frame[: 14 + ihl] + bytes(udp) + frame[14 + total :]
    if ethertype == 0x86DD and len(frame) >= 62:
        if frame[20] != 17:  # next header UDP, no extension headers
            return frame
        plen = struct.unpack("!H", frame[18:20])[0]
        udp = bytearray(frame[54 : 54 + plen])
        if len(udp) < 8:
            return frame
        udp[6:8] = b"\0\0"
        pseudo = frame[22:54] + struct.pack("!I3xB", len(udp), 17)
        c = csum(pseudo + bytes(udp)) or 0xFFFF
        udp[6:8] = struct.pack("!H", c)
        return frame[:54] + bytes(udp) + frame[54 + plen :]
    return frame


def is_neighbour_discovery(frame):
    """ARP, or ICMPv6 router/neighbour solicitation/advertisement/redirect (RFC 4861)."""
    ethertype = struct.unpack("!H", frame[12:14])[0] if len(frame) >= 14 else 0
    if ethertype == 0x0806:
        return True
    return ethertype == 0x86DD and len(frame) >= 55 and frame[20] == 58 and 133 <= frame[54] <= 137


def main(argv):
    jitter = 0.0
    loss = 0.0
    seed = None
    specs = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--jitter-ms", "--loss", "--seed"):
            if i + 1 >= len(argv):
                sys.exit("linkem: %s needs a value" % a)
            v = argv[i + 1]
            if a == "--jitter-ms":
                jitter = float(v)
            elif a == "--loss":
                loss = float(v)
            else:
                seed = int(v)
            i += 2
            continue
        specs.append(a)
        i += 1
    if not specs:
        sys.exit("linkem: no ports")
    rnd = random.Random(seed)
    socks = {}
    egress = {}
    ingress = {}
    for spec in specs:
        name, e, n = spec.split(":")
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind((name, 0))
        s.setblocking(False)
        socks[s.fileno()] = (s, name)
        egress[name] = float(e)
        ingress[name] = float(n)
    by_name = {name: s for (s, name) in socks.values()}
    macs = {}
    heap = []
    seq = 0
    print("linkem: ready %d ports" % len(by_name), flush=True)
    while True:
        timeout = max(0.0, heap[0][0] - time.monotonic()) if heap else None
        ready, _, _ = select.select(list(socks), [], [], timeout)
        now = time.monotonic()
        for fd in ready:
            s, src = socks[fd]
            while True:
                try:
                    frame, addr = s.recvfrom(65535)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue
                macs[frame[6:12]] = src
                dst = frame[0:6]
                if not (dst[0] & 1) and dst in macs:
                    targets = [macs[dst]]
                else:
                    targets = [p for p in by_name if p != src]
                frame = fix_udp(frame)
                # Address resolution stays on the local segment (a droplet's next hop is
                # its hypervisor): no WAN delay or loss, or the first packet to each
                # neighbour would carry an extra round trip on its outbound leg.
                local = is_neighbour_discovery(frame)
                for t in targets:
                    if t == src or (not local and rnd.random() < loss):
                        continue
                    d = 0.0 if local else egress[src] + ingress[t]
                    if jitter > 0 and not local:
                        d += rnd.uniform(-jitter, jitter)
                    seq += 1
                    heapq.heappush(heap, (now + max(0.0, d) / 1000.0, seq, t, frame))
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            _, _, t, frame = heapq.heappop(heap)
            try:
                by_name[t].send(frame)
            except OSError:
                pass


if __name__ == "__main__":
    main(sys.argv[1:])
