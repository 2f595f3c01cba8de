"""Browser-side measurements for annotation workspaces, in Debian's Chromium through Playwright's sync API.

Nothing here knows which tool is measured: a caller names the elements (CSS selectors) and says how to
tell that the page reflects an input (a JavaScript expression, evaluated in the page, true once the UI
shows it). `bench/peers/potato.py` uses it on Potato; the same calls measure our own workspace.

Clock: every time is read in the page (`performance.now()`, `Event.timeStamp`), whose zero is the
navigation start of the document (`performance.timeOrigin`); nothing is timed across the Playwright
protocol. Definitions:

- *first visible* (`first_visible_ms`): navigation start to the end of the rendering work of the first
  frame in which the element exists, has text, has a box inside the viewport, passes `checkVisibility()`
  and is the top element at a point of its first line (`elementFromPoint`: no overlay hides it). It is
  polled in a `requestAnimationFrame` callback from the document's start; `first_visible_frame_ms` is
  that callback, and the `_ms` figure is a task posted from it (a `MessageChannel` message), which runs
  after the frame's style, layout and paint.
- *input to frame* (`to_paint_ms`): from the input event's `timeStamp` (when the browser received the
  `mouseup` that completes a click, or the `keydown`) to the end of the rendering work of the first
  frame in which the caller's expression is true (polled in `requestAnimationFrame` callbacks, then a
  posted message, as above). `to_frame_ms` stops at that frame's `requestAnimationFrame` callback,
  before its layout and paint; `input_delay_ms` is when the first capture listener on `window` ran
  (main-thread queueing). `event_timing_ms` is Chromium's own Event Timing `duration` for the same
  input (to the frame's presentation, in steps of 8 ms; none below 16 ms).
- *ready for input*: the page is navigated and, as soon as the control is the top element at its
  centre, a real click (CDP mouse events) or key is sent; `ready_ms` is navigation start to the frame
  that reflects it.
- *main thread* (`main_*_ms` of a sample): deltas of CDP `Performance.getMetrics` over the sample, from
  arming to the rendered frame: `main_task_ms` the main thread's busy time (wall clock), `main_cpu_ms`
  its CPU time (less than busy time when other processes take the cores), and within the busy time
  `main_script_ms`, `main_style_ms`, `main_layout_ms`.

Memory: `chromium_memory_mb` sums the resident memory (`VmRSS`) and the proportional share (`Pss`,
shared pages split between the processes using them) of each renderer process of the browser, as listed
by CDP `SystemInfo.getProcessInfo` and read from `/proc`; `page_metrics` gives the page's JS heap and
DOM counters from CDP `Performance.getMetrics` and `Memory.getDOMCounters`.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import json
import statistics
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, Playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

CHROMIUM = "/usr/bin/chromium"
# The same flags as tests/browser.py: Debian's Chromium, never a downloaded browser.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 900}
START_EVENTS = ("mouseup", "keydown")

# Installed in every document of a measured context, before the page's own scripts. The expressions
# are pasted in as source (not evaluated from strings), so a page's Content-Security-Policy against
# `eval` does not stop them.
_PROBE_JS = r"""
(() => {
  if (window.__bench) return;
  const B = window.__bench = {inputs: [], events: [], longTasks: [], paints: {}, lcp: null, firstPainted: null,
                              first: null, firstInDom: null, control: null, controlPoint: null, ready: null, readyPolls: 0,
                              current: null};
  const afterFrame = (cb) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => cb(performance.now());
    ch.port2.postMessage(0);
  };
  B.afterFrame = afterFrame;
  // Cheap tests first: while a page keeps the element hidden, no layout or hit test is forced.
  const shown = (el, at) => {
    if (!el || !el.isConnected) return null;
    if (el.checkVisibility && !el.checkVisibility({opacityProperty: true, visibilityProperty: true})) return null;
    const r = el.getBoundingClientRect();
    if (r.width <= 0 || r.height <= 0) return null;
    if (r.bottom <= 0 || r.right <= 0 || r.top >= innerHeight || r.left >= innerWidth) return null;
    const x = at === 'centre' ? r.left + r.width / 2 : Math.max(r.left + Math.min(r.width, 24) / 2, 0);
    const y = at === 'centre' ? r.top + r.height / 2 : Math.max(r.top + Math.min(r.height, 16) / 2, 0);
    if (x >= innerWidth || y >= innerHeight) return null;
    const hit = document.elementFromPoint(x, y);
    return hit && (hit === el || el.contains(hit)) ? [x, y] : null;
  };
  const hasText = (el) => !!el && (el.textContent || '').trim().length > 0;
  // Calls test() in every frame's requestAnimationFrame callback until it returns something truthy;
  // then found(frame time, value) and, after that frame's rendering, done(time).
  const everyFrame = (test, found) => {
    const poll = () => {
      let value = null;
      try { value = test(); } catch (e) { value = null; }
      if (!value) { requestAnimationFrame(poll); return; }
      found(performance.now(), value);
    };
    requestAnimationFrame(poll);
  };
  const record = (key) => (frame) => afterFrame((t) => { B[key] = {frame_ms: frame, ms: t}; });
  const FIRST = __FIRST__, CONTROL = __CONTROL__, READY = __READY__;
  let readyArmed = false;
  for (const type of ['mouseup', 'keydown']) {
    window.addEventListener(type, (ev) => {
      B.inputs.push({type: ev.type, t0: ev.timeStamp, listener: performance.now()});
      // Nothing can show the ready probe's rating before an input: watch only from the first one on.
      if (READY && !readyArmed) {
        readyArmed = true;
        everyFrame(() => { B.readyPolls += 1; return READY(); }, record('ready'));
      }
    }, {capture: true});
  }
  const observe = (opts, cb) => { try { new PerformanceObserver((l) => l.getEntries().forEach(cb)).observe(opts); } catch (e) {} };
  observe({type: 'event', buffered: true, durationThreshold: 16}, (e) => B.events.push(
    {name: e.name, start: e.startTime, duration: e.duration, processingStart: e.processingStart,
     processingEnd: e.processingEnd}));
  observe({type: 'longtask', buffered: true}, (e) => B.longTasks.push({start: e.startTime, duration: e.duration}));
  observe({type: 'paint', buffered: true}, (e) => { B.paints[e.name] = e.startTime; });
  observe({type: 'largest-contentful-paint', buffered: true}, (e) => { B.lcp = e.startTime; });
  observe({type: 'element', buffered: true}, (e) => {
    if (e.identifier === 'bench-first' && B.firstPainted === null) B.firstPainted = e.renderTime || e.startTime;
  });
  if (FIRST) {
    everyFrame(() => { const el = document.querySelector(FIRST); return hasText(el) ? el : null; }, (frame, el) => {
      B.firstInDom = {frame_ms: frame};
      // Element Timing: Chromium reports when the element's text is first presented on screen.
      el.setAttribute('elementtiming', 'bench-first');
      everyFrame(() => shown(el, 'text'), record('first'));
    });
  }
  if (CONTROL) {
    // The control's first shown frame; then, in every frame until the ready probe's rating shows, the
    // centre it has kept for two frames (null while it moves: a page can shift it after showing it).
    let last = null;
    everyFrame(() => shown(document.querySelector(CONTROL), 'centre'), (frame) => {
      record('control')(frame);
      everyFrame(() => {
        const point = shown(document.querySelector(CONTROL), 'centre');
        const stable = point && last && point[0] === last[0] && point[1] === last[1];
        last = point;
        B.controlPoint = stable ? {ms: performance.now(), x: point[0], y: point[1]} : null;
        return (stable && !READY) || B.ready !== null;
      }, () => {});
    });
  }
})();
"""


# Arms one input-to-frame measurement; `__REFLECTED__` becomes the caller's expression as a function.
_ARM_JS = r"""(events) => {
  const B = window.__bench, reflected = __REFLECTED__;
  let already = false;
  try { already = !!reflected(); } catch (e) { already = false; }
  if (already) throw new Error('the page already shows what the input is to change');
  const m = B.current = {t0: null, listener: null, event: null, frame: null, painted: null, done: false};
  const onInput = (ev) => {
    if (m.t0 !== null) return;
    m.t0 = ev.timeStamp; m.listener = performance.now(); m.event = ev.type;
  };
  events.forEach((t) => window.addEventListener(t, onInput, {capture: true}));
  const poll = () => {
    let ok = false;
    try { ok = !!reflected(); } catch (e) { ok = false; }
    if (!ok) { requestAnimationFrame(poll); return; }
    m.frame = performance.now();
    events.forEach((t) => window.removeEventListener(t, onInput, {capture: true}));
    B.afterFrame((t) => { m.painted = t; m.done = true; });
  };
  requestAnimationFrame(poll);
}"""


def launch_chromium(playwright: Playwright) -> Browser:
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium (never `playwright install`)")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def new_measured_context(browser: Browser, *, first_visible: str | None = None, control: str | None = None,
                         ready_reflected: str | None = None) -> BrowserContext:
    """A fresh context whose documents carry the probes.

    `first_visible`: selector of the element whose painting is *first visible*. `control`: selector of
    the input control (its first visible frame is `control_visible_ms`). `ready_reflected`: a
    JavaScript expression that becomes true when the page shows the rating made by the ready probe
    (`measure_ready_for_input`); it is watched from the document's start.
    """
    script = (_PROBE_JS.replace("__FIRST__", json.dumps(first_visible))
              .replace("__CONTROL__", json.dumps(control))
              .replace("__READY__", f"() => ({ready_reflected})" if ready_reflected else "null"))
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1, locale="en-US", timezone_id="UTC")
    context.add_init_script(script=script)
    return context


def navigate(page: Page, url: str, *, timeout_ms: float = 120_000) -> None:
    """Start a navigation and return once the new document exists (the probes then run in it)."""
    page.goto(url, wait_until="commit", timeout=timeout_ms)


def measure_ready_for_input(page: Page, *, key: str | None = None, timeout_ms: float = 120_000,
                            dropped_after_frames: int = 10) -> dict:
    """Call right after `navigate`, in a context made with `control` and `ready_reflected`. As soon as the
    control is shown and has kept its place for two frames, a real click lands on its centre (or `key` is
    pressed); returns when a rendered frame shows the rating. An input is taken for lost, and sent again
    at the control's current centre, only once `dropped_after_frames` frames have been rendered after it
    without showing the rating (a page still busy renders no frame: its input is queued, and a second
    click would undo the first). `ready_attempts` counts the inputs sent: more than one means the page
    dropped an input, or moved the control after showing it so that the click missed."""
    deadline = time.monotonic() + timeout_ms / 1000

    def left_ms() -> float:
        if time.monotonic() >= deadline:
            raise TimeoutError(f"the page did not show the ready probe's input within {timeout_ms / 1000:.0f} s")
        return (deadline - time.monotonic()) * 1000

    attempts = 0
    while True:
        point = page.wait_for_function("() => window.__bench.controlPoint", polling=20, timeout=left_ms()).json_value()
        polls_before = page.evaluate("() => window.__bench.readyPolls")
        attempts += 1
        if key:
            page.keyboard.press(key)
        else:
            page.mouse.click(point["x"], point["y"])
        state = page.wait_for_function(
            "([before, frames]) => window.__bench.ready !== null ? 'shown'"
            " : window.__bench.readyPolls - before >= frames ? 'dropped' : null",
            arg=[polls_before, dropped_after_frames], polling=20, timeout=left_ms()).json_value()
        if state == "shown":
            break
    b = page.evaluate("() => ({ready: window.__bench.ready, inputs: window.__bench.inputs})")
    before = [i for i in b["inputs"] if i["t0"] <= b["ready"]["frame_ms"]]
    last = before[-1] if before else None
    return {"ready_ms": rnd(b["ready"]["ms"]), "ready_frame_ms": rnd(b["ready"]["frame_ms"]),
            "ready_input_at_ms": rnd(last["t0"]) if last else None,
            "ready_input_to_paint_ms": rnd(b["ready"]["ms"] - last["t0"]) if last else None,
            "ready_attempts": attempts}


def load_timings(page: Page, *, timeout_ms: float = 180_000) -> dict:
    """Waits for the first-visible probe and the load event; returns the load's figures (ms since
    navigation start): first visible, the control's first visible frame, the navigation timing marks,
    first contentful and largest contentful paint, and the long tasks (> 50 ms) seen so far."""
    page.wait_for_function("() => window.__bench.first !== null", polling=50, timeout=timeout_ms)
    page.wait_for_load_state("load", timeout=timeout_ms)
    with contextlib.suppress(PlaywrightTimeoutError):  # Element Timing arrives after presentation, if at all
        page.wait_for_function("() => window.__bench.firstPainted !== null", polling=50, timeout=3_000)
    b = page.evaluate("""() => {
      const B = window.__bench, n = performance.getEntriesByType('navigation')[0] || {};
      return {first: B.first, firstInDom: B.firstInDom, firstPainted: B.firstPainted, control: B.control, paints: B.paints, lcp: B.lcp, longTasks: B.longTasks,
              nav: {responseStart: n.responseStart, responseEnd: n.responseEnd, domInteractive: n.domInteractive,
                    domContentLoaded: n.domContentLoadedEventEnd, load: n.loadEventEnd,
                    transferSize: n.transferSize, decodedBodySize: n.decodedBodySize}};
    }""")
    nav = b["nav"]
    return {
        "first_visible_ms": rnd(b["first"]["ms"]), "first_visible_frame_ms": rnd(b["first"]["frame_ms"]),
        "first_in_dom_ms": rnd(b["firstInDom"]["frame_ms"]),
        "first_presented_ms": rnd(b["firstPainted"]),
        "control_visible_ms": rnd(b["control"]["ms"]) if b["control"] else None,
        "response_start_ms": rnd(nav["responseStart"]), "response_end_ms": rnd(nav["responseEnd"]),
        "dom_interactive_ms": rnd(nav["domInteractive"]), "dom_content_loaded_ms": rnd(nav["domContentLoaded"]),
        "load_event_ms": rnd(nav["load"]), "html_mb": rnd((nav["decodedBodySize"] or 0) / 1e6, 2),
        "first_contentful_paint_ms": rnd(b["paints"].get("first-contentful-paint")),
        "largest_contentful_paint_ms": rnd(b["lcp"]),
        "long_tasks": len(b["longTasks"]), "long_tasks_ms": rnd(sum(t["duration"] for t in b["longTasks"])),
        "longest_task_ms": rnd(max((t["duration"] for t in b["longTasks"]), default=0)),
    }


_sessions: weakref.WeakKeyDictionary[Page, CDPSession] = weakref.WeakKeyDictionary()
_MAIN_THREAD = {"main_task_ms": "TaskDuration", "main_cpu_ms": "ThreadTime", "main_script_ms": "ScriptDuration",
                "main_style_ms": "RecalcStyleDuration", "main_layout_ms": "LayoutDuration"}


def cdp(page: Page) -> CDPSession:
    """One CDP session per page, with the Performance domain on."""
    if page not in _sessions:
        session = page.context.new_cdp_session(page)
        session.send("Performance.enable")
        _sessions[page] = session
    return _sessions[page]


def _performance(page: Page) -> dict[str, float]:
    return {m["name"]: m["value"] for m in cdp(page).send("Performance.getMetrics")["metrics"]}


def measure_input_to_frame(page: Page, act: Callable[[], None], reflected_js: str, *,
                           start_events: Iterable[str] = START_EVENTS, timeout_ms: float = 60_000) -> dict:
    """Arms the probe with `reflected_js` (must be false now), runs `act` (which sends the input), and
    returns the sample once a frame reflecting it has been rendered. The input is the first of
    `start_events` that reaches `window` after arming."""
    page.evaluate(_ARM_JS.replace("__REFLECTED__", f"() => ({reflected_js})"), list(start_events))
    before = _performance(page)
    act()
    page.wait_for_function("() => window.__bench.current.done", polling=20, timeout=timeout_ms)
    after = _performance(page)
    m = page.evaluate("() => window.__bench.current")
    if m["t0"] is None:
        raise RuntimeError(f"the page reflected the input before any of {list(start_events)} reached it")
    return {"t0_ms": rnd(m["t0"]), "event": m["event"], "input_delay_ms": rnd(m["listener"] - m["t0"]),
            "to_frame_ms": rnd(m["frame"] - m["t0"]), "to_paint_ms": rnd(m["painted"] - m["t0"]),
            "event_timing_ms": None,
            **{key: rnd((after[name] - before[name]) * 1000) for key, name in _MAIN_THREAD.items()}}


def click_point(page: Page, selector: str, *, timeout_ms: float = 60_000) -> tuple[float, float]:
    """The centre of `selector`'s element once it is the top element there (what a real click would hit)
    and has not moved for two frames; scrolled to the middle of the viewport and of any scrolling box
    holding it first if it cannot be hit (instantly: a page's `scroll-behavior: smooth` would move it
    under the pointer)."""
    deadline = time.monotonic() + timeout_ms / 1000
    last = None
    while True:
        point = page.evaluate("""async (sel) => {
          const el = document.querySelector(sel);
          if (!el) return null;
          const centre = () => {
            const r = el.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
            if (x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) return null;
            const hit = document.elementFromPoint(x, y);
            return hit && (hit === el || el.contains(hit)) ? [x, y] : null;
          };
          // Outside the viewport, or clipped by a scrolling box: scroll every box that holds it.
          if (!centre()) el.scrollIntoView({block: 'center', inline: 'center', behavior: 'instant'});
          await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
          return centre();
        }""", selector)
        if point is not None and point == last:
            return point[0], point[1]
        last = point
        if time.monotonic() > deadline:
            raise TimeoutError(f"{selector} was not clickable within {timeout_ms / 1000:.0f} s (last point {point})")
        if point is None:
            page.wait_for_timeout(20)


def click(page: Page, selector: str, *, timeout_ms: float = 60_000) -> None:
    """A real click (CDP mouse events) at the centre of `selector` as soon as it can be hit.

    Not `locator.click()`: Playwright's hit-target check runs `elementsFromPoint` in listeners of the
    page's own mousedown and mouseup, which on a page of 250,000 nodes adds over 100 ms to what is timed.
    """
    x, y = click_point(page, selector, timeout_ms=timeout_ms)
    page.mouse.click(x, y)


def measure_click_to_frame(page: Page, selector: str, reflected_js: str, **kwargs) -> dict:
    """A real click at the centre of `selector` (scrolled into view first: not timed)."""
    x, y = click_point(page, selector, timeout_ms=kwargs.get("timeout_ms", 60_000))
    return measure_input_to_frame(page, lambda: page.mouse.click(x, y), reflected_js, **kwargs)


def measure_key_to_frame(page: Page, key: str, reflected_js: str, *, focus_selector: str | None = None,
                         **kwargs) -> dict:
    """A real key press (`keydown` is the start), after focusing `focus_selector` if given (not timed)."""
    if focus_selector:
        page.locator(focus_selector).focus()
    return measure_input_to_frame(page, lambda: page.keyboard.press(key), reflected_js, **kwargs)


def add_event_timing(page: Page, samples: list[dict], *, wait_ms: float = 500) -> None:
    """Fill each sample's `event_timing_ms`: the longest Event Timing entry that started with its input
    (Chromium reports entries after the frame is presented, hence the wait)."""
    page.wait_for_timeout(wait_ms)
    entries = page.evaluate("() => window.__bench.events")
    for sample in samples:
        near = [e["duration"] for e in entries if abs(e["start"] - sample["t0_ms"]) < 1.0]
        sample["event_timing_ms"] = max(near) if near else None


def chromium_memory_mb(browser: Browser) -> dict:
    """Resident (`VmRSS`) and proportional (`Pss`) memory of the browser's processes, in MB, from /proc:
    the renderers summed, and every process of the browser summed (browser, GPU, utilities too)."""
    session = browser.new_browser_cdp_session()
    try:
        processes = session.send("SystemInfo.getProcessInfo")["processInfo"]
    finally:
        session.detach()
    totals = {"renderer_rss_mb": 0.0, "renderer_pss_mb": 0.0, "all_rss_mb": 0.0, "all_pss_mb": 0.0,
              "renderers": 0}
    for process in processes:
        rss, pss = _proc_kib(process["id"], "status", "VmRSS:"), _proc_kib(process["id"], "smaps_rollup", "Pss:")
        totals["all_rss_mb"] += rss / 1024
        totals["all_pss_mb"] += pss / 1024
        if process["type"] == "renderer":
            totals["renderers"] += 1
            totals["renderer_rss_mb"] += rss / 1024
            totals["renderer_pss_mb"] += pss / 1024
    return {key: (round(value, 1) if isinstance(value, float) else value) for key, value in totals.items()}


def collect_garbage(page: Page) -> None:
    """A full garbage collection in the page's renderer (CDP `HeapProfiler.collectGarbage`): without it
    the previous document of the tab can still be counted."""
    cdp(page).send("HeapProfiler.collectGarbage")


def page_metrics(page: Page) -> dict:
    """The page's JS heap (MB) and DOM counters, from CDP `Performance.getMetrics` and `Memory.getDOMCounters`."""
    metrics = _performance(page)
    counters = cdp(page).send("Memory.getDOMCounters")
    return {"js_heap_used_mb": round(metrics["JSHeapUsedSize"] / 1e6, 1),
            "js_heap_total_mb": round(metrics["JSHeapTotalSize"] / 1e6, 1),
            "dom_nodes": counters["nodes"], "js_event_listeners": counters["jsEventListeners"],
            "layout_objects": int(metrics.get("LayoutObjects", 0))}


@contextlib.contextmanager
def filmstrip(page: Page, folder: Path) -> Iterator[list[dict]]:
    """Saves the frames Chromium presents while the block runs (CDP `Page.startScreencast`, PNG) as
    `folder/<ms>.png`, <ms> since the navigation start of the document current at the end; the yielded
    list gets `{"ms", "path"}` per frame. For looking at what a person would have seen, not for timing:
    encoding the frames costs CPU."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    session = page.context.new_cdp_session(page)
    frames: list[dict] = []
    raw: list[tuple[float, bytes]] = []

    def on_frame(event: dict) -> None:
        raw.append((event["metadata"]["timestamp"], base64.b64decode(event["data"])))
        session.send("Page.screencastFrameAck", {"sessionId": event["sessionId"]})

    session.on("Page.screencastFrame", on_frame)
    session.send("Page.startScreencast", {"format": "png", "maxWidth": 800, "maxHeight": 600})
    try:
        yield frames
    finally:
        session.send("Page.stopScreencast")
        origin_s = page.evaluate("() => performance.timeOrigin") / 1000
        for stamp, data in raw:
            ms = round((stamp - origin_s) * 1000)
            path = folder / f"{ms:06d}.png"
            path.write_bytes(data)
            frames.append({"ms": ms, "path": str(path)})
        session.detach()


@contextlib.contextmanager
def cpu_profile(page: Page, *, top: int = 20, interval_us: int = 500) -> Iterator[dict]:
    """Samples the page's JavaScript (CDP Profiler) while the block runs; afterwards the yielded dict has
    `sampled_ms` and the `top` functions by self and by inclusive time (ms, "name file:line")."""
    session = cdp(page)
    result: dict = {}
    session.send("Profiler.enable")
    session.send("Profiler.setSamplingInterval", {"interval": interval_us})
    session.send("Profiler.start")
    try:
        yield result
    finally:
        profile = session.send("Profiler.stop")["profile"]
        session.send("Profiler.disable")
        result.update(_profile_top(profile, top))


def _profile_top(profile: dict, top: int) -> dict:
    nodes = {node["id"]: node for node in profile["nodes"]}
    parent = {child: node["id"] for node in profile["nodes"] for child in node.get("children", [])}

    def name(node_id: int) -> str:
        frame = nodes[node_id]["callFrame"]
        where = frame["url"].rsplit("/", 1)[-1].split("?")[0]
        return f"{frame['functionName'] or '(anonymous)'} {where}:{frame['lineNumber'] + 1}" if where else \
            frame["functionName"] or "(anonymous)"

    self_us: collections.Counter = collections.Counter()
    inclusive_us: collections.Counter = collections.Counter()
    deltas = profile.get("timeDeltas", [])
    for sample, delta in zip(profile.get("samples", []), [*deltas[1:], 0], strict=True):
        self_us[name(sample)] += delta
        seen, node = set(), sample
        while node is not None:
            key = name(node)
            if key not in seen:
                inclusive_us[key] += delta
                seen.add(key)
            node = parent.get(node)
    return {"sampled_ms": round(sum(self_us.values()) / 1000),
            "self_ms": [(round(us / 1000), key) for key, us in self_us.most_common(top)],
            "inclusive_ms": [(round(us / 1000), key) for key, us in inclusive_us.most_common(top) if key != "(root)"]}


def wait_until_network_quiet(page: Page, *, quiet_ms: float = 1_500, timeout_ms: float = 120_000) -> None:
    """Until no request of the page has been in flight for `quiet_ms` (autosaves have reached the server)."""
    pending: set = set()
    last_change = [time.monotonic()]

    def started(request):
        pending.add(request)
        last_change[0] = time.monotonic()

    def ended(request):
        pending.discard(request)
        last_change[0] = time.monotonic()

    page.on("request", started)
    page.on("requestfinished", ended)
    page.on("requestfailed", ended)
    deadline = time.monotonic() + timeout_ms / 1000
    try:
        while time.monotonic() < deadline:
            page.wait_for_timeout(100)
            if not pending and time.monotonic() - last_change[0] >= quiet_ms / 1000:
                return
        raise TimeoutError(f"requests still in flight after {timeout_ms / 1000:.0f} s: {len(pending)}")
    finally:
        page.remove_listener("request", started)
        page.remove_listener("requestfinished", ended)
        page.remove_listener("requestfailed", ended)


def dir_sizes(root: Path) -> dict[str, int]:
    """Bytes per file under `root` (relative paths), largest first."""
    sizes = {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def spread(values: Iterable[float | None]) -> dict | None:
    """Median, min and max of the values that are not None, and how many there were."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    return {"median": rnd(statistics.median(present)), "min": rnd(min(present)), "max": rnd(max(present)),
            "n": len(present)}


def _proc_kib(pid: int, name: str, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:  # the process ended meanwhile
        return 0
    return 0


def rnd(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)
