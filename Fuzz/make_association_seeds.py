#!/usr/bin/env python3
"""Seed inputs for the association fuzz target (Fuzz/association_fuzzer.cpp), standard library only.

    make_association_seeds.py DIR

Each seed is the target's input: one flag byte, then the bytes sent on the connection (see the
harness's header for the flags). The seeds are conversations a storage SCU has with the node, and
the ways they go wrong: C-ECHO, C-STORE of a small CT data set in either little-endian transfer
syntax (whole, and in many PDV fragments), commands before an association, an A-ABORT halfway
through a data set, an A-ASSOCIATE-RQ with the most presentation contexts PS3.8 allows (128, odd
ids 1...255), a truncated PDU and PDU lengths no SCP should believe.
"""

import os
import struct
import sys

# The harness's flags.
ASSOCIATE, AWAIT, RELEASE, ABORT, RESET, CHUNKED, REFUSE = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40

VERIFICATION = "1.2.840.10008.1.1"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
JPEG_LOSSLESS = "1.2.840.10008.1.2.4.70"
RLE = "1.2.840.10008.1.2.5"

# The harness's own A-ASSOCIATE-RQ proposes these contexts.
PC_ECHO, PC_CT_EXPLICIT, PC_CT_IMPLICIT = 1, 3, 5

# UIDs under 2.25 (PS3.5 B.2: derived from a UUID), fixed so that the corpus is reproducible.
INSTANCE_UID = "2.25.163537331284212340311386346046374183261"
STUDY_UID = "2.25.270180916413735183712064283217203416217"
SERIES_UID = "2.25.299357467963766620232151102316512612374"


# --- PS3.8 9.3: PDUs and their items ---------------------------------------------------------
def pdu(kind, body):
    return struct.pack(">BBI", kind, 0, len(body)) + body


def item(kind, body):
    return struct.pack(">BBH", kind, 0, len(body)) + body


def uid(text):
    """A UID value, padded to even length with NUL (PS3.5 9.1)."""
    data = text.encode()
    return data + b"\0" if len(data) % 2 else data


def associate_rq(contexts, called=b"MAMBANODE", calling=b"SEEDSCU", max_pdu=16384):
    """A-ASSOCIATE-RQ (9.3.2): contexts is a list of (id, abstract syntax, [transfer syntaxes])."""
    body = struct.pack(">HH", 1, 0) + called.ljust(16) + calling.ljust(16) + bytes(32)
    body += item(0x10, b"1.2.840.10008.3.1.1.1")
    for pc_id, abstract, transfers in contexts:
        sub = item(0x30, abstract.encode()) + b"".join(item(0x40, t.encode()) for t in transfers)
        body += item(0x20, struct.pack(">BBBB", pc_id, 0, 0, 0) + sub)
    user = item(0x51, struct.pack(">I", max_pdu)) + item(0x52, b"2.25.121390464227838093271564712373937826379")
    body += item(0x50, user)
    return pdu(0x01, body)


def pdv(pc_id, command, last, fragment):
    """A presentation data value item (9.3.5.1) with its message control header (E.2)."""
    header = (1 if command else 0) | (2 if last else 0)
    return struct.pack(">IBB", len(fragment) + 2, pc_id, header) + fragment


def p_data(*pdvs):
    return pdu(0x04, b"".join(pdvs))


def message(pc_id, command, dataset=b"", fragment=0):
    """A DIMSE message as P-DATA-TF PDUs: the command in one PDV (or fragments of `fragment`
    bytes), then the data set likewise; several PDVs to a PDU when fragmented."""

    def pieces(data):
        size = fragment or max(len(data), 1)
        return [data[i : i + size] for i in range(0, len(data), size)] or [b""]

    out = b""
    for is_command, data in ((True, command), (False, dataset)):
        if not is_command and not dataset:
            break
        parts = pieces(data)
        items = [pdv(pc_id, is_command, i == len(parts) - 1, part) for i, part in enumerate(parts)]
        for i in range(0, len(items), 4):  # up to 4 PDVs per P-DATA-TF
            out += p_data(*items[i : i + 4])
    return out


RELEASE_RQ = pdu(0x05, bytes(4))
ABORT_PDU = pdu(0x07, bytes(4))


# --- PS3.7 9.3 and E.1: command sets, Implicit VR Little Endian, group 0000 ------------------
def implicit(group, element, value):
    return struct.pack("<HHI", group, element, len(value)) + value


def command_set(elements):
    """Group 0000 with its group length (0000,0000) first (PS3.7 E.1)."""
    body = b"".join(implicit(0, e, v) for e, v in sorted(elements))
    return implicit(0, 0x0000, struct.pack("<I", len(body))) + body


def c_echo_rq(message_id=1):
    return command_set(
        [
            (0x0002, uid(VERIFICATION)),
            (0x0100, struct.pack("<H", 0x0030)),
            (0x0110, struct.pack("<H", message_id)),
            (0x0800, struct.pack("<H", 0x0101)),  # no data set
        ]
    )


def c_store_rq(sop_class=CT_IMAGE_STORAGE, instance=INSTANCE_UID, message_id=1):
    return command_set(
        [
            (0x0002, uid(sop_class)),
            (0x0100, struct.pack("<H", 0x0001)),
            (0x0110, struct.pack("<H", message_id)),
            (0x0700, struct.pack("<H", 0x0000)),  # medium priority
            (0x0800, struct.pack("<H", 0x0000)),  # a data set follows
            (0x1000, uid(instance)),
        ]
    )


# --- PS3.5 7.1: a small CT image data set -----------------------------------------------------
def ct_elements(instance=INSTANCE_UID):
    text = lambda s: (s + " " if len(s) % 2 else s).encode()
    us = lambda v: struct.pack("<H", v)
    pixels = b"".join(struct.pack("<H", (i * 37) % 4096) for i in range(16))
    return [
        (0x0008, 0x0016, "UI", uid(CT_IMAGE_STORAGE)),
        (0x0008, 0x0018, "UI", uid(instance)),
        (0x0008, 0x0060, "CS", text("CT")),
        (0x0010, 0x0010, "PN", text("FUZZ^SEED")),
        (0x0010, 0x0020, "LO", text("FUZZ-1")),
        (0x0020, 0x000D, "UI", uid(STUDY_UID)),
        (0x0020, 0x000E, "UI", uid(SERIES_UID)),
        (0x0020, 0x0013, "IS", text("1")),
        (0x0028, 0x0002, "US", us(1)),
        (0x0028, 0x0004, "CS", text("MONOCHROME2")),
        (0x0028, 0x0010, "US", us(4)),
        (0x0028, 0x0011, "US", us(4)),
        (0x0028, 0x0100, "US", us(16)),
        (0x0028, 0x0101, "US", us(12)),
        (0x0028, 0x0102, "US", us(11)),
        (0x0028, 0x0103, "US", us(0)),
        (0x7FE0, 0x0010, "OW", pixels),
    ]


def dataset_explicit_le(elements):
    out = b""
    for group, element, vr, value in elements:
        if vr in ("OB", "OW", "OF", "SQ", "UT", "UN"):
            out += struct.pack("<HH2sHI", group, element, vr.encode(), 0, len(value)) + value
        else:
            out += struct.pack("<HH2sH", group, element, vr.encode(), len(value)) + value
    return out


def dataset_implicit_le(elements):
    return b"".join(implicit(g, e, v) for g, e, _, v in elements)


def harness_rq():
    """The request the harness prepends (flag bit 0), for seeds that send it themselves."""
    return associate_rq(
        [
            (PC_ECHO, VERIFICATION, [IMPLICIT_LE, EXPLICIT_LE]),
            (PC_CT_EXPLICIT, CT_IMAGE_STORAGE, [EXPLICIT_LE]),
            (PC_CT_IMPLICIT, CT_IMAGE_STORAGE, [IMPLICIT_LE]),
        ],
        calling=b"FUZZER",
    )


def seeds():
    explicit = dataset_explicit_le(ct_elements())
    implicit_ds = dataset_implicit_le(ct_elements())
    store_explicit = message(PC_CT_EXPLICIT, c_store_rq(), explicit)
    store_implicit = message(PC_CT_IMPLICIT, c_store_rq(), implicit_ds)
    valid = ASSOCIATE | AWAIT | RELEASE
    contexts_128 = []
    classes = [VERIFICATION, CT_IMAGE_STORAGE, MR_IMAGE_STORAGE, "1.2.840.10008.5.1.4.1.1.7", "1.2.3.4.5.6"]
    transfers = [[IMPLICIT_LE], [EXPLICIT_LE, IMPLICIT_LE], [JPEG_LOSSLESS, RLE, EXPLICIT_BE], ["1.2.3.4"]]
    for i in range(128):
        contexts_128.append((2 * i + 1, classes[i % len(classes)], transfers[i % len(transfers)]))
    rq_128 = associate_rq(contexts_128)

    yield "echo-release", valid, message(PC_ECHO, c_echo_rq())
    yield "store-explicit-release", valid, store_explicit
    yield "store-implicit-release", valid, store_implicit
    # DCMTK refuses command fragments of odd length (PS3.8 allows them): even ones get through.
    yield "store-fragmented-release", valid, message(PC_CT_EXPLICIT, c_store_rq(), explicit, fragment=8)
    yield "store-two-byte-fragments", valid, message(PC_CT_IMPLICIT, c_store_rq(), implicit_ds, fragment=2)
    yield "store-odd-fragments", valid, message(PC_CT_EXPLICIT, c_store_rq(), explicit, fragment=7)
    yield "store-chunked-writes", valid | CHUNKED, bytes([5]) + store_explicit
    yield (
        "store-twice-echo-release",
        valid,
        (
            store_explicit
            + message(PC_CT_IMPLICIT, c_store_rq(message_id=2), implicit_ds)
            + message(PC_ECHO, c_echo_rq(3))
        ),
    )
    yield "store-no-await-release", ASSOCIATE | RELEASE, store_explicit
    yield "store-then-reset", ASSOCIATE | AWAIT | RESET, store_explicit
    yield "store-wrong-context", valid, message(PC_ECHO, c_store_rq(), explicit)
    yield "store-mr-on-ct-context", valid, message(PC_CT_EXPLICIT, c_store_rq(MR_IMAGE_STORAGE), explicit)
    yield "store-implicit-on-explicit", valid, message(PC_CT_EXPLICIT, c_store_rq(), implicit_ds)
    yield "store-unknown-context", valid, message(7, c_store_rq(), explicit)
    yield "store-refused", valid | REFUSE, store_explicit
    yield "echo-as-own-rq", AWAIT | RELEASE, harness_rq() + message(PC_ECHO, c_echo_rq())
    yield "pdata-before-association", 0, message(PC_ECHO, c_echo_rq())
    yield "store-before-association", AWAIT, store_explicit
    half = len(explicit) // 2
    yield (
        "abort-mid-dataset",
        ASSOCIATE | AWAIT | ABORT,
        (
            p_data(pdv(PC_CT_EXPLICIT, True, True, c_store_rq()))
            + p_data(pdv(PC_CT_EXPLICIT, False, False, explicit[:half]))
        ),
    )
    yield (
        "abort-mid-dataset-raw",
        ASSOCIATE | AWAIT,
        (
            p_data(pdv(PC_CT_EXPLICIT, True, True, c_store_rq()))
            + p_data(pdv(PC_CT_EXPLICIT, False, False, explicit[:half]))
            + ABORT_PDU
            + p_data(pdv(PC_CT_EXPLICIT, False, True, explicit[half:]))
        ),
    )
    yield (
        "release-mid-dataset",
        ASSOCIATE | AWAIT | RELEASE,
        (
            p_data(pdv(PC_CT_EXPLICIT, True, True, c_store_rq()))
            + p_data(pdv(PC_CT_EXPLICIT, False, False, explicit[:half]))
        ),
    )
    yield "associate-128-contexts", AWAIT | RELEASE, rq_128 + message(PC_ECHO, c_echo_rq())
    yield (
        "associate-wrong-called-ae",
        AWAIT | RELEASE,
        associate_rq([(1, VERIFICATION, [IMPLICIT_LE])], called=b"SOMEONEELSE"),
    )
    yield "associate-no-acceptable-context", AWAIT | RELEASE, associate_rq([(1, "1.2.3.4.5.6", ["1.2.3.4"])])
    truncated = p_data(pdv(PC_CT_EXPLICIT, True, True, c_store_rq()))
    yield "truncated-pdata", ASSOCIATE | AWAIT, truncated[: len(truncated) // 2]
    yield "truncated-associate-rq", 0, harness_rq()[:40]
    yield "oversized-pdata-length", ASSOCIATE | AWAIT, struct.pack(">BBI", 0x04, 0, 0xFFFFFFF0) + truncated[6:]
    yield "oversized-associate-rq-length", 0, struct.pack(">BBI", 0x01, 0, 0xFFFFFFFF) + bytes(64)
    yield "pdv-longer-than-pdu", valid, pdu(0x04, struct.pack(">IBB", 4000, PC_ECHO, 3) + c_echo_rq())
    yield "command-without-group-length", valid, message(PC_ECHO, c_echo_rq()[12:])
    yield "unknown-pdu-type", ASSOCIATE | AWAIT, pdu(0x09, bytes(8))
    yield "http-request", 0, b"GET / HTTP/1.0\r\n\r\n"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else sys.exit("usage: make_association_seeds.py DIR")
    os.makedirs(out, exist_ok=True)
    count = 0
    for name, flags, data in seeds():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([flags]) + data)
        count += 1
    print(f"association seeds: {count} files in {out}")


if __name__ == "__main__":
    main()
