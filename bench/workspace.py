"""The annotation workspace in Debian's Chromium on long chains: first screen, a key at first screen,
key to next frame, the first-error cascade, a jump to the end, memory. Through bench/browser_metrics.py,
the harness bench/peers/potato.py uses, so the figures sit beside Potato's.

    .venv/bin/python bench/workspace.py [--steps 1500 8000 20000] [--runs 3] [--keys 50]
                                        [--backends postgres sqlite] [--no-docs]

For each backend (PostgreSQL on DATABASE_URL's server in a database `stepwise_ws_bench`; the embedded
default's SQLite in a temporary folder) the script migrates, seeds one project per chain length with the
chain of bench/chains.py (the one Potato is measured on) and an annotator, starts daphne on a free port
(DEBUG off, static files through whitenoise as in production) and, per run, in a fresh browser context:

- navigates to the workspace and presses `3` as soon as step 1's +1 button is on screen (the harness's
  ready probe); `first_visible_ms` is step 1's text on screen, `ready_ms` the frame that shows the
  rating (the key at first screen, queued if the page was not ready), `key_at_first_screen_ms` that
  frame minus the key's timestamp;
- `--keys` key presses (`3` rating and moving on, `j` moving, alternating runs), each timed from the
  keydown to the rendered frame that shows it;
- the first-error cascade: `1` on the current step, timed to the frame where the step is marked first
  error, every later step is greyed and the rail redrawn;
- `End` (jump to the last step, rows rendered there) timed to its frame;
- Chromium's memory (renderer RSS and PSS, JS heap, DOM nodes) after the load and after the keys.

Prints a JSON line per backend and chain length, appends them to bench/out/workspace-results.jsonl and,
unless --no-docs, rewrites the block between the bench:workspace markers of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
PASSWORD = "bench-password-1"  # noqa: S105 (throwaway users on a loopback server)
KEY_TARGETS = {"first_visible_ms": 300, "key_at_first_screen_ms": 100, "key_p50_ms": 16, "key_p95_ms": 33,
               "first_error_ms": 50, "renderer_pss_mb": 500}


# --- seeding (runs inside a process configured for the backend) ----------------------------------------

def seed(sizes: list[int]) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from annotation.models import Project, Role
    from annotation.services import assignment_claim_next, chains_import, membership_set, project_create
    from bench.chains import chain_steps, problem_text

    users = get_user_model().objects
    made = {}
    for n in sizes:
        slug = f"bench-ws-{n}"
        project = Project.objects.filter(slug=slug).first() or project_create(slug=slug, name=f"Workspace bench {n}")
        if not project.chains.exists():
            chains_import(project=project, data=json.dumps({"id": f"chain-{n}", "problem": problem_text(0),
                                                            "steps": chain_steps(n)}).encode(), fmt="stepwise")
        made[n] = []
        for run in range(12):
            name = f"ws-{n}-{run}"
            user = users.filter(username=name).first() or users.create_user(name, password=PASSWORD)
            membership_set(project=project, user=user, role=Role.ANNOTATOR)
            # A fresh assignment for every run: unlabelled, version 1 (overlap k is 1: free it first).
            user.assignments.all().delete()
            project.overlap_k = 100
            project.save(update_fields=["overlap_k"])
            assignment = assignment_claim_next(project=project, user=user)
            made[n].append({"user": name, "assignment": assignment.pk})
    return made


# --- servers --------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def backend_env(backend: str, var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", PYTHONPATH=f"{ROOT}:{ROOT / 'platform'}",
               STEPWISE_VAR_DIR=str(var_dir), DEBUG="false", SECRET_KEY="bench-only-not-a-secret",  # noqa: S106
               ALLOWED_HOSTS="127.0.0.1,localhost", SESSION_COOKIE_SECURE="false", CSRF_COOKIE_SECURE="false",
               # Under ASGI each request may run in another thread: Django's persistent connections then
               # pile up until PostgreSQL refuses clients ("too many clients", seen at 60 s). 0 by default.
               DB_CONN_MAX_AGE=os.environ.get("BENCH_DB_CONN_MAX_AGE", "0"),
               # A connection pool instead (production's setting in docker-compose.yml); 0 turns it off.
               DB_POOL_MAX_SIZE=os.environ.get("BENCH_DB_POOL_MAX_SIZE", "0"))
    if backend == "postgres":
        base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/stepwise")
        env["DATABASE_URL"] = urlsplit(base)._replace(path="/stepwise_ws_bench").geturl()
        if os.environ.get("REDIS_URL"):
            env["REDIS_URL"] = os.environ["REDIS_URL"]
    return env


def create_database(env: dict[str, str]) -> None:
    """CREATE DATABASE of env's DATABASE_URL (an error when it exists is ignored)."""
    url = urlsplit(env["DATABASE_URL"])
    subprocess.run(["psql", "-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432), "-U",
                    url.username or "postgres", "-d", "postgres", "-c", f"CREATE DATABASE {url.path.lstrip('/')}"],
                   capture_output=True, check=False)


def prepare(backend: str, env: dict[str, str], sizes: list[int]) -> dict:
    if backend == "postgres":
        create_database(env)
    run = lambda *args: subprocess.run([sys.executable, *args], cwd=ROOT, env=env, check=True,  # noqa: E731
                                       capture_output=True, text=True)
    run("manage.py", "migrate", "--noinput", "-v0")
    run("manage.py", "collectstatic", "--noinput", "-v0")
    done = run(str(Path(__file__)), "_seed", *map(str, sizes))
    return {int(k): v for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def start_daphne(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                                "config.asgi:application"], cwd=ROOT, env=env, stdout=log.open("wb"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url + "/health/", timeout=2)  # noqa: S310 (loopback)
            return process, url
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"daphne did not answer within 60 s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- in the browser ---------------------------------------------------------------------------------

FIRST = "#step-0 .step-text"
CONTROL = "#step-0 button.r[data-value='1']"


def rated(i: int, value: int = 1) -> str:
    return f"(document.getElementById('step-{i}') || {{dataset: {{}}}}).dataset.rating === '{value}'"


def is_current(i: int) -> str:
    return f"!!document.querySelector('#step-{i}.current')"


def log_in(page, url: str, user: str) -> None:
    page.goto(url + "/login/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")


def one_run(browser, bm, url: str, seat: dict, n: int, keys: int) -> dict:
    context = bm.new_measured_context(browser, first_visible=FIRST, control=CONTROL, ready_reflected=rated(0))
    context.set_default_timeout(120_000)
    page = context.new_page()
    log_in(page, url, seat["user"])
    page.goto(url + "/static/js/workspace/main.js")  # warm the static cache as an annotator's browser is
    bm.navigate(page, f"{url}/assignments/{seat['assignment']}/")
    ready = bm.measure_ready_for_input(page, key="3")
    load = bm.load_timings(page)
    page.wait_for_timeout(500)
    bm.collect_garbage(page)
    memory_loaded = bm.chromium_memory_mb(browser) | bm.page_metrics(page)
    samples, current = [], 1
    for k in range(keys):
        if k % 3 == 2:
            samples.append(bm.measure_key_to_frame(page, "j", is_current(current + 1)))
        else:
            samples.append(bm.measure_key_to_frame(page, "3", f"{rated(current)} && {is_current(current + 1)}"))
        current += 1
        page.wait_for_timeout(60)
    bm.add_event_timing(page, samples)
    cascade = bm.measure_key_to_frame(
        page, "1", f"document.getElementById('workspace').dataset.firstError === '{current}' && "
                   f"!!document.querySelector('#step-{current + 1}.after-error') && {rated(current, -1)}")
    page.wait_for_timeout(300)
    jump = bm.measure_key_to_frame(page, "End", f"{is_current(n - 1)} && !!document.querySelector('#step-{n - 1} .katex, #step-{n - 1} .step-text p')")
    bm.wait_until_network_quiet(page, quiet_ms=800)
    saved = page.evaluate("document.getElementById('workspace').dataset.save")
    bm.collect_garbage(page)
    memory_after = bm.chromium_memory_mb(browser) | bm.page_metrics(page)
    context.close()
    to_paint = [s["to_paint_ms"] for s in samples]
    return {
        **load, **ready, "key_at_first_screen_ms": ready["ready_input_to_paint_ms"],
        "key_p50_ms": bm.rnd(bm.percentile(to_paint, 50)), "key_p95_ms": bm.rnd(bm.percentile(to_paint, 95)),
        "key_max_ms": max(to_paint), "key_main_task_p50_ms": bm.rnd(bm.percentile([s["main_task_ms"] for s in samples], 50)),
        "key_event_timing_p50_ms": _p([s["event_timing_ms"] for s in samples], 50),
        "first_error_ms": cascade["to_paint_ms"], "first_error_main_task_ms": cascade["main_task_ms"],
        "jump_end_ms": jump["to_paint_ms"], "saved_state": saved,
        "memory_after_load": memory_loaded, "memory_after_keys": memory_after,
        "renderer_pss_mb": memory_after["renderer_pss_mb"], "renderer_rss_mb": memory_after["renderer_rss_mb"],
        "key_samples_ms": to_paint,
    }


def _p(values, q):
    from bench import browser_metrics as bm

    present = [v for v in values if v is not None]
    return bm.rnd(bm.percentile(present, q)) if present else None


SUMMARY = ("first_visible_ms", "ready_ms", "key_at_first_screen_ms", "key_p50_ms", "key_p95_ms", "key_max_ms",
           "key_event_timing_p50_ms", "first_error_ms", "jump_end_ms", "renderer_pss_mb", "renderer_rss_mb",
           "html_mb", "response_end_ms", "long_tasks_ms")


def summarize(backend: str, n: int, runs: list[dict], load: tuple[float, float]) -> dict:
    from bench import browser_metrics as bm

    summary = {key: bm.spread(r[key] for r in runs) for key in SUMMARY}
    summary["dom_nodes_after_keys"] = bm.spread(r["memory_after_keys"]["dom_nodes"] for r in runs)
    summary["js_heap_used_mb"] = bm.spread(r["memory_after_keys"]["js_heap_used_mb"] for r in runs)
    return {"tool": "stepwise workspace", "backend": backend, "steps": n, "runs": len(runs),
            "date": datetime.date.today().isoformat(), "cores": os.cpu_count(), "python": platform.python_version(),
            "loadavg_1min": [round(x, 2) for x in load], "saved": all(r["saved_state"] == "saved" for r in runs),
            "summary": summary, "per_run": runs}


def docs_block(results: list[dict]) -> str:
    def cell(r, key, digits=0):
        s = r["summary"].get(key)
        if not s:
            return "–"
        fmt = f"{{:.{digits}f}}"
        return fmt.format(s["median"]) + (f" ({fmt.format(s['min'])}–{fmt.format(s['max'])})" if s["n"] > 1 else "")

    lines = [f"Last run: {results[0]['date']} on {results[0]['cores']} cores, Python {results[0]['python']}, "
             f"Debian's Chromium (headless); load average {results[0]['loadavg_1min'][0]} at the start "
             "(other engineers' suites share the machine). Median (min–max) over the runs.", "",
             "| backend | steps | runs | first step visible (ms) | key at first screen → frame (ms) | key → frame p50 / p95 (ms) "
             "| first-error cascade (ms) | End → frame (ms) | renderer PSS (MB) | DOM nodes | page HTML (MB) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        lines.append(f"| {r['backend']} | {r['steps']:,} | {r['runs']} | {cell(r, 'first_visible_ms')} | "
                     f"{cell(r, 'key_at_first_screen_ms')} | {cell(r, 'key_p50_ms', 1)} / {cell(r, 'key_p95_ms', 1)} | "
                     f"{cell(r, 'first_error_ms', 1)} | {cell(r, 'jump_end_ms')} | {cell(r, 'renderer_pss_mb')} | "
                     f"{cell(r, 'dom_nodes_after_keys')} | {cell(r, 'html_mb', 2)} |")
    lines.append("")
    lines.append("Targets: first screen ≤ 300 ms, key at first screen ≤ 100 ms, key → frame p50 ≤ 16 ms and p95 ≤ 33 ms, "
                 "first-error cascade ≤ 50 ms, memory ≤ 500 MB. Every run's labels reached the server: "
                 + ("yes." if all(r["saved"] for r in results) else "**no** (see bench/out/workspace-results.jsonl)."))
    return "\n".join(lines)


def write_docs(block: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text()
    start, end = "<!-- bench:workspace:start -->", "<!-- bench:workspace:end -->"
    if start in text:
        head, rest = text.split(start, 1)
        text = head + start + "\n" + block + "\n" + end + rest.split(end, 1)[1]
    else:
        text += f"\n{start}\n{block}\n{end}\n"
    path.write_text(text)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_seed":
        print(json.dumps(seed([int(a) for a in sys.argv[2:]])))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[1500, 8000, 20000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--backends", nargs="+", default=["postgres", "sqlite"], choices=["postgres", "sqlite"])
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    if args.runs > 12:
        parser.error("--runs: at most 12 (seats seeded per chain)")
    from playwright.sync_api import sync_playwright

    from bench import browser_metrics as bm

    OUT.mkdir(exist_ok=True)
    results = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for backend in args.backends:
        var_dir = Path(tempfile.mkdtemp(prefix=f"ws-bench-{backend}-"))
        env = backend_env(backend, var_dir)
        seats = prepare(backend, env, args.steps)
        process, url = start_daphne(env, var_dir / "daphne.log")
        try:
            with sync_playwright() as playwright:
                browser = bm.launch_chromium(playwright)
                for n in args.steps:
                    before = os.getloadavg()[0]
                    runs = []
                    for run in range(args.runs):
                        runs.append(one_run(browser, bm, url, seats[n][run], n, args.keys))
                        print(f"# {backend} {n} run {run + 1}: " + json.dumps({k: runs[-1][k] for k in SUMMARY}),
                              file=sys.stderr, flush=True)
                    result = summarize(backend, n, runs, (before, os.getloadavg()[0]))
                    results.append(result)
                    line = json.dumps(result)
                    print(line, flush=True)
                    with (OUT / "workspace-results.jsonl").open("a") as out:
                        out.write(line + "\n")
                browser.close()
        finally:
            stop(process)
            shutil.rmtree(var_dir, ignore_errors=True)
    if not args.no_docs:
        write_docs(docs_block(results))


if __name__ == "__main__":
    main()
