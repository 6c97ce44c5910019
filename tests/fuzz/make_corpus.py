#!/usr/bin/env python3
"""Writes the small seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

Deterministic: rerun after changing it, then minimize with libFuzzer's -merge=1 if it grows.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def header(fin=True, rsv=0, op=2, masked=False, key=b"\x37\xfa\x21\x3d", length=0, form=None):
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    mask = 0x80 if masked else 0
    form = form or (7 if length <= 125 else 16 if length <= 0xFFFF else 64)
    if form == 7:
        out = bytes([b0, mask | length])
    elif form == 16:
        out = bytes([b0, mask | 126]) + struct.pack(">H", length)
    else:
        out = bytes([b0, mask | 127]) + struct.pack(">Q", length)
    return out + (key if masked else b"")


def frame(payload=b"", masked=True, key=b"\x37\xfa\x21\x3d", **kw):
    body = bytes(c ^ key[i % 4] for i, c in enumerate(payload)) if masked else payload
    return header(masked=masked, key=key, length=len(payload), **kw) + body


UTF8 = [
    b"", b"hello", "h\u00e9llo \u20ac \U0001F600".encode(), b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98",
    b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
    b"\xf0\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff", b"\x80", b"\xbf\x80",
    b"\xef\xbf\xbe", b"\xf4\x8f\xbf\xbf", b"a" * 40 + b"\xed\x9f\xbf" + b"b" * 9,
    "\u03ba\u1f79\u03c3\u03bc\u03b5".encode() * 3, b"\xe1\x80\xc2\x80", b"\xc3\x28",
]

HEADERS = [
    header(length=0), header(length=125), header(length=126), header(length=65535),
    header(length=65536), header(length=2**63 - 1), header(length=2**63, form=64),
    header(length=5, form=16), header(length=200, form=64), header(masked=True, length=1),
    header(masked=True, length=300), header(masked=True, length=70000), header(op=8, length=2),
    header(op=9, fin=False, rsv=7, length=0), header(op=0xF, length=126),
    frame(b"\x03\xe8", op=8, masked=False), frame(b"\x0f\xa0bye", op=8, masked=False),
    frame(b"\x03\xed\xff", op=8, masked=False), frame(b"\x03\xe8\xed\xa0\x80", op=8, masked=False),
    bytes([0x82]), bytes(),
]
# The close-payload check reads the whole input as a payload too.
HEADERS += [b"\x03\xe8", b"\x03\xe8ok", b"\x03", b"\x0b\xb8\xc3\xa9", b"\x13\x88"]

S, C = 0x01, 0x00  # role byte: server (masked frames expected) or client, all at once
DIFFERENTIAL = [
    bytes([S]) + frame(b"Hello", op=1),
    bytes([S]) + frame("h\u00e9llo".encode(), op=1),
    bytes([S]) + frame(b"\xed\xa0\x80", op=1),
    bytes([S]) + frame(b"\xc3", op=1),
    bytes([S]) + frame(b"\xf0\x9f", op=1, fin=False) + frame(b"ping", op=9) + frame(b"\x98\x80", op=0),
    bytes([S]) + frame(b"x", op=0),
    bytes([S]) + frame(b"a" * 126) + frame(b"", op=10),
    bytes([S]) + frame(b"b" * 300, key=b"\x00\x00\x00\x00"),
    bytes([S]) + frame(b"\x03\xe8", op=8),
    bytes([S]) + frame(b"p" * 126, op=9),
    bytes([S]) + frame(b"x", rsv=4),
    bytes([S]) + frame(b"x", op=3),
    bytes([S]) + frame(b"x", masked=False),
    bytes([S]) + header(masked=True, length=5, form=16) + b"\x01\x02\x03\x04hello",
    bytes([S]) + header(masked=True, length=2**63, form=64) + b"\x01\x02\x03\x04",
    bytes([S | 6]) + frame(b"chunked " * 10, op=1),
    bytes([C]) + frame(b"Hello", op=1, masked=False),
    bytes([C]) + frame(b"x", op=2, fin=False, masked=False) + frame(b"y", op=0, masked=False),
    bytes([C]) + frame(b"x", op=2, masked=True),
    bytes([C]) + frame(b"\x03\xe8bye", op=8, masked=False),
    bytes([C | 2]) + frame(b"z" * 70000, masked=False)[:1000],
    # websocketpp's continuation size check wraps for a length near 2^64 (found by this fuzzer).
    bytes([S]) + frame(b"a", op=1, fin=False)
    + header(op=0, masked=True, length=2**64 - 1, form=64) + b"\xb6\xb6\xb6\xb5\xff\xff\x7a",
]

# room_protocol_fuzz: client messages of every type, alias and failure, and JSON corners.
ROOM = [
    b'{"type":"echo","data":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}',
    b'{"type":"echo","data":{"a":[1,-2.5e3,true,false,null],"b":"\\u00e9\\n"},"_id":"m-1"}',
    b'{"type":"broadcast","data":"hi","_id":7}',
    b'{"type":"join","roomId":"caf\xc3\xa9","ack":true}',
    b'{"type":"leave_room"}',
    b'{"type":"message","roomId":"r","content":"\\ud83d\\ude00 \xf0\x9f\x98\x80"}',
    b'{"type":"get_room_info","roomId":"r"}',
    b'{"type":"ping","id":3}',
    b'{"_ack":true,"_id":18446744073709551615}',
    b'{"type":"echo","data":1,"data":2,"typ\\u0065":"x"}',
    b' \t{ "type" : "dance" , "_id" : -1 }\r\n',
    b'{"type":"echo","data":[[[[[[1]]]]]]}',
    b'{"type":"echo","data":1e400}',
    b'\xef\xbb\xbf{"type":"echo","data":01}',
    b'{"type":"echo","data":"\xff\xed\xa0\x80\\ud800"}',
]


def write(target, seeds):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    for i, seed in enumerate(seeds):
        with open(os.path.join(directory, "seed-%02d" % i), "wb") as f:
            f.write(seed)


def main():
    # utf8_fuzz reads its first byte as the split seed.
    write("utf8_fuzz", [bytes([i * 37 % 256]) + s for i, s in enumerate(UTF8)])
    write("frame_header_fuzz", HEADERS)
    write("frame_differential_fuzz", DIFFERENTIAL)
    write("room_protocol_fuzz", ROOM)
    return 0


if __name__ == "__main__":
    sys.exit(main())
