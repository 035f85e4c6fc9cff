#!/usr/bin/python3
"""An exec provisioner for changeover, with servers as processes on this host.

The tests' example of the contract (docs/exec-provisioner.md): run as
    exec-provisioner.py --root DIR [--fail OPERATION] OPERATION
with one JSON object on stdin; prints one JSON object on stdout. Exit status 0 is success,
3 "not implemented", anything else a failure whose last stderr line the controller reports.

Followers live in DIR/<changeover>/ (Postgres: data/, postgres.log; Redis: redis.conf,
redis.pid, users.acl). Servers are started detached (a session of their own, stdin from
/dev/null, output to a log file) so that this script exits while they run on; their PIDs are
kept in DIR/pids/. Postgres runs as the postgres user (setpriv) when this runs as root. Every
operation is idempotent. DIR/calls.log lists the operations run, one per line.
"""
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time

PG_USER = "postgres"


def fail(message, status=1):
    print(message, file=sys.stderr)
    sys.exit(status)


def as_postgres(argv):
    if os.getuid() == 0:
        return ["setpriv", f"--reuid={PG_USER}", f"--regid={PG_USER}", "--init-groups"] + argv
    return argv


def chown_postgres(path):
    if os.getuid() == 0:
        pw = pwd.getpwnam(PG_USER)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def alive(pid):
    """A process that exists and is not a zombie (servers are reparented to a subreaper that may
    not have reaped them yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def accepts(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def kill_matching(text):
    """SIGKILL to every process whose command line contains `text` (a killed controller's base backup)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command_line = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in command_line:
            try:
                os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def detach(argv, log, pid_name, root, env=None):
    """Starts a server that outlives this script: new session, no terminal, output to `log`."""
    os.makedirs(f"{root}/pids", exist_ok=True)
    with open(log, "ab") as out:
        os.chmod(log, 0o666)
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True, env=env, close_fds=True)
    with open(f"{root}/pids/{pid_name}", "w") as f:
        f.write(f"{process.pid}\n")
    return process.pid


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            fail(f"{what} within {timeout:.0f} s")
        time.sleep(0.005)


# Postgres ---------------------------------------------------------------------------------------

def pid_file(data):
    """postmaster.pid: PID, data directory, start time, port, socket dir, listen address, shm key, status."""
    try:
        with open(f"{data}/postmaster.pid") as f:
            lines = [line.strip() for line in f.read().split("\n")]
    except OSError:
        return None
    try:
        pid = int(lines[0])
    except (ValueError, IndexError):
        return None
    port = int(lines[3]) if len(lines) > 3 and lines[3].isdigit() else None
    status = lines[7] if len(lines) > 7 else ""
    return {"pid": pid, "port": port, "status": status}


def pg_running(data):
    """The postmaster runs and accepts connections ("ready", or "standby" for a hot standby)."""
    file = pid_file(data)
    return bool(file and alive(file["pid"]) and file["status"] in ("ready", "standby"))


def pg_stop(data, signal_number, timeout):
    file = pid_file(data)
    if not file or not alive(file["pid"]):
        return
    os.kill(file["pid"], signal_number)
    wait_until(lambda: pid_file(data) is None or not alive(file["pid"]), timeout,
               f"postgres (pid {file['pid']}) did not stop")


def pg_controldata(bin_directory, data):
    result = subprocess.run(as_postgres([f"{bin_directory}/pg_controldata", "-D", data]), capture_output=True,
                            text=True, env={**os.environ, "LC_ALL": "C"}, timeout=30)
    if result.returncode != 0:
        fail(f"pg_controldata failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}")
    values = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            values[key.strip()] = value.strip()
    return values


def data_directory(request):
    server = request.get("server") or {}
    data = server.get("dataDirectory") or (server.get("facts") or {}).get("dataDirectory")
    if not data:
        fail(f"{request['operation']}: the server has no data directory")
    return data


def bin_directory(request):
    return (request.get("image") or {}).get("binDirectory") or "/usr/lib/postgresql/15/bin"


def create_postgres(request, root):
    node = f"{root}/{request['changeover']}"
    data = f"{node}/data"
    if pg_running(data):  # made before an interruption: keep it
        return describe_postgres(request, root)
    # What an interrupted attempt left: a half-made copy is not worth finishing.
    kill_matching(f"--pgdata={data}")
    pg_stop(data, signal.SIGQUIT, 30)
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(node, exist_ok=True)
    os.chmod(node, 0o700)
    chown_postgres(node)
    source = request["source"]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10", "LC_ALL": "C"}
    if source.get("password"):
        env["PGPASSWORD"] = source["password"]
    binaries = bin_directory(request)
    backup = subprocess.run(as_postgres([
        f"{binaries}/pg_basebackup", f"--dbname={source['conninfo']}", f"--pgdata={data}", "--wal-method=stream",
        f"--slot={request['slot']}", "--write-recovery-conf", "--checkpoint=fast", "--no-password"]),
        capture_output=True, text=True, env=env, timeout=request.get("timeout") or 3600)
    if backup.returncode != 0:
        fail(f"pg_basebackup failed: {(backup.stderr.strip().splitlines() or ['?'])[-1]}")
    port = request.get("port") or free_port()
    # Per-node settings on the command line: pg_basebackup copied the primary's postgresql.conf.
    detach(as_postgres([f"{binaries}/postgres", "-D", data, "-p", str(port), "-k", node,
                        "-c", "listen_addresses=127.0.0.1", "-c", f"cluster_name={request['slot']}",
                        "-c", "hot_standby=on", "-c", "wal_retrieve_retry_interval=50ms",
                        "-c", "wal_receiver_status_interval=1s"]),
           f"{node}/postgres.log", request["changeover"], root)
    wait_until(lambda: pg_running(data), 60, f"the follower did not accept connections (see {node}/postgres.log)")
    return describe_postgres(request, root)


def describe_postgres(request, root):
    data = f"{root}/{request['changeover']}/data"
    file = pid_file(data)
    if not pg_running(data):
        return {"running": False}
    return {"running": True, "host": "127.0.0.1", "port": file["port"],
            "facts": {"dataDirectory": data, "pid": str(file["pid"]), "node": f"{root}/{request['changeover']}"}}


def start_postgres(request, root):
    """Starts a stopped server again with the command line it last ran with (postmaster.opts)."""
    data = data_directory(request)
    if pg_running(data):
        return {}
    with open(f"{data}/postmaster.opts") as f:
        argv = split_options(f.read())
    name = "restart-" + hashlib.sha256(data.encode()).hexdigest()[:12]
    log = request.get("log") or f"{os.path.dirname(data)}/postgres.log"
    detach(as_postgres(argv), log, name, root)
    wait_until(lambda: pg_running(data), request.get("timeout") or 60, f"postgres did not accept connections (see {log})")
    return {}


def split_options(text):
    """postmaster.opts: `/path/postgres "-D" "/data" "-p" "5432"`."""
    args, current, quoted, in_token = [], "", False, False
    for ch in text.strip():
        if ch == '"':
            quoted, in_token = not quoted, True
        elif ch == " " and not quoted:
            if in_token:
                args.append(current)
            current, in_token = "", False
        else:
            current, in_token = current + ch, True
    if in_token:
        args.append(current)
    return args


# Redis ------------------------------------------------------------------------------------------

def redis_pid(node):
    try:
        with open(f"{node}/redis.pid") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def redis_port(node):
    try:
        with open(f"{node}/redis.conf") as f:
            for line in f:
                if line.startswith("port "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def redis_running(node):
    pid, port = redis_pid(node), redis_port(node)
    return bool(pid and alive(pid) and port and accepts("127.0.0.1", port))


def redis_stop(node, timeout):
    pid = redis_pid(node)
    if pid and alive(pid):
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not alive(pid), timeout, f"redis-server (pid {pid}) did not stop")


def create_redis(request, root):
    node = f"{root}/{request['changeover']}"
    if redis_running(node):
        return describe_redis(request, root)
    redis_stop(node, 30)
    shutil.rmtree(node, ignore_errors=True)
    os.makedirs(node, mode=0o700)
    port = request.get("port") or free_port()
    lines = [f"port {port}", "bind 127.0.0.1", "daemonize no", f'dir "{node}"', f'pidfile "{node}/redis.pid"',
             f'logfile "{node}/redis.log"']
    lines += [f"{key} {value}" for key, value in request.get("settings") or []]
    if request.get("acl"):
        descriptor = os.open(f"{node}/users.acl", os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as f:
            f.write(request["acl"])
        lines.append(f'aclfile "{node}/users.acl"')
    # The config holds passwords (masterauth): 0600, and never on a command line.
    descriptor = os.open(f"{node}/redis.conf", os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as f:
        f.write("\n".join(lines) + "\n")
    binaries = (request.get("image") or {}).get("binDirectory") or "/usr/bin"
    detach([f"{binaries}/redis-server", f"{node}/redis.conf"], f"{node}/redis.out", request["changeover"], root)
    wait_until(lambda: redis_running(node), 30, f"redis-server did not listen on port {port} (see {node}/redis.log)")
    return describe_redis(request, root)


def describe_redis(request, root):
    node = f"{root}/{request['changeover']}"
    if not redis_running(node):
        return {"running": False}
    return {"running": True, "host": "127.0.0.1", "port": redis_port(node),
            "facts": {"node": node, "pid": str(redis_pid(node))}}


# Operations -------------------------------------------------------------------------------------

def describe_image(request, root):
    image = request["image"]
    engine = request["engine"]
    binaries = image.get("binDirectory") or ("/usr/lib/postgresql/15/bin" if engine == "postgres" else "/usr/bin")
    server = "postgres" if engine == "postgres" else "redis-server"
    output = subprocess.run([f"{binaries}/{server}", "--version"], capture_output=True, text=True, timeout=30).stdout
    if engine == "postgres":
        version = next((w for w in output.split() if w[:1].isdigit() and "." in w), None)
    else:
        version = output.split("v=", 1)[1].split()[0] if "v=" in output else None
    libc6 = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libc6"], capture_output=True, text=True).stdout
    labels = image.get("labels") or {}
    # An image here is a bin directory and a tag: the Id is made of both.
    identity = f"{binaries}|{labels.get('tag', image['name'])}"
    return {"id": "local:" + hashlib.sha256(identity.encode()).hexdigest()[:16], "version": version,
            "facts": {"tag": labels.get("tag", image["name"]), "libc6": libc6 or "unknown", "binDirectory": binaries}}


def check(request, root):
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as error:
        return {"ok": False, "message": f"cannot make {root}: {error.strerror}"}
    port = request.get("port")
    if port and accepts("127.0.0.1", port):
        return {"ok": False, "message": f"follower port {port} is in use"}
    return {"ok": True, "message": f"followers under {root}"}


def destroy(request, root):
    node = f"{root}/{request['changeover']}"
    kill_matching(f"--pgdata={node}/data")
    pg_stop(f"{node}/data", signal.SIGQUIT, 60)
    redis_stop(node, 60)
    shutil.rmtree(node, ignore_errors=True)
    try:
        os.unlink(f"{root}/pids/{request['changeover']}")
    except OSError:
        pass
    return {}


def status(request, root):
    if request["engine"] == "postgres":
        return {"running": pg_running(data_directory(request))}
    server = request["server"]
    return {"running": accepts(server["host"], server["port"])}


def stop(request, root):
    data = data_directory(request)
    signal_number = {"fast": signal.SIGINT, "smart": signal.SIGTERM}.get(request.get("mode"), signal.SIGQUIT)
    pg_stop(data, signal_number, request.get("timeout") or 60)
    return {"controlData": pg_controldata(bin_directory(request), data)}


def drop_slot(request, root):
    data = data_directory(request)
    if pg_running(data):
        fail(f"the server on {data} runs; a slot of a running server is dropped with SQL")
    shutil.rmtree(f"{data}/pg_replslot/{request['slot']}", ignore_errors=True)
    return {}


def retire(request, root):
    """A node this script made is removed once its server is down; anything else is its owner's."""
    server = request.get("server") or {}
    if request["engine"] == "postgres":
        node = os.path.dirname(data_directory(request))
        if pg_running(f"{node}/data"):
            fail(f"the old primary in {node} runs again; it was not retired")
    else:
        node = next((f"{root}/{name}" for name in sorted(os.listdir(root))
                     if redis_port(f"{root}/{name}") == server.get("port")), None) if os.path.isdir(root) else None
        if node:
            redis_stop(node, 30)
    if node and os.path.dirname(node) == root and os.path.isdir(node):
        shutil.rmtree(node, ignore_errors=True)
        return {"message": f"removed {node}"}
    return {"message": "the old primary is left to its owner"}


OPERATIONS = {
    "check": check, "describe-image": describe_image, "destroy": destroy, "status": status, "stop": stop,
    "controldata": lambda request, root: {"controlData": pg_controldata(bin_directory(request), data_directory(request))},
    "start": start_postgres, "drop-slot": drop_slot, "retire": retire,
    "create": lambda request, root: (create_postgres if request["engine"] == "postgres" else create_redis)(request, root),
    "describe": lambda request, root: (describe_postgres if request["engine"] == "postgres" else describe_redis)(request, root),
}


def main():
    args = sys.argv[1:]
    root, failing = None, None
    while len(args) > 1:
        if args[0] == "--root":
            root, args = args[1], args[2:]
        elif args[0] == "--fail":
            failing, args = args[1], args[2:]
        else:
            break
    if root is None or len(args) != 1:
        fail("usage: exec-provisioner.py --root DIR [--fail OPERATION] OPERATION", 2)
    operation = args[0]
    request = json.load(sys.stdin)
    os.makedirs(root, exist_ok=True)
    with open(f"{root}/calls.log", "a") as log:
        log.write(f"{operation} {request.get('role', '')}\n".rstrip() + "\n")
    if operation == failing:
        # Echoes the password it was given, as a careless script would: the controller masks it.
        secret = (request.get("source") or {}).get("password", "")
        fail(f"{operation} refused by the test (password {secret})")
    handler = OPERATIONS.get(operation)
    if handler is None:
        fail(f"unknown operation {operation}", 3)
    print(json.dumps(handler(request, root)))


if __name__ == "__main__":
    main()
