"""Peer benchmark: Label Studio 1.23.2 importing and exporting the file that bench/import_export.py uses.

    python bench/peers/label_studio.py [--chains 50000] [--skip-export] [--skip-direct-export] \
        [--ui-import] [--no-ours]

Label Studio runs in its own virtual environment (bench/out/peers/label-studio-venv, created and
`pip install label-studio==1.23.2` on first use), on PostgreSQL, as `label-studio start` serves it
(Django's runserver: one process, a thread per request). The first run migrates a template database
(`ls_bench_template`) and creates a user with a legacy API token in it; every run copies it to
`ls_bench`, creates a project and, timed as a user's HTTP client sees it:

1. import: `POST /api/projects/<id>/import` with the file as multipart upload, from the first byte sent
   to the answer (the Community edition imports within the request; a count in the database right
   after confirms every task is there, else the clock would run on until it is);
2. export: a snapshot (`POST /api/projects/<id>/exports/`, wait until it is completed, then download
   `/exports/<pk>/download?exportType=JSON`) until the last byte is on disk; then the direct
   `GET /api/projects/<id>/export?exportType=JSON&download_all_tasks=true`;
3. with --ui-import, the web UI's import into a second project: upload with commit_to_project=false,
   then POST /reimport.

Unless --no-ours, our own bench (bench/import_export.py --no-docs, on database `ls_bench_stepwise`)
runs first on the same file, so the ratio comes from one run. Prints one JSON line on stdout; progress
goes to stderr. The server is stopped, and `ls_bench` dropped, whatever happens.
"""

import argparse
import atexit
import contextlib
import ctypes
import datetime
import hashlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
OUT = BENCH / "out"
PEERS = OUT / "peers"
VENV = PEERS / "label-studio-venv"
DATA_DIR = PEERS / "label-studio-data"
VERSION = "1.23.2"
DB = "ls_bench"
TEMPLATE_DB = "ls_bench_template"
OURS_DB = "ls_bench_stepwise"
USER_EMAIL = "bench@localhost"
# Label Studio's DATA_UPLOAD_MAX_MEMORY_SIZE (250 MiB by default; also its TASKS_MAX_FILE_SIZE) must
# exceed the request: its ContextLogMiddleware reads `request.body` whole for every request, so a larger
# upload fails with a 500 ("You cannot access body after reading from request's data stream"). The
# 50,000-chain file is 415 MiB; a user with such a file raises the limit, as the bench does. The body is
# then held in memory (and decoded once more) besides the copy the upload parser writes to disk.
UPLOAD_LIMIT = 1 << 30
HTTP_TIMEOUT = 7200.0  # seconds one request may take; the 50,000-chain export takes about a minute
CHUNK = 1 << 20

# What a ProcessBench chain looks like to an annotator: the problem, then each step with a
# correct/incorrect choice (Repeater: one Text and one Choices per element of `steps`).
LABEL_CONFIG = """<View>
  <Header value="Problem"/>
  <Text name="problem" value="$problem"/>
  <Header value="Steps"/>
  <Repeater on="$steps" indexFlag="{{idx}}">
    <Text name="step_{{idx}}" value="$steps[{{idx}}]"/>
    <Choices name="rating_{{idx}}" toName="step_{{idx}}" choice="single" showInline="true">
      <Choice value="correct"/>
      <Choice value="incorrect"/>
    </Choices>
  </Repeater>
</View>
"""

# Run by the venv's Python: psycopg comes with Label Studio, so this script needs nothing beyond the stdlib.
_SQL = """
import json, sys
import psycopg
args = json.loads(sys.argv[1])
try:
    conn = psycopg.connect(autocommit=True, **args["connect"])
except psycopg.OperationalError as exc:
    sys.exit(f"cannot connect to PostgreSQL: {exc}")
with conn:
    rows = None
    for statement, params in args["statements"]:
        cursor = conn.execute(statement, params)
        rows = cursor.fetchall() if cursor.description else None
print(json.dumps(rows, default=str))
"""


class BenchError(RuntimeError):
    """Something the bench needs is missing or went wrong; the message says what and how to fix it."""


def log(message: str) -> None:
    print(f"[label-studio] {message}", file=sys.stderr, flush=True)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def pg_settings() -> dict:
    """Where PostgreSQL is: the libpq variables if set, else this machine's server."""
    return {"host": os.environ.get("PGHOST", "127.0.0.1"), "port": int(os.environ.get("PGPORT", "5432")),
            "user": os.environ.get("PGUSER", "postgres"), "password": os.environ.get("PGPASSWORD", "")}


# --- Label Studio's virtual environment ------------------------------------------------------------

def venv_python() -> Path:
    return VENV / "bin" / "python"


def _installed_version() -> str | None:
    if not venv_python().exists():
        return None
    probe = "import importlib.metadata as m; print(m.version('label-studio'))"
    done = subprocess.run([str(venv_python()), "-c", probe], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_venv() -> str:
    """Create the venv and install label-studio==VERSION in it unless it is there; return the version."""
    installed = _installed_version()
    if installed == VERSION:
        return installed
    PEERS.mkdir(parents=True, exist_ok=True)
    if not venv_python().exists():
        log(f"creating {VENV.relative_to(ROOT)}")
        done = subprocess.run([sys.executable, "-m", "venv", str(VENV)], capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise BenchError(f"could not create a venv at {VENV} with {sys.executable}: "
                             f"{done.stderr.strip()}\nOn Debian the venv module comes with python3.11-venv.")
    pip_log = PEERS / "pip-install.log"
    log(f"pip install label-studio=={VERSION} (found {installed or 'none'}; takes a few minutes; log in "
        f"{pip_log.relative_to(ROOT)})")
    with pip_log.open("w") as handle:
        done = subprocess.run([str(venv_python()), "-m", "pip", "install", f"label-studio=={VERSION}"],
                              stdout=handle, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0 or _installed_version() != VERSION:
        raise BenchError(f"pip could not install label-studio=={VERSION} into {VENV} "
                         f"(exit {done.returncode}); the end of {pip_log}:\n{_tail(pip_log)}")
    return VERSION


# --- PostgreSQL ------------------------------------------------------------------------------------

def sql(dbname: str, *statements: str | tuple[str, list]) -> list | None:
    """Run statements in autocommit on `dbname` through the venv's psycopg; the last one's rows."""
    args = {"connect": {**pg_settings(), "dbname": dbname},
            "statements": [s if isinstance(s, tuple) else (s, None) for s in statements]}
    done = subprocess.run([str(venv_python()), "-c", _SQL, json.dumps(args)], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        pg = pg_settings()
        raise BenchError(f"PostgreSQL at {pg['host']}:{pg['port']} as {pg['user']}, database {dbname}: "
                         f"{done.stderr.strip()[-800:]}\n"
                         "(set PGHOST/PGPORT/PGUSER/PGPASSWORD to point elsewhere)")
    return json.loads(done.stdout)


def _db_comment(name: str) -> str | None:
    rows = sql("postgres", ("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                            "WHERE datname = %s", [name]))
    return rows[0][0] if rows else None


def ls_env(dbname: str) -> dict:
    """The whole environment of a Label Studio process: nothing inherited (it reads DEBUG, HOST, PORT,
    USERNAME... unprefixed), and nothing that would send data off this machine."""
    pg = pg_settings()
    env = {
        "PATH": f"{VENV / 'bin'}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
        "HOME": str(DATA_DIR / "home"),
        "LABEL_STUDIO_BASE_DATA_DIR": str(DATA_DIR),
        "DJANGO_DB": "default", "POSTGRE_NAME": dbname, "POSTGRE_USER": pg["user"],
        "POSTGRE_PASSWORD": pg["password"], "POSTGRE_HOST": pg["host"], "POSTGRE_PORT": str(pg["port"]),
        "DATA_UPLOAD_MAX_MEMORY_SIZE": str(UPLOAD_LIMIT),
        "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "", "COLLECT_ANALYTICS": "false",
        "LATEST_VERSION_CHECK": "false",
    }
    if "TMPDIR" in os.environ:  # where Django spools the upload
        env["TMPDIR"] = os.environ["TMPDIR"]
    return env


def ensure_template(version: str) -> None:
    """Migrate a template database once and create the bench user in it; reused while the version matches."""
    mark = f"label-studio {version}, migrated, user {USER_EMAIL}"
    if _db_comment(TEMPLATE_DB) == mark:
        return
    building = TEMPLATE_DB + "_building"
    log(f"migrating a fresh database for label-studio {version} (once; about a minute)")
    sql("postgres", f"DROP DATABASE IF EXISTS {building} WITH (FORCE)",
        f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)", f"CREATE DATABASE {building}")
    (DATA_DIR / "home").mkdir(parents=True, exist_ok=True)
    init_log = PEERS / "label-studio-init.log"
    with init_log.open("w") as handle:
        # The password is never used again: each run sets a fresh API token (legacy tokens are off by
        # default in 1.23 and need --enable-legacy-api-token, which the organisation keeps).
        done = subprocess.run([str(VENV / "bin" / "label-studio"), "init", "--quiet", "--data-dir",
                               str(DATA_DIR), "--username", USER_EMAIL,
                               "--password", secrets.token_urlsafe(16), "--enable-legacy-api-token"],
                              env=ls_env(building), stdout=handle, stderr=subprocess.STDOUT, check=False)
    users = sql(building, "SELECT count(*) FROM htx_user") if done.returncode == 0 else None
    if done.returncode != 0 or not users or users[0][0] != 1:
        raise BenchError(f"`label-studio init` failed (exit {done.returncode}); the end of {init_log}:\n"
                         f"{_tail(init_log)}")
    sql("postgres", f"COMMENT ON DATABASE {building} IS '{mark}'",
        f"ALTER DATABASE {building} RENAME TO {TEMPLATE_DB}")


def create_run_db() -> str:
    """A fresh copy of the template with a new API token; returns the token."""
    token = secrets.token_hex(20)  # the column is 40 characters
    sql("postgres", f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)",
        f"CREATE DATABASE {DB} TEMPLATE {TEMPLATE_DB}")
    sql(DB, ("UPDATE authtoken_token SET key = %s", [token]))
    return token


def drop_run_db() -> None:
    sql("postgres", f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    for sub in ("media", "export"):  # the upload's copy and the snapshots, useless without the database
        shutil.rmtree(DATA_DIR / sub, ignore_errors=True)


# --- the server process ----------------------------------------------------------------------------

def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the bench dies, even by SIGKILL (Linux prctl)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _proc_cpu(pid: int) -> float:
    """CPU seconds of a process: user, system, and of its waited-for children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`label-studio start` in its own session; stopped on exit from the block, at exit, and if we die."""

    def __init__(self, token: str):
        self.token = token
        self.port = _free_port()
        self.log_path = PEERS / "label-studio-server.log"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        with self.log_path.open("w") as handle:
            self.proc = subprocess.Popen(
                [str(VENV / "bin" / "label-studio"), "start", "--no-browser", "--internal-host", "127.0.0.1",
                 "--port", str(self.port), "--data-dir", str(DATA_DIR)],
                env=ls_env(DB), stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=_die_with_parent)
        atexit.register(self.stop)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"label-studio start exited with {self.proc.returncode}; the end of "
                                 f"{self.log_path}:\n{_tail(self.log_path)}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if self.request("GET", "/api/projects?page_size=1")[0] == 200:
                    return self
            time.sleep(0.5)
        self.stop()
        raise BenchError(f"Label Studio did not answer on port {self.port} within 300 s; see {self.log_path}")

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)

    # Memory and CPU of the server's processes (runserver is one; summed should it fork).
    def _pids(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == self.proc.pid:
                        pids.append(int(entry.name))
        return pids

    def reset_peak(self) -> None:
        """Linux: writing 5 to clear_refs resets the peak resident set (VmHWM) to the current one."""
        for pid in self._pids():
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")

    def rss_mb(self, field: str = "VmHWM") -> float:
        total = 0
        for pid in self._pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith(field + ":"):
                        total += int(line.split()[1])  # kB
        return round(total / 1024, 1)

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in self._pids():
            with contextlib.suppress(OSError):
                total += _proc_cpu(pid)
        return total

    # HTTP, as any client would speak it.
    def request(self, method: str, path: str, *, body=None, headers: dict | None = None,
                sink: Path | None = None) -> tuple[int, bytes | int]:
        """(status, body) or, with `sink` and a 200, (200, bytes written to sink)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HTTP_TIMEOUT)
        try:
            headers = {"Authorization": f"Token {self.token}", **(headers or {})}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            if sink is None or response.status != 200:
                return response.status, response.read()
            written = 0
            with sink.open("wb") as handle:
                while chunk := response.read(CHUNK):
                    handle.write(chunk)
                    written += len(chunk)
            return response.status, written
        finally:
            conn.close()

    def api(self, method: str, path: str, payload=None) -> dict:
        body = None if payload is None else json.dumps(payload).encode()
        status, data = self.request(method, path, body=body, headers={"Content-Type": "application/json"})
        if status not in (200, 201):
            raise BenchError(f"{method} {path} answered {status}: {data[:600]!r}")
        return json.loads(data)


class Meter:
    """Over a phase: the server's peak resident set and CPU seconds, its PostgreSQL backends' CPU, and
    the machine's load average as it began.

    Backends come and go with requests (Django closes the connection after each), so a thread samples
    their /proc counters every 0.2 s; a backend's last fraction of a sample before it exits is missed.
    """

    def __init__(self, server: Server):
        self.server = server
        self.backends: dict[int, tuple[float, float]] = {}  # pid -> (first, last) CPU seconds seen
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                with contextlib.suppress(OSError, ValueError):
                    if f" {DB} " not in (entry / "cmdline").read_bytes().decode(errors="replace"):
                        continue
                    cpu = _proc_cpu(int(entry.name))
                    first = self.backends.get(int(entry.name), (cpu, cpu))[0]
                    self.backends[int(entry.name)] = (first, cpu)
            if self.stopped.wait(0.2):
                return

    def __enter__(self) -> "Meter":
        self.load = os.getloadavg()[0]  # the machine is shared: how busy it was as the phase began
        self.server.reset_peak()
        self.cpu = self.server.cpu_seconds()
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join()
        self.cpu = self.server.cpu_seconds() - self.cpu

    def figures(self, phase: str) -> dict:
        # A backend first seen mid-phase had used some CPU before: counted from its first sample only.
        pg = sum(last - first for first, last in self.backends.values())
        return {f"{phase}_server_peak_rss_mb": self.server.rss_mb(),
                f"{phase}_server_cpu_seconds": round(self.cpu, 2),
                f"{phase}_postgres_cpu_seconds": round(pg, 2), f"{phase}_load_average": round(self.load, 1)}


# --- the timed phases ------------------------------------------------------------------------------

def _count_tasks(project_id: int) -> int:
    return sql(DB, ("SELECT count(*) FROM task WHERE project_id = %s", [project_id]))[0][0]


def _multipart(path: Path) -> tuple[dict, object]:
    """Headers and streamed body of a form upload of `path` as field `file`, as `curl -F file=@path`."""
    boundary = secrets.token_hex(16)
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
            "Content-Type: application/json\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body():
        yield head
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk
        yield tail

    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}",
               "Content-Length": str(len(head) + path.stat().st_size + len(tail))}
    return headers, body()


def _upload(server: Server, project_id: int, path: Path, query: str = "") -> dict:
    headers, body = _multipart(path)
    status, data = server.request("POST", f"/api/projects/{project_id}/import{query}", body=body,
                                  headers=headers)
    if status != 201:
        # Over DATA_UPLOAD_MAX_MEMORY_SIZE 1.23.2 answers 500 (see UPLOAD_LIMIT), not "Maximum total size".
        too_big = b"Maximum total size" in data or b"access body after reading" in data
        hint = f" (over DATA_UPLOAD_MAX_MEMORY_SIZE, {UPLOAD_LIMIT} bytes here?)" if too_big else ""
        raise BenchError(f"import answered {status}{hint}: {data[:800]!r}")
    reply = json.loads(data)
    if "task_count" not in reply:
        # An edition that imports in the background answers {"import": id}; this bench times the
        # Community edition, which imports within the request.
        raise BenchError(f"import answered {reply!r}: not the synchronous import of the Community edition")
    return reply


def _until_counted(project_id: int, expected: int, answered: float, start: float) -> tuple[int, float]:
    """The Community edition has committed the tasks before it answers: when a count right after the
    answer finds them all, the clock stops at the answer; else it runs on until they are there."""
    end = answered
    tasks = _count_tasks(project_id)
    while tasks < expected and time.perf_counter() - start < HTTP_TIMEOUT:
        time.sleep(0.5)
        tasks = _count_tasks(project_id)
        end = time.perf_counter()
    return tasks, end


def time_import(server: Server, project_id: int, path: Path) -> dict:
    """One `POST /import` with the file; the clock runs from the first byte sent until the tasks are in
    the database."""
    with Meter(server) as meter:
        start = time.perf_counter()
        reply = _upload(server, project_id, path)
        tasks, end = _until_counted(project_id, reply["task_count"], time.perf_counter(), start)
    return {"import_seconds": round(end - start, 2),
            "import_server_reported_seconds": round(reply["duration"], 2), "tasks": tasks,
            **meter.figures("import")}


def time_ui_import(server: Server, project_id: int, path: Path) -> dict:
    """What the web UI does: dropping the file uploads it with commit_to_project=false (stored and
    parsed, no task created), the Import button then posts its id to /reimport, which parses it again
    and creates the tasks."""
    with Meter(server) as meter:
        start = time.perf_counter()
        reply = _upload(server, project_id, path, "?commit_to_project=false")
        uploaded = time.perf_counter()
        commit = server.api("POST", f"/api/projects/{project_id}/reimport",
                            {"file_upload_ids": reply["file_upload_ids"], "files_as_tasks_list": True})
        tasks, end = _until_counted(project_id, commit["task_count"], time.perf_counter(), start)
    return {"ui_import_seconds": round(end - start, 2), "ui_upload_seconds": round(uploaded - start, 2),
            "ui_commit_seconds": round(end - uploaded, 2), "ui_tasks": tasks, **meter.figures("ui_import")}


def time_snapshot_export(server: Server, project_id: int, dest: Path) -> dict:
    """Create a snapshot of every task, wait until it is completed, download it as JSON."""
    with Meter(server) as meter:
        start = time.perf_counter()
        snapshot = server.api("POST", f"/api/projects/{project_id}/exports/", {"title": "bench"})
        while snapshot["status"] not in ("completed", "failed"):  # the Community edition answers when done
            time.sleep(0.2)
            snapshot = server.api("GET", f"/api/projects/{project_id}/exports/{snapshot['id']}")
        created = time.perf_counter()
        if snapshot["status"] != "completed":
            raise BenchError(f"the export snapshot failed: {snapshot!r}; see {server.log_path}")
        status, size = server.request("GET", f"/api/projects/{project_id}/exports/{snapshot['id']}/download"
                                      "?exportType=JSON", sink=dest)
        end = time.perf_counter()
    if status != 200:
        raise BenchError(f"downloading the snapshot answered {status}: {size!r}")
    return {"export_seconds": round(end - start, 2), "export_snapshot_seconds": round(created - start, 2),
            "export_download_seconds": round(end - created, 2), "export_bytes": size,
            **meter.figures("export")}


def time_direct_export(server: Server, project_id: int, dest: Path) -> dict:
    """The one-request export the UI's Export button calls, with every task (the UI sends only
    exportType, and so gets only tasks that have annotations: none here)."""
    with Meter(server) as meter:
        start = time.perf_counter()
        status, size = server.request("GET", f"/api/projects/{project_id}/export?exportType=JSON"
                                      "&download_all_tasks=true", sink=dest)
        end = time.perf_counter()
    if status != 200:
        raise BenchError(f"the direct export answered {status}: {size!r}")
    return {"export_direct_seconds": round(end - start, 2), "export_direct_bytes": size,
            **meter.figures("export_direct")}


def _digest(item) -> str:
    return hashlib.sha256(json.dumps(item, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def check_exports(source: Path, exports: dict[str, Path]) -> list[str]:
    """What differs between the input items and the exported tasks' data (empty when all is well)."""
    expected = Counter(_digest(item) for item in json.loads(source.read_bytes()))
    problems = []
    for name, path in exports.items():
        tasks = json.loads(path.read_bytes())
        got = Counter(_digest(task.get("data")) for task in tasks)
        if len(tasks) != expected.total():
            problems.append(f"{name}: {len(tasks)} tasks exported, {expected.total()} in the input")
        elif got != expected:
            problems.append(f"{name}: {(expected - got).total()} input items are not in the export as given")
        del tasks, got
    return problems


def run(path: Path, *, export: bool, direct_export: bool = True, ui_import: bool = False,
        check: bool = True) -> dict:
    """Import `path` into a fresh Label Studio project and (if `export`) export it; the figures as a dict.

    Sets up the venv and the template database when needed, starts and stops the server, drops its
    database. `direct_export` adds the one-request export after the snapshot; `ui_import` then imports
    the file again into a second project the way the web UI does. `check` compares the exports' task
    data with the input items, after the clocks.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise BenchError(f"no input file at {path}")
    version = ensure_venv()
    pg_version = sql("postgres", "SHOW server_version")[0][0]
    ensure_template(version)
    size = path.stat().st_size
    result = {"tool": "label-studio", "version": version, "server": "label-studio start (Django runserver)",
              "database": f"PostgreSQL {pg_version.split()[0]}", "input": path.name, "input_bytes": size,
              "settings": {"DATA_UPLOAD_MAX_MEMORY_SIZE": UPLOAD_LIMIT, "legacy API token": True}}
    exports: dict[str, Path] = {}
    token = create_run_db()
    try:
        log(f"starting label-studio {version} on database {DB}")
        with Server(token) as server:
            result["server_idle_rss_mb"] = server.rss_mb("VmRSS")
            project = server.api("POST", "/api/projects",
                                 {"title": "ProcessBench", "label_config": LABEL_CONFIG})
            log(f"importing {path.name} ({size / 2**20:.0f} MiB) into project {project['id']}")
            result.update(time_import(server, project["id"], path))
            log(f"import: {result['import_seconds']} s, {result['tasks']:,} tasks, "
                f"server peak {result['import_server_peak_rss_mb']:.0f} MB")
            if export:
                exports["snapshot"] = PEERS / "label-studio-export.snapshot.json"
                result.update(time_snapshot_export(server, project["id"], exports["snapshot"]))
                log(f"snapshot export: {result['export_seconds']} s (snapshot "
                    f"{result['export_snapshot_seconds']}, download {result['export_download_seconds']}), "
                    f"{result['export_bytes'] / 2**20:.0f} MiB")
            if export and direct_export:
                exports["direct"] = PEERS / "label-studio-export.direct.json"
                result.update(time_direct_export(server, project["id"], exports["direct"]))
                log(f"direct export: {result['export_direct_seconds']} s, "
                    f"{result['export_direct_bytes'] / 2**20:.0f} MiB")
            if ui_import:
                second = server.api("POST", "/api/projects",
                                    {"title": "ProcessBench UI", "label_config": LABEL_CONFIG})
                log(f"importing again into project {second['id']}, as the web UI does (upload, then commit)")
                result.update(time_ui_import(server, second["id"], path))
                log(f"UI import: {result['ui_import_seconds']} s (upload {result['ui_upload_seconds']}, "
                    f"commit {result['ui_commit_seconds']}), {result['ui_tasks']:,} tasks")
    finally:
        drop_run_db()
    if check and exports:
        log("checking the exports against the input (after the clocks)")
        result["check"] = check_exports(path, exports) or "ok"
    return result


# --- our own bench, in the same run ----------------------------------------------------------------

def run_ours(chains: int, steps: int, seed: int) -> dict:
    """bench/import_export.py on the same file (it finds it by the same name in bench/out/)."""
    pg = pg_settings()
    if not sql("postgres", ("SELECT 1 FROM pg_database WHERE datname = %s", [OURS_DB])):
        sql("postgres", f"CREATE DATABASE {OURS_DB}")
    auth = pg["user"] + (f":{pg['password']}" if pg["password"] else "")
    env = {**os.environ, "DATABASE_URL": f"postgres://{auth}@{pg['host']}:{pg['port']}/{OURS_DB}"}
    report_path = OUT / "report.json"
    report_path.unlink(missing_ok=True)
    log(f"our bench: bench/import_export.py --chains {chains} --no-docs on database {OURS_DB}")
    load = os.getloadavg()[0]
    done = subprocess.run([sys.executable, str(BENCH / "import_export.py"), "--chains", str(chains),
                           "--steps", str(steps), "--seed", str(seed), "--no-docs"],
                          env=env, stdout=sys.stderr, check=False)
    if done.returncode != 0 or not report_path.exists():
        raise BenchError(f"bench/import_export.py failed (exit {done.returncode}) under {sys.executable}; "
                         "run this with the project's venv and see its output above")
    report = json.loads(report_path.read_text())
    imp = report["import"]
    return {"import_seconds": imp["seconds"], "import_peak_rss_mb": imp["peak_mb"],
            "import_python_cpu_seconds": imp["python_cpu"], "import_postgres_cpu_seconds": imp["server_cpu"],
            "rows": imp["rows"],
            "export_seconds": {fmt: exp["seconds"] for fmt, exp in report["exports"].items()},
            "check": report["problems"] or "ok", "load_average": round(load, 1)}


def _on_signal(signum, frame) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chains", type=int, default=50000)
    parser.add_argument("--steps", type=int, default=40,
                        help="Mean steps per chain, as in bench/import_export.py.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-export", action="store_true", help="Time the import only.")
    parser.add_argument("--skip-direct-export", action="store_true", help="Time the snapshot export only.")
    parser.add_argument("--ui-import", action="store_true",
                        help="Also time the web UI's two-step import (upload, then commit), "
                             "into a second project.")
    parser.add_argument("--no-ours", action="store_true", help="Leave out our own bench (no ratio).")
    parser.add_argument("--no-check", action="store_true", help="Do not compare the exports with the input.")
    parser.add_argument("--reset", action="store_true",
                        help="Drop the template and our bench database and Label Studio's data first "
                             "(keeps the venv).")
    args = parser.parse_args()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)

    try:
        if args.reset:
            ensure_venv()
            sql("postgres", f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)",
                f"DROP DATABASE IF EXISTS {OURS_DB} WITH (FORCE)")
            shutil.rmtree(DATA_DIR, ignore_errors=True)
        source = OUT / f"processbench_{args.chains}x{args.steps}_s{args.seed}.json"
        if not source.exists():
            sys.path.insert(0, str(BENCH))
            from import_export import generate  # stdlib only at its top level; the same generator and seed

            OUT.mkdir(parents=True, exist_ok=True)
            log(f"generating {source.relative_to(ROOT)}")
            generate(source, args.chains, args.steps, args.seed)
        ours = None if args.no_ours else run_ours(args.chains, args.steps, args.seed)
        result = run(source, export=not args.skip_export, direct_export=not args.skip_direct_export,
                     ui_import=args.ui_import, check=not args.no_check)
    except BenchError as exc:
        sys.exit(f"label_studio.py: {exc}")
    result = {**result, "chains": args.chains, "date": datetime.date.today().isoformat(),
              "cores": os.cpu_count()}
    if ours is not None:
        result["stepwise"] = ours
        result["import_ratio"] = round(result["import_seconds"] / ours["import_seconds"], 2)
        if ours["import_postgres_cpu_seconds"] is not None:  # CPU moves less than the clock on a busy machine
            result["import_cpu_ratio"] = round(
                (result["import_server_cpu_seconds"] + result["import_postgres_cpu_seconds"])
                / (ours["import_python_cpu_seconds"] + ours["import_postgres_cpu_seconds"]), 2)
        if "export_seconds" in result:
            result["export_ratio_vs_processbench"] = round(
                result["export_seconds"] / ours["export_seconds"]["processbench"], 2)
    print(json.dumps(result), flush=True)
    counts = [result["tasks"]] + ([result["ui_tasks"]] if "ui_tasks" in result else [])
    if any(count != args.chains for count in counts) or result.get("check", "ok") != "ok" or (
            ours and ours["check"] != "ok"):
        sys.exit(f"label_studio.py: a count or a check failed (tasks {counts}, expected {args.chains})")


if __name__ == "__main__":
    main()
