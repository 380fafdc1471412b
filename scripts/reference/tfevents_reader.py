#!/usr/bin/env python3
"""Independent reader of TensorBoard event files, for tests of src/observe/tensorboard.ts.

Decodes everything itself with the standard library only (no TensorFlow, no protobuf):
TFRecord framing (uint64 length, masked CRC-32C of the length, data, masked CRC-32C of the
data), and the Event / Summary protos by field number (tensorflow/core/util/event.proto:
wall_time = 1 (double), step = 2 (int64), file_version = 3 (string), summary = 5;
summary.proto: Summary.value = 1, Value.tag = 1, Value.simple_value = 2 (float)).

Usage: tfevents_reader.py PATH...   (event files, or dirs: every events.out.tfevents.* in them)
Prints one JSON object: {"files": [{"file", "file_version", "error", "scalars": [{"tag",
"step", "wall_time", "value"}]}]}; values are Python float reprs as strings ("nan" allowed).
A record that is short, fails a CRC or holds a malformed proto (a field running past the end of
its message, an unknown wire type, a tag that is not UTF-8) ends that file's reading; "error"
says where, and the records before it are still listed.
"""
import json
import os
import struct
import sys


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def records(buf):
    """((byte offset, payload) of the good records, the error that stopped reading or None)."""
    o = 0
    out = []
    while o < len(buf):
        where = "record %d at byte %d" % (len(out), o)
        if len(buf) - o < 12:
            return out, where + ": truncated header"
        header = buf[o:o + 8]
        (length,) = struct.unpack("<Q", header)
        (crc_len,) = struct.unpack("<I", buf[o + 8:o + 12])
        if crc_len != masked(header):
            return out, where + ": length CRC mismatch"
        if len(buf) - o - 12 < length + 4:
            return out, where + ": truncated data"
        data = buf[o + 12:o + 12 + length]
        (crc_data,) = struct.unpack("<I", buf[o + 12 + length:o + 16 + length])
        if crc_data != masked(data):
            return out, where + ": data CRC mismatch"
        out.append((o, data))
        o += 16 + length
    return out, None


def fields(buf):
    """(field number, wire type, value) for each field; value is int or bytes.
    ValueError for a field that does not fit in buf."""
    o = 0

    def take(n):
        nonlocal o
        if o + n > len(buf):
            raise ValueError("a field runs past the end of its %d-byte message" % len(buf))
        o += n
        return buf[o - n:o]

    def varint():
        nonlocal o
        n, shift = 0, 0
        while True:
            if o >= len(buf):
                raise ValueError("a varint runs past the end of its %d-byte message" % len(buf))
            b = buf[o]
            o += 1
            n |= (b & 0x7F) << shift
            if b < 0x80:
                return n
            shift += 7

    while o < len(buf):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            yield field, wire, varint()
        elif wire == 1:
            yield field, wire, take(8)
        elif wire == 2:
            yield field, wire, take(varint())
        elif wire == 5:
            yield field, wire, take(4)
        else:
            raise ValueError("unsupported wire type %d (field %d)" % (wire, field))


def decode_event(data):
    """(wall_time, step, file_version or None, [(tag, value)]); ValueError if malformed."""
    wall, step, version, values = 0.0, 0, None, []
    for field, wire, v in fields(data):
        if field == 1 and wire == 1:
            (wall,) = struct.unpack("<d", v)
        elif field == 2 and wire == 0:
            step = v
        elif field == 3 and wire == 2:
            version = v.decode("utf-8")
        elif field == 5 and wire == 2:
            for vf, vw, vb in fields(v):
                if vf != 1 or vw != 2:
                    continue
                tag, value = None, None
                for xf, xw, xv in fields(vb):
                    if xf == 1 and xw == 2:
                        tag = xv.decode("utf-8")
                    elif xf == 2 and xw == 5:
                        (value,) = struct.unpack("<f", xv)
                if tag is not None and value is not None:
                    values.append((tag, value))
    return wall, step, version, values


def read_file(path):
    with open(path, "rb") as f:
        buf = f.read()
    recs, error = records(buf)
    result = {"file": path, "file_version": None, "error": None, "scalars": []}
    for i, (offset, data) in enumerate(recs):
        try:
            wall, step, version, values = decode_event(data)
        except ValueError as e:  # UnicodeDecodeError included
            error = "record %d at byte %d: not an Event: %s" % (i, offset, e)
            break
        if version is not None:
            result["file_version"] = version
        for tag, value in values:
            result["scalars"].append({"tag": tag, "step": step, "wall_time": wall, "value": repr(value)})
    result["error"] = error
    return result


def main(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            for name in sorted(os.listdir(p)):
                if name.startswith("events.out.tfevents."):
                    files.append(read_file(os.path.join(p, name)))
        else:
            files.append(read_file(p))
    json.dump({"files": files}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
