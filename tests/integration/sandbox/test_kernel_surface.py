"""From inside a real sandbox: what agp's seccomp profile, the bridge's prctl and the CPU quota refuse.

Each probe runs as the agent (uid 10001, no capabilities) in a DockerSandbox made exactly as
`agp run` makes it. The same probe runs once more in a control container that differs only in
its seccomp profile (Docker's default), so each refusal is shown to come from agp's profile and
not from something else that happens to refuse it on this host.
"""

from __future__ import annotations

import json
import time

import pytest

from agp.sandbox.docker import LABEL_RUN, DockerSandbox

pytestmark = pytest.mark.docker

#: runs inside: python3 -I -S -c PROBE <target pid> <second target pid>; prints one JSON object {what: "ok" | errno name}
PROBE = r"""
import ctypes, errno, json, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
target, target2 = int(sys.argv[1]), int(sys.argv[2])
out = {}

def sysc(name, nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    out[name] = "ok" if r >= 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
    return r

for name, fam, typ in (("AF_UNIX", 1, 1), ("AF_INET", 2, 1), ("AF_INET6", 10, 1), ("AF_VSOCK", 40, 1),
                       ("AF_NETLINK", 16, 3), ("AF_NETLINK_DGRAM", 16, 2), ("AF_PACKET", 17, 2),
                       ("AF_ALG", 38, 5), ("AF_KEY", 15, 3), ("AF_BLUETOOTH", 31, 1), ("AF_XDP", 44, 3)):
    try:
        socket.socket(fam, typ).close()
        out[name] = "ok"
    except OSError as e:
        out[name] = errno.errorcode.get(e.errno, str(e.errno))

params = ctypes.create_string_buffer(120)
fd = sysc("io_uring_setup", 425, 4, ctypes.addressof(params))
if fd >= 0:
    os.close(fd)
sysc("io_uring_enter", 426, -1, 0, 0, 0, 0, 0)
sysc("io_uring_register", 427, -1, 0, 0, 0)
# ptrace of same-uid processes that are not our children (x86_64 numbers); the tracing ends when we exit
sysc("ptrace_seize", 101, 0x4206, target, 0, 0)
sysc("ptrace_attach", 101, 16, target2, 0, 0)
buf = ctypes.create_string_buffer(8)
local = (ctypes.c_void_p * 2)(ctypes.addressof(buf), 8)
remote = (ctypes.c_void_p * 2)(0x400000, 8)
sysc("process_vm_readv", 310, target, ctypes.addressof(local), 1, ctypes.addressof(remote), 1, 0)
sysc("process_vm_writev", 311, target, ctypes.addressof(local), 1, ctypes.addressof(remote), 1, 0)
sysc("kcmp", 312, os.getpid(), target, 0, 0, 0)
pidfd = sysc("pidfd_open", 434, target, 0)
sysc("pidfd_getfd", 438, pidfd if pidfd >= 0 else -1, 0, 0)
for what, fn in (("proc_fd", lambda: os.listdir("/proc/%d/fd" % target)),
                 ("proc_mem", lambda: os.close(os.open("/proc/%d/mem" % target, os.O_RDONLY)))):
    try:
        fn()
        out[what] = "ok"
    except OSError as e:
        out[what] = errno.errorcode.get(e.errno, str(e.errno))
print(json.dumps(out))
"""

REFUSED_BY_AGP = ("AF_VSOCK", "AF_NETLINK", "AF_NETLINK_DGRAM", "AF_ALG", "AF_KEY", "AF_BLUETOOTH", "AF_XDP",
                  "io_uring_setup", "io_uring_enter", "io_uring_register", "ptrace_attach", "ptrace_seize",
                  "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd")


def _victim_pid(sb: DockerSandbox, marker: str) -> int:
    """The in-container pid of the process whose command line contains ``marker`` (not a child of the probe)."""
    src = ("import os, sys\n"
           "for p in os.listdir('/proc'):\n"
           "    if p.isdigit():\n"
           "        try: c = open('/proc/%s/cmdline' % p, 'rb').read()\n"
           "        except OSError: continue\n"
           "        if sys.argv[1].encode() in c and b'import os, sys' not in c: print(p)\n")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = sb.exec(["python3", "-I", "-S", "-c", src, marker])
        pids = r.stdout.split()
        if pids:
            return int(pids[0])
        time.sleep(0.1)
    raise AssertionError(f"no process with {marker!r} in its command line")


def _probe(sb: DockerSandbox, target: int, target2: int | None = None) -> dict:
    r = sb.exec(["python3", "-I", "-S", "-c", PROBE, str(target), str(target2 or target)], timeout=30)
    assert r.exit_code == 0, r.stderr.decode()
    return json.loads(r.stdout)


def _control_probe(docker_client, image_id: str, run_id: str) -> dict:
    """The same probe in a container that differs only in its seccomp profile (Docker's default)."""
    c = docker_client.containers.run(
        image_id, ["sh", "-c", "sleep 60 & a=$!; sleep 61 & sleep 0.2; python3 -I -S -c \"$0\" $a $!", PROBE], user="10001:10001",
        network_mode="none", cap_drop=["ALL"], security_opt=["no-new-privileges"], read_only=True,
        labels={LABEL_RUN: run_id}, detach=True)
    try:
        assert c.wait(timeout=60)["StatusCode"] == 0, c.logs()
        return json.loads(c.logs(stdout=True, stderr=False).decode().strip().splitlines()[-1])
    finally:
        c.remove(force=True)


def test_the_profile_refuses_the_kernel_surface_that_dockers_default_allows(docker_client, spec_for, run_id,
                                                                              reference_image):
    with DockerSandbox(spec_for(), client=docker_client) as sb:
        pre = sb.preflight()
        assert pre.seccomp == "2" and pre.families["AF_VSOCK"]["created"] is False
        assert pre.families["AF_NETLINK"] == {"created": False, "errno": "EPERM"}
        # same uid, started by other execs: not the probe's children
        victims = [sb.exec_stream(["sleep", "301"]), sb.exec_stream(["sleep", "302"])]
        try:
            seen = _probe(sb, _victim_pid(sb, "301"), _victim_pid(sb, "302"))
        finally:
            for v in victims:
                v.kill()
    control = _control_probe(docker_client, reference_image.id, run_id)
    for name in ("AF_UNIX", "AF_INET", "AF_INET6"):
        assert seen[name] == "ok", (name, seen)
    for name in REFUSED_BY_AGP:
        assert seen[name] == "EPERM", (name, seen)
    assert seen["AF_PACKET"] == "EPERM"  # refused by the profile (and by the missing CAP_NET_RAW)
    # the control shows that the refusals above are the profile's doing: Docker's default allows these
    assert control["AF_NETLINK"] == "ok" and control["AF_NETLINK_DGRAM"] == "ok", control
    assert control["AF_VSOCK"] != "EPERM", control  # created, or EAFNOSUPPORT where the host has no vsock
    assert control["ptrace_seize"] == "ok" and control["ptrace_attach"] == "ok", control
    assert control["io_uring_setup"] in ("ok", "ENOSYS"), control  # ENOSYS: a kernel built without io_uring
    assert control["io_uring_enter"] != "EPERM" and control["io_uring_register"] != "EPERM", control
    # Docker's default refuses these only for want of CAP_SYS_PTRACE; agp's profile refuses them outright
    for name in ("process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd"):
        assert control[name] == "EPERM", (name, control)
    assert control["proc_fd"] == "ok" and control["proc_mem"] == "ok", control
    # not a seccomp matter: a same-uid process that stays dumpable (the harness) is still open to the probe;
    # the bridge makes itself non-dumpable (next test), and README's limits say what this leaves
    assert seen["proc_fd"] == "ok" and seen["proc_mem"] == "ok", seen


def test_a_running_bridge_cannot_be_opened_by_another_process_of_its_uid(docker_client, spec_for, run_dirs):
    from intendants._launch import bridge_files

    ws, _sock = run_dirs
    bridge = ws / "agp-bridge" / "bridge.py"
    for path, content in bridge_files("claude-code", str(bridge)).items():
        p = ws / "agp-bridge" / path.rsplit("/agp-bridge/", 1)[1]
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)
    with DockerSandbox(spec_for(), client=docker_client) as sb:
        # a real bridge, as the harness starts it; its stdin stays open, so it waits for the hook input
        proc = sb.exec_stream(["python3", "-I", "-S", "/workspace/agp-bridge/bridge.py", "--socket",
                               "/run/agp/gate.sock", "--deadline", "60"], keep_stdin_open=True)
        try:
            pid = _victim_pid(sb, "agp-bridge/bridge.py")
            deadline = time.monotonic() + 10
            while True:  # past prctl once its fd directory belongs to root
                st = sb.exec(["stat", "-c", "%u", f"/proc/{pid}/fd"]).stdout.strip()
                if st == b"0" or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            seen = _probe(sb, pid)
            assert seen["proc_fd"] == "EACCES", seen
            assert seen["proc_mem"] == "EACCES", seen
            r = sb.exec(["sh", "-c", f"cat /proc/{pid}/fd/1 </dev/null; echo rc=$?"])
            assert b"Permission denied" in r.stdout + r.stderr, r
            proc.write(json.dumps({"session_id": "s", "cwd": "/workspace", "hook_event_name": "PreToolUse",
                                   "tool_name": "Bash", "tool_input": {"command": "ls"}}).encode())
            proc.close_stdin()
            out = b"".join(d for _s, d in proc.frames(timeout=30))
            assert b"the gate is not reachable" in out, out  # it still answers, with the deny dialect
        finally:
            proc.kill()


@pytest.mark.parametrize("cpus", [0.75, 1.5])
def test_the_cpu_quota_is_set_in_the_sandboxs_cgroup(docker_client, spec_for, cpus):
    with DockerSandbox(spec_for(cpus=cpus), client=docker_client) as sb:
        r = sb.exec(["sh", "-c", "cat /sys/fs/cgroup/cpu.max 2>/dev/null || "
                                 "echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"])
        quota, period = r.stdout.decode().split()
        assert quota != "max" and int(quota) > 0, r.stdout
        assert int(quota) / int(period) == pytest.approx(cpus), r.stdout


#: runs inside: python3 -I -S -c I386 socketcall|socket; makes one 32-bit x86 syscall (int 0x80) asking for an
#: AF_VSOCK socket and prints "fd" or the errno name; a filter that refuses the 32-bit ABI kills it (SIGSYS)
I386 = r"""
import ctypes, errno, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
page = libc.mmap(None, 4096, 7, 0x02 | 0x20 | 0x40, -1, 0)  # RWX, private, anonymous, MAP_32BIT
assert page and page < 2**32, page
args = page + 2048
ctypes.memmove(args, struct.pack("<III", 40, 1, 0), 12)
if sys.argv[1] == "socketcall":  # push rbx; eax=102 socketcall; ebx=1 SYS_SOCKET; ecx=args; int 0x80; pop rbx; ret
    code = b"\x53\xb8\x66\x00\x00\x00\xbb\x01\x00\x00\x00\xb9" + struct.pack("<I", args) + b"\xcd\x80\x5b\xc3"
else:  # push rbx; eax=359 socket; ebx=40 AF_VSOCK; ecx=1 SOCK_STREAM; edx=0; int 0x80; pop rbx; ret
    code = b"\x53\xb8\x67\x01\x00\x00\xbb\x28\x00\x00\x00\xb9\x01\x00\x00\x00\xba\x00\x00\x00\x00\xcd\x80\x5b\xc3"
ctypes.memmove(page, code, len(code))
r = ctypes.CFUNCTYPE(ctypes.c_int)(page)()
print("fd" if r >= 0 else errno.errorcode.get(-r, str(-r)))
"""


@pytest.mark.parametrize("call", ["socketcall", "socket"])
def test_a_32bit_syscall_cannot_create_the_socket_the_64bit_one_cannot(docker_client, spec_for, run_id,
                                                                       reference_image, call):
    """libseccomp turns socket() rules with a family condition into an unconditional socketcall rule for
    32-bit x86, so the profile refuses the 32-bit ABI outright: the process is killed (SIGSYS)."""
    c = docker_client.containers.run(
        reference_image.id, ["python3", "-I", "-S", "-c", I386, call], user="10001:10001", network_mode="none",
        cap_drop=["ALL"], security_opt=["no-new-privileges"], read_only=True, labels={LABEL_RUN: run_id},
        detach=True)
    try:
        assert c.wait(timeout=60)["StatusCode"] == 0, c.logs()
        control = c.logs(stdout=True, stderr=False).decode().strip()
    finally:
        c.remove(force=True)
    if control == "ENOSYS":
        pytest.skip("this kernel has no 32-bit x86 syscall emulation: nothing to refuse")
    assert control == "fd", "under Docker's default profile the 32-bit call creates an AF_VSOCK socket"
    with DockerSandbox(spec_for(), client=docker_client) as sb:
        r = sb.exec(["sh", "-c", 'python3 -I -S -c "$0" "$1"; echo "exit=$?"', I386, call], timeout=30)
    out = r.stdout.decode()
    assert "fd" not in out.split(), out
    assert "exit=159" in out, out  # 128 + SIGSYS: the filter killed it before the kernel made a socket
