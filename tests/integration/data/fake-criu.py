#!/usr/bin/env python3
"""A stand-in for `criu swrk FD` (the real criu cannot dump on every kernel).

Speaks criu's RPC (one protobuf criu_req/criu_resp per SOCK_SEQPACKET message,
rpc.proto), hand-coded for the few fields used. Each request is appended as one
JSON line to $FAKE_CRIU_LOG (default: requests.jsonl next to this script). DUMP writes `fake-dump` into the images dir (and kills the
dumped pid unless leave_running);
RESTORE starts `sleep` (or $FAKE_CRIU_CMD) as the "restored" process, sends the
post-restore notify with its pid, then the RESTORE response, and exits without
waiting (the process is reparented to the runtime, a subreaper). RESTORE fails
when the images dir has no `fake-dump`.
"""
import json, os, shlex, socket, struct, subprocess, sys, time

def varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7F) << s; s += 7
        if not c & 0x80:
            return v, i

def fields(b):
    i, out = 0, []
    while i < len(b):
        k, i = varint(b, i)
        n, t = k >> 3, k & 7
        if t == 0:
            v, i = varint(b, i)
        elif t == 2:
            l, i = varint(b, i); v = b[i:i + l]; i += l
        elif t == 5:
            v = b[i:i + 4]; i += 4
        elif t == 1:
            v = b[i:i + 8]; i += 8
        else:
            raise ValueError(t)
        out.append((n, v))
    return out

def enc_varint(v):
    v &= (1 << 64) - 1
    out = b""
    while True:
        c = v & 0x7F; v >>= 7
        if v:
            out += bytes([c | 0x80])
        else:
            return out + bytes([c])

def f_int(n, v):
    return enc_varint(n << 3) + enc_varint(v)

def f_msg(n, b):
    return enc_varint(n << 3 | 2) + enc_varint(len(b)) + b

NAMES = {1: "DUMP", 2: "RESTORE", 6: "NOTIFY", 9: "FEATURE_CHECK", 10: "VERSION"}
BOOLS = {3: "leave_running", 4: "ext_unix_sk", 5: "tcp_established", 7: "shell_job",
         8: "file_locks", 12: "notify_scripts", 18: "link_remap", 24: "manage_cgroups",
         26: "rst_sibling", 50: "orphan_pts_master"}

def parse_opts(b):
    o = {"ext_mnt": {}, "inherit_fd": {}, "external": []}
    for n, v in fields(b):
        if n == 1:
            o["images_dir_fd"] = v
        elif n in BOOLS:
            o[BOOLS[n]] = bool(v)
        elif n == 13:
            o["root"] = v.decode()
        elif n == 10:
            o["log_file"] = v.decode()
        elif n == 17:
            o["work_dir_fd"] = v
        elif n == 34:
            o["manage_cgroups_mode"] = v
        elif n == 23:
            kv = dict(fields(v)); o["ext_mnt"][kv[1].decode()] = kv[2].decode()
        elif n == 27:
            kv = dict(fields(v)); o["inherit_fd"][kv[1].decode()] = kv[2]
        elif n == 37:
            o["external"].append(v.decode())
        elif n == 2:
            o["pid"] = v
    return o

def fd_path(pid, fd):
    try:
        return os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return None

def main():
    sk = socket.socket(fileno=int(sys.argv[2]))
    # Like criu's service: images/work dir fds are the requester's
    # (/proc/PEER/fd/N), inherit_fd ones are criu's own.
    peer = struct.unpack("3i", sk.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
    req = fields(sk.recv(1 << 20))
    typ = next(v for n, v in req if n == 1)
    opts = next((parse_opts(v) for n, v in req if n == 2), {})
    rec = {"type": NAMES.get(typ, typ), **opts}
    if "images_dir_fd" in opts:
        rec["images_dir"] = fd_path(peer, opts["images_dir_fd"])
    if "work_dir_fd" in opts:
        rec["work_dir"] = fd_path(peer, opts["work_dir_fd"])
    # Whether the inherit_fd descriptors are really open in criu.
    rec["inherit_fd_open"] = {k: fd_path("self", v) is not None for k, v in opts.get("inherit_fd", {}).items()}
    log = os.environ.get("FAKE_CRIU_LOG") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "requests.jsonl")
    with open(log, "a") as f:
        f.write(json.dumps(rec) + "\n")
    if typ == 10:  # VERSION: 3.17.1
        sk.send(f_int(1, 10) + f_int(2, 1) + f_msg(10, f_int(1, 3) + f_int(2, 17) + f_int(4, 1)))
        return
    images = rec.get("images_dir")
    if typ == 1:  # DUMP
        with open(os.path.join(images, "fake-dump"), "w") as f:
            f.write(str(opts.get("pid")))
        if not opts.get("leave_running") and opts.get("pid"):
            os.kill(opts["pid"], 9)  # criu kills a dumped tree, and waits
            for _ in range(500):
                try:
                    with open(f"/proc/{opts['pid']}/stat") as f:
                        if f.read().rsplit(")", 1)[1].split()[0] in "ZX":
                            break
                except OSError:
                    break
                time.sleep(0.01)
        sk.send(f_int(1, 1) + f_int(2, 1) + f_msg(3, f_int(1, 0)))
        return
    if typ == 2:  # RESTORE
        if not images or not os.path.exists(os.path.join(images, "fake-dump")):
            sk.send(f_int(1, 2) + f_int(2, 0) + f_int(7, 2))
            return
        cmd = shlex.split(os.environ.get("FAKE_CRIU_CMD", "sleep 1000"))
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True)
        sk.send(f_int(1, 6) + f_int(2, 1) + f_msg(5, f_msg(1, b"post-restore") + f_int(2, p.pid)))
        ack = dict(fields(sk.recv(1 << 16)))
        if not ack.get(3):
            p.kill()
            sk.send(f_int(1, 2) + f_int(2, 0))
            return
        sk.send(f_int(1, 2) + f_int(2, 1) + f_msg(4, f_int(1, p.pid)))
        return
    sk.send(f_int(1, typ) + f_int(2, 0))

main()
