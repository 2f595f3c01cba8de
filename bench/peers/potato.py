"""Peer benchmark: Potato (PyPI `potato-annotation` 2.12.1), its `process_reward` scheme on the `cot_trace`
display, on one long chain of thought, in Debian's Chromium.

    .venv/bin/python bench/peers/potato.py [--steps 1500 8000] [--runs 3] [--clicks 50] [--pause-ms 1000]

Creates (once) the virtualenv bench/out/peers/potato-venv with the pinned Potato, writes a project per
chain length and mode under bench/out/peers/ (the chain from bench/chains.py, seeded), and for every run
starts a Potato server on a free port with the project's saved state wiped, registers a user through
Potato's form and measures, through bench/browser_metrics.py:

- the annotation page's load (first step visible, ready for input: a real click on step 1's "correct"
  as soon as Playwright finds it actionable), memory after the load;
- `--clicks` consecutive ratings (steps 2, 3, ...; correct, neutral or incorrect), `--pause-ms` apart,
  each timed from the click to the rendered frame that shows it; memory and Potato's saved state on
  disk afterwards (once its requests have settled); whether keys rate a step;
- in a second project whose scheme is in `first_error` mode (Potato's "first incorrect step" action:
  steps before it become correct, it and all after incorrect), five first-error clicks.

Prints one JSON line per chain length (all runs, and median/min/max per figure) and appends it to
bench/out/peers/potato-results.jsonl. Screenshots of the first run: bench/out/peers/potato-<steps>-*.png.
The servers are stopped on every exit path (their process groups are ended).
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
import time
import urllib.error
import urllib.request
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `bench` importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from playwright.sync_api import sync_playwright  # noqa: E402

from bench import browser_metrics as bm  # noqa: E402
from bench.chains import chain_steps, problem_text  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out" / "peers"
VENV = OUT / "potato-venv"
POTATO_VERSION = "2.12.1"
PIN = f"potato-annotation=={POTATO_VERSION}"
SCHEMA = "step_rewards"
PASSWORD = "bench-password-1"  # noqa: S105 (a throwaway account on a loopback server)
# The steps the first-error clicks mark, in this order: each is left of the current first error, so
# every click moves it (a click on the current first error would clear every mark instead).
FIRST_ERROR_STEPS = (40, 30, 20, 10, 5)
PROBE_KEYS = ("1", "2", "3", "0", "c", "n", "w", "x", "y", "+", "-", "j", "k", " ")

# A load of the 8,000-step page took up to three minutes when others' benchmarks shared the two cores.
LONG_MS = 900_000
FIRST_STEP_TEXT = '.cot-step[data-step-index="0"] .cot-step-text'
READY_CONTROL = '.prm-btn-correct[data-step="0"]'


def button(step: int, value: int) -> str:
    return f'.prm-btn[data-step="{step}"][data-value="{value}"]'


def selected_js(step: int, value: int) -> str:
    """JavaScript: true once the page shows `value` as step `step`'s rating."""
    return (f"(b => !!b && b.classList.contains('selected'))"
            f"(document.querySelector('{button(step, value)}'))")


def rating_value(i: int) -> int:
    """The rating given to the i-th of the consecutive ratings: mostly correct, some neutral or incorrect."""
    return 0 if i % 7 == 6 else -1 if i % 11 == 10 else 1


# --- Potato's virtualenv and projects --------------------------------------------------------------

def ensure_venv() -> Path:
    potato = VENV / "bin" / "potato"
    python = VENV / "bin" / "python"
    if potato.exists():
        found = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('potato-annotation'))"],
                               capture_output=True, text=True, check=False).stdout.strip()
        if found == POTATO_VERSION:
            return potato
        print(f"{VENV}: potato-annotation {found or 'missing'}, want {POTATO_VERSION}: reinstalling", file=sys.stderr)
    OUT.mkdir(parents=True, exist_ok=True)
    subprocess.run(["python3.11", "-m", "venv", "--clear", VENV], check=True)
    done = subprocess.run([python, "-m", "pip", "install", "-q", PIN], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"pip install {PIN} into {VENV} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return potato


def write_project(n_steps: int, mode: str, seed: int) -> Path:
    """The project folder for this chain and mode, with Potato's saved state (users, annotations) wiped."""
    project = OUT / f"potato-project-{mode}-{n_steps}"
    (project / "data").mkdir(parents=True, exist_ok=True)
    item = {"id": f"chain-{n_steps}-s{seed}", "question": problem_text(seed),
            # The shape Potato's own cot_segmentation writes ({index, text, type}), so cot_trace shows the
            # steps as given; ProcessBench's plain list of strings would be typed by guesswork.
            "cot_steps": [{"index": i, "text": text, "type": "thought"}
                          for i, text in enumerate(chain_steps(n_steps, seed))]}
    data = json.dumps(item, ensure_ascii=False) + "\n"
    data_file = project / "data" / "chains.jsonl"
    if not data_file.exists() or data_file.read_text(encoding="utf-8") != data:
        data_file.write_text(data, encoding="utf-8")
    scheme = {"annotation_type": "process_reward", "name": SCHEMA, "steps_key": "cot_steps",
              "inline_with_trace": True, "mode": mode}
    if mode == "per_step":
        scheme |= {"allow_neutral": True,  # PRM800K's -1 / 0 / +1
                   "description": "Rate each step: correct (+1), neutral (0) or incorrect (-1)"}
    else:
        scheme |= {"description": "Click the first incorrect step"}
    config = {
        "annotation_task_name": f"Stepwise peer bench: {n_steps} steps ({mode})",
        "task_dir": ".",
        "data_files": ["data/chains.jsonl"],
        "item_properties": {"id_key": "id", "text_key": "question"},
        "output_annotation_dir": "annotation_output",
        "export_annotation_format": "jsonl",
        "instance_display": {"fields": [
            {"key": "question", "type": "text", "label": "Problem"},
            {"key": "cot_steps", "type": "cot_trace", "label": "Model reasoning (rate each step)",
             "display_options": {"show_rail": True, "collapse_long_steps": True}},
        ]},
        "annotation_schemes": [scheme],
        "user_config": {"allow_all_users": True},
    }
    # JSON is YAML: no YAML writer needed on this side.
    (project / "config.yaml").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    for name in ("annotation_output", "layouts"):
        shutil.rmtree(project / name, ignore_errors=True)
    for path in project.glob("project.sqlite*"):
        path.unlink()
    (project / "user_config.json").unlink(missing_ok=True)
    return project


# --- the server -----------------------------------------------------------------------------------

_servers: list[subprocess.Popen] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(potato: Path, project: Path, *, timeout_s: float = 180) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = (project / "server.log").open("wb")
    # Its own session: stopping it ends its process group, whatever Potato started.
    process = subprocess.Popen([potato, "start", project / "config.yaml", "-p", str(port), "--host", "127.0.0.1"],
                               cwd=project, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    _servers.append(process)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Potato exited with {process.returncode}:\n{_tail(project / 'server.log')}")
        try:
            with urllib.request.urlopen(url + "/", timeout=5) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return process, url
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"Potato did not answer on {url} within {timeout_s:.0f} s:\n{_tail(project / 'server.log')}")


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass
    if process in _servers:
        _servers.remove(process)


def stop_all_servers() -> None:
    for process in list(_servers):
        stop_server(process)


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


# --- in the browser ---------------------------------------------------------------------------------

def register(page, url: str, username: str) -> None:
    """As a person would: Potato's start page, the Register tab, the form; Potato then shows the task."""
    page.goto(url + "/")
    page.click("#register-tab")
    page.fill("#register-email", username)
    page.fill("#register-pass", PASSWORD)
    page.click("form[action='/register'] button[type=submit]")
    page.wait_for_selector(FIRST_STEP_TEXT, timeout=LONG_MS)
    page.wait_for_load_state("load", timeout=LONG_MS)


def keys_rate_steps(page) -> dict:
    """Presses likely shortcut keys with the focus on the page's body; a rating that changes means yes."""
    state = "() => document.querySelector('.process-reward-data-input').value"
    selected = "() => document.querySelectorAll('.prm-btn.selected').length"
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
    before = page.evaluate(state), page.evaluate(selected)
    changed = []
    for key in PROBE_KEYS:
        page.keyboard.press(key)
        page.wait_for_timeout(50)
        now = page.evaluate(state), page.evaluate(selected)
        if now != before:
            changed.append(key)
            before = now
    return {"keys_tried": "".join(PROBE_KEYS), "keys_that_rate": changed}


def renders(page) -> dict:
    """Whether step 1's LaTeX and markdown are rendered (math or <strong> elements) or shown raw."""
    return page.evaluate("""(sel) => {
      const el = document.querySelector(sel), text = el.textContent;
      return {latex_rendered: !!el.querySelector('.katex, mjx-container, math, .MathJax') || !text.includes('\\\\('),
              markdown_rendered: !!el.querySelector('strong, b, em') || !text.includes('**')};
    }""", FIRST_STEP_TEXT)


def settled_sizes(folder: Path, *, timeout_s: float = 300) -> dict[str, int]:
    """File sizes once Potato has finished writing: no temporary file (it rewrites user_state.json
    through one, 200 MB at 8,000 steps) and the same sizes two seconds apart."""
    deadline = time.monotonic() + timeout_s
    last = None
    while True:
        sizes = bm.dir_sizes(folder)
        busy = any(name.endswith(".tmp") for name in sizes)
        if not busy and sizes == last or time.monotonic() > deadline:
            return sizes
        last = None if busy else sizes
        time.sleep(2)


def memory(browser, page) -> dict:
    bm.collect_garbage(page)
    return bm.chromium_memory_mb(browser) | bm.page_metrics(page)


def run_per_step(browser, potato: Path, n_steps: int, run: int, args) -> dict:
    project = write_project(n_steps, "per_step", args.seed)
    process, url = start_server(potato, project)
    load_before = os.getloadavg()[0]
    try:
        context = bm.new_measured_context(browser, first_visible=FIRST_STEP_TEXT, control=READY_CONTROL,
                                          ready_reflected=selected_js(0, 1))
        context.set_default_timeout(LONG_MS)
        page = context.new_page()
        register(page, url, f"bench-{n_steps}-{run}")

        # The measured load: the task page again, as the registered annotator (browser cache warm).
        bm.navigate(page, url + "/")
        ready = bm.measure_ready_for_input(page, timeout_ms=LONG_MS)
        load = bm.load_timings(page, timeout_ms=LONG_MS)
        page.wait_for_timeout(1000)
        memory_loaded = memory(browser, page)
        shots = run == 0
        if shots:
            page.evaluate("() => window.scrollTo(0, 0)")
            page.screenshot(path=OUT / f"potato-{n_steps}-top.png")
            page.locator('.cot-step[data-step-index="0"]').screenshot(path=OUT / f"potato-{n_steps}-step1.png")

        samples = []
        for i in range(args.clicks):
            step, value = i + 1, rating_value(i)
            samples.append(bm.measure_click_to_frame(page, button(step, value), selected_js(step, value), timeout_ms=LONG_MS))
            page.wait_for_timeout(args.pause_ms)
        bm.add_event_timing(page, samples)
        bm.wait_until_network_quiet(page, timeout_ms=LONG_MS)
        saved = settled_sizes(project / "annotation_output")
        memory_rated = memory(browser, page)
        if shots:
            page.locator('.cot-step[data-step-index="44"]').scroll_into_view_if_needed()
            page.screenshot(path=OUT / f"potato-{n_steps}-rated.png")
        keys = keys_rate_steps(page)
        # No shortcut, but the buttons are focusable: Tab to one and Enter rates the step. Timed from the
        # keydown, after the saved state was measured (these ratings are not counted there).
        focus_enter = [bm.measure_key_to_frame(page, "Enter", selected_js(step, 1), focus_selector=button(step, 1),
                                               timeout_ms=LONG_MS)["to_paint_ms"]
                       for step in range(args.clicks + 2, args.clicks + 7)]
        shown = renders(page)
        context.close()
    finally:
        stop_server(process)
    to_paint = [s["to_paint_ms"] for s in samples]
    return {
        "run": run, "loadavg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)], **load, **ready,
        "click_p50_ms": bm.rnd(bm.percentile(to_paint, 50)), "click_p95_ms": bm.rnd(bm.percentile(to_paint, 95)),
        "click_max_ms": max(to_paint),
        "click_to_frame_p50_ms": bm.rnd(bm.percentile([s["to_frame_ms"] for s in samples], 50)),
        "click_input_delay_p50_ms": bm.rnd(bm.percentile([s["input_delay_ms"] for s in samples], 50)),
        "click_event_timing_p50_ms": _p50([s["event_timing_ms"] for s in samples]),
        "click_event_timing_p95_ms": _p95([s["event_timing_ms"] for s in samples]),
        **{f"click_{key}_p50": _p50([s[key] for s in samples]) for key in MAIN_THREAD_KEYS},
        "clicks": len(samples), "clicks_saved": len(samples) + 1,  # + the ready probe's rating of step 1
        "saved_state_mb": round(sum(saved.values()) / 1e6, 2),
        "saved_files_mb": {name: round(size / 1e6, 3) for name, size in list(saved.items())[:6]},
        "memory_after_load": memory_loaded, "memory_after_clicks": memory_rated,
        **keys, **shown, "focus_enter_ms": focus_enter,
        "click_samples_ms": to_paint,
    }


def run_first_error(browser, potato: Path, n_steps: int, run: int, args) -> dict:
    project = write_project(n_steps, "first_error", args.seed)
    process, url = start_server(potato, project)
    try:
        context = bm.new_measured_context(browser)
        context.set_default_timeout(LONG_MS)
        page = context.new_page()
        register(page, url, f"bench-fe-{n_steps}-{run}")
        page.locator(READY_CONTROL).wait_for()
        bm.wait_until_network_quiet(page, quiet_ms=1000)
        samples = []
        for step in FIRST_ERROR_STEPS:
            reflected = " && ".join([selected_js(step, -1), selected_js(step - 1, 1), selected_js(n_steps - 1, -1)])
            samples.append(bm.measure_click_to_frame(page, button(step, -1), reflected, timeout_ms=LONG_MS))
            page.wait_for_timeout(args.pause_ms)
        bm.add_event_timing(page, samples)
        if run == 0:
            page.locator('.cot-step[data-step-index="2"]').scroll_into_view_if_needed()
            page.screenshot(path=OUT / f"potato-{n_steps}-first-error.png")
        bm.wait_until_network_quiet(page, timeout_ms=LONG_MS)
        context.close()
    finally:
        stop_server(process)
    return {"run": run, "first_error_ms": [s["to_paint_ms"] for s in samples],
            "first_error_to_frame_ms": [s["to_frame_ms"] for s in samples],
            "first_error_event_timing_ms": [s["event_timing_ms"] for s in samples],
            "first_error_input_delay_ms": [s["input_delay_ms"] for s in samples],
            **{f"first_error_{key}": [s[key] for s in samples] for key in MAIN_THREAD_KEYS}}


def run_diagnostics(browser, potato: Path, n_steps: int, args) -> dict:
    """Where the time goes, once: a filmstrip of the load, then JavaScript CPU profiles of a load, of one
    rating and (in the first-error project) of one first-error click. Slower than a plain run (the
    profiler and the PNG encoding cost CPU): no figure of the benchmark comes from here."""
    found: dict = {"steps": n_steps}
    project = write_project(n_steps, "per_step", args.seed)
    process, url = start_server(potato, project)
    try:
        context = bm.new_measured_context(browser, first_visible=FIRST_STEP_TEXT, control=READY_CONTROL)
        context.set_default_timeout(LONG_MS)
        page = context.new_page()
        register(page, url, f"diag-{n_steps}")
        with bm.filmstrip(page, OUT / f"potato-{n_steps}-filmstrip") as frames:
            bm.navigate(page, url + "/")
            found["filmstrip_load"] = bm.load_timings(page, timeout_ms=LONG_MS)
            page.wait_for_timeout(1000)
        found["filmstrip_frames"] = len(frames)
        # Two frames to look at: what is on screen half a second after the first step is in the document,
        # and the first frame presented after Chromium reports the step painted (Element Timing).
        load = found["filmstrip_load"]
        for name, after_ms in (("loading", load["first_in_dom_ms"] + 500), ("shown", load["first_presented_ms"])):
            frame = min((f for f in frames if f["ms"] >= (after_ms or 0)), key=lambda f: f["ms"], default=None)
            if frame:
                shutil.copyfile(frame["path"], OUT / f"potato-{n_steps}-filmstrip-{name}.png")
                found[f"filmstrip_{name}_frame_ms"] = frame["ms"]
        bm.wait_until_network_quiet(page, quiet_ms=1000)
        with bm.cpu_profile(page) as profile:
            bm.navigate(page, url + "/")
            found["profiled_load"] = bm.load_timings(page, timeout_ms=LONG_MS)
            page.wait_for_timeout(1000)
        found["load_profile"] = profile
        bm.wait_until_network_quiet(page, quiet_ms=1000)
        with bm.cpu_profile(page) as profile:
            found["profiled_rating"] = bm.measure_click_to_frame(page, button(1, 1), selected_js(1, 1))
        found["rating_profile"] = profile
        context.close()
    finally:
        stop_server(process)
    project = write_project(n_steps, "first_error", args.seed)
    process, url = start_server(potato, project)
    try:
        context = bm.new_measured_context(browser)
        context.set_default_timeout(LONG_MS)
        page = context.new_page()
        register(page, url, f"diag-fe-{n_steps}")
        bm.wait_until_network_quiet(page, quiet_ms=1000)
        step = FIRST_ERROR_STEPS[0]
        with bm.cpu_profile(page) as profile:
            found["profiled_first_error"] = bm.measure_click_to_frame(
                page, button(step, -1), selected_js(step, -1) + " && " + selected_js(n_steps - 1, -1))
        found["first_error_profile"] = profile
        context.close()
    finally:
        stop_server(process)
    (OUT / f"potato-{n_steps}-diagnostics.json").write_text(json.dumps(found, indent=1) + "\n")
    return found


def _p50(values):
    present = [v for v in values if v is not None]
    return bm.rnd(bm.percentile(present, 50)) if present else None


def _p95(values):
    present = [v for v in values if v is not None]
    return bm.rnd(bm.percentile(present, 95)) if present else None


MAIN_THREAD_KEYS = ("main_task_ms", "main_cpu_ms", "main_script_ms", "main_style_ms", "main_layout_ms")
SUMMARY_KEYS = ("first_visible_ms", "first_presented_ms", "first_in_dom_ms", "ready_ms", "control_visible_ms", "response_start_ms", "response_end_ms",
                "dom_content_loaded_ms", "load_event_ms", "largest_contentful_paint_ms", "long_tasks_ms",
                "click_p50_ms", "click_p95_ms", "click_to_frame_p50_ms", "click_event_timing_p50_ms",
                "click_event_timing_p95_ms", "saved_state_mb")


def summarize(n_steps: int, runs: list[dict], first_error: list[dict], args) -> dict:
    summary = {key: bm.spread(r[key] for r in runs) for key in SUMMARY_KEYS}
    for when in ("memory_after_load", "memory_after_clicks"):
        for key in ("renderer_rss_mb", "renderer_pss_mb", "js_heap_used_mb", "dom_nodes"):
            summary[f"{when}.{key}"] = bm.spread(r[when][key] for r in runs)
    summary["first_error_ms"] = bm.spread(v for r in first_error for v in r["first_error_ms"])
    summary["first_error_median_per_run_ms"] = [_p50(r["first_error_ms"]) for r in first_error]
    return {
        "tool": f"potato-annotation {POTATO_VERSION}", "scheme": "process_reward (per_step, allow_neutral, "
        "inline_with_trace) on cot_trace; first-error clicks in mode first_error",
        "steps": n_steps, "seed": args.seed, "runs": len(runs), "clicks_per_run": args.clicks,
        "pause_ms": args.pause_ms, "date": datetime.date.today().isoformat(), "cores": os.cpu_count(),
        "python": platform.python_version(), "chromium": _chromium_version(),
        "html_mb": runs[0]["html_mb"], "keys_that_rate": sorted({k for r in runs for k in r["keys_that_rate"]}),
        "latex_rendered": any(r["latex_rendered"] for r in runs),
        "markdown_rendered": any(r["markdown_rendered"] for r in runs),
        "summary": summary, "per_run": runs, "first_error_per_run": first_error,
    }


REPORT_ROWS = (
    ("first step visible (main thread done with the frame)", "first_visible_ms", "ms"),
    ("first step presented (Element Timing)", "first_presented_ms", "ms"),
    ("first step in the document (hidden)", "first_in_dom_ms", "ms"),
    ("server answered (first byte)", "response_start_ms", "ms"),
    ("DOMContentLoaded", "dom_content_loaded_ms", "ms"),
    ("ready for input (first rating shown)", "ready_ms", "ms"),
    ("rating click p50", "click_p50_ms", "ms"),
    ("rating click p95", "click_p95_ms", "ms"),
    ("rating click p50, Event Timing", "click_event_timing_p50_ms", "ms"),
    ("a rating's main-thread busy time, p50", "click_main_task_ms_p50", "ms"),
    ("a rating's main-thread CPU time, p50", "click_main_cpu_ms_p50", "ms"),
    ("first-error click (all clicks of all runs)", "first_error_ms", "ms"),
    ("renderers' PSS after load", "memory_after_load.renderer_pss_mb", "MB"),
    ("renderers' RSS after load", "memory_after_load.renderer_rss_mb", "MB"),
    ("renderers' PSS after the ratings", "memory_after_clicks.renderer_pss_mb", "MB"),
    ("JS heap after the ratings", "memory_after_clicks.js_heap_used_mb", "MB"),
    ("DOM nodes after load", "memory_after_load.dom_nodes", ""),
    ("saved state on disk after 51 ratings", "saved_state_mb", "MB"),
    ("load average (1 min) at the start and end of runs", "loadavg_1min", ""),
)


def report(paths: list[Path]) -> str:
    """A markdown table of the figures in result lines (one column per chain length, the last line of each)."""
    lines = {}
    for path in paths:
        for text in path.read_text().splitlines():
            line = json.loads(text)
            lines[line["steps"]] = line
    columns = sorted(lines)
    out = ["| figure | " + " | ".join(f"{n:,} steps" for n in columns) + " |",
           "| --- | " + " | ".join("---:" for _ in columns) + " |"]
    for label, key, unit in REPORT_ROWS:
        cells = []
        for n in columns:
            figure = lines[n]["summary"].get(key)
            if figure is None and key in lines[n]["per_run"][0]:
                values = [r[key] for r in lines[n]["per_run"]]
                figure = bm.spread(v for value in values for v in (value if isinstance(value, list) else [value]))
            cells.append("—" if not figure else f"{_fmt(figure['median'])} ({_fmt(figure['min'])}–{_fmt(figure['max'])})"
                         + (f" {unit}" if unit else ""))
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    runs = " / ".join(f"{lines[n]['runs']}" for n in columns)
    out.append(f"\nMedian (min–max) over the runs ({runs}); each run's own figures are in the result lines.")
    return "\n".join(out)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def _chromium_version() -> str:
    done = subprocess.run([bm.CHROMIUM, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[1500, 8000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clicks", type=int, default=50)
    parser.add_argument("--pause-ms", type=int, default=1000,
                        help="between two ratings (Potato autosaves 500 ms after a change)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-first-error", action="store_true")
    parser.add_argument("--diagnose", action="store_true",
                        help="instead of the benchmark: a filmstrip and CPU profiles per chain length "
                        "(bench/out/peers/potato-<steps>-diagnostics.json and -filmstrip/)")
    parser.add_argument("--report", type=Path, nargs="+", metavar="RESULTS",
                        help="print a markdown table of result lines (e.g. bench/out/peers/potato-results.jsonl) and stop")
    args = parser.parse_args()
    if args.report:
        print(report(args.report))
        return
    if args.clicks > 60:
        parser.error("--clicks: at most 60 (steps 2-61 are rated, then five more by keyboard)")

    # SIGTERM (a harness stopping us) unwinds like Ctrl-C, so the servers are stopped in `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    potato = ensure_venv()
    results = OUT / "potato-results.jsonl"
    try:
        with sync_playwright() as playwright:
            browser = bm.launch_chromium(playwright)
            for n_steps in args.steps if args.diagnose else ():
                found = run_diagnostics(browser, potato, n_steps, args)
                print(json.dumps({k: v for k, v in found.items() if not k.endswith("_profile")}), flush=True)
            for n_steps in () if args.diagnose else args.steps:
                runs, first_error = [], []
                for run in range(args.runs):
                    runs.append(run_per_step(browser, potato, n_steps, run, args))
                    print(f"# {n_steps} steps, run {run + 1}: " + json.dumps(
                        {k: runs[-1][k] for k in SUMMARY_KEYS}), file=sys.stderr, flush=True)
                    if not args.no_first_error:
                        first_error.append(run_first_error(browser, potato, n_steps, run, args))
                        print(f"# {n_steps} steps, run {run + 1}, first error: "
                              f"{first_error[-1]['first_error_ms']}", file=sys.stderr, flush=True)
                line = json.dumps(summarize(n_steps, runs, first_error, args))
                print(line, flush=True)
                with results.open("a") as out:
                    out.write(line + "\n")
            browser.close()
    finally:
        stop_all_servers()


if __name__ == "__main__":
    main()
