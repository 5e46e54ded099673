#!/usr/bin/env python3
"""Connections to a DICOM port that never make an association, as hospitals' networks produce them.

Load balancer health checks and Nagios' check_tcp connect and close (or reset) without a byte;
port scanners do the same; a peer may die half-way through its A-ASSOCIATE-RQ; a stray HTTP
client sends text; a stalled one connects and sends nothing. The listener must survive all of it
and keep serving. Standard library only.

    bare_connections.py PORT [--bare N] [--hold]

Prints one JSON object: what was done, and for --hold how long the listener took to close the
silent connection (its ARTIM timer, PS3.8 9.1.5).
"""

import argparse
import json
import socket
import struct
import time


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    return s


def close(s, reset):
    if reset:
        # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def associate_rq(called=b"MAMBANODE", calling=b"PROBE"):
    """A well-formed A-ASSOCIATE-RQ (PS3.8 9.3.2) proposing Verification, for partial sends."""

    def item(kind, body):
        return struct.pack(">BBH", kind, 0, len(body)) + body

    context = item(0x10, b"1.2.840.10008.3.1.1.1")
    abstract = item(0x30, b"1.2.840.10008.1.1")
    transfer = item(0x40, b"1.2.840.10008.1.2")
    presentation = item(0x20, struct.pack(">BBBB", 1, 0, 0, 0) + abstract + transfer)
    user = item(0x50, item(0x51, struct.pack(">I", 16384)) + item(0x52, b"1.2.3.4"))
    body = struct.pack(">HH", 1, 0) + called.ljust(16) + calling.ljust(16) + bytes(32) + context + presentation + user
    return struct.pack(">BBI", 0x01, 0, len(body)) + body


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--bare", type=int, default=200, help="bare connects, alternating FIN and RST")
    parser.add_argument("--hold", action="store_true", help="also hold a silent connection until the node closes it")
    args = parser.parse_args()
    done = {"bare": 0, "partial": 0, "garbage": 0}

    for i in range(args.bare):
        close(connect(args.port), reset=i % 2 == 1)
        done["bare"] += 1

    # An A-ASSOCIATE-RQ cut off after its first byte, inside its header, after the header, and one
    # byte short; each closed normally and reset.
    request = associate_rq()
    for cut in (1, 4, 6, 40, len(request) - 1):
        for reset in (False, True):
            s = connect(args.port)
            s.sendall(request[:cut])
            time.sleep(0.05)
            close(s, reset)
            done["partial"] += 1

    # Not DICOM at all: an HTTP request, and a PDU header announcing 4 GiB.
    for payload in (b"GET / HTTP/1.0\r\n\r\n", struct.pack(">BBI", 0x01, 0, 0xFFFFFFFF) + bytes(64)):
        s = connect(args.port)
        try:
            s.sendall(payload)
            s.settimeout(10)
            s.recv(1024)  # the node answers (A-ABORT or A-ASSOCIATE-RJ) or closes
        except OSError:
            pass
        close(s, reset=False)
        done["garbage"] += 1

    if args.hold:
        s = connect(args.port)
        start = time.monotonic()
        s.settimeout(120)
        try:
            while s.recv(1024):
                pass
        except OSError:
            pass
        done["hold_closed_after_s"] = round(time.monotonic() - start, 2)
        close(s, reset=False)

    print(json.dumps(done))


if __name__ == "__main__":
    main()
