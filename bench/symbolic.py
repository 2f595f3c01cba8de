"""Symbolic checker benchmark: planted-slip precision and recall, false alarms on expert-correct steps, speed.

    python bench/symbolic.py [--repeat 5] [--seed 1] [--data /work/shared/data/processbench] [--write-docs]

Reads ProcessBench's gsm8k.json and math.json from --data (default: $PROCESSBENCH_DIR or
/work/shared/data/processbench) when they are there, and always builds a small synthetic corpus
(seeded templates) so that a clone without the data still runs it. Then:

1. False alarms: every step the experts call correct (before `label`, or all steps when label is -1)
   is checked as it is; a step with a mismatch is a false alarm.
2. Planted slips: for every such step with a verified numeric equality, one copy with the result of
   one of those equalities altered (oversight/symbolic/planting.py: a digit, one unit in the last
   place, two digits swapped, or ten off); a mismatch whose span covers the altered number is a hit.
   Precision counts every mismatch on the planted copies and on the correct steps; recall counts
   planted slips hit. Algebra slips (an integer of a verified identity altered) are scored apart.
3. Speed: check_step over every step of the corpus, --repeat times; CPU and wall steps per second.

Prints the results as markdown; --write-docs also puts them into docs/benchmarks.md between the
`bench:symbolic` markers.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from oversight.symbolic import MISMATCH, VERIFIED, check_step  # noqa: E402
from oversight.symbolic.planting import (  # noqa: E402
    algebra_candidates,
    arithmetic_candidates,
    plant_algebra,
    plant_arithmetic,
)

DOCS = ROOT / "docs" / "benchmarks.md"
START_MARK = "<!-- bench:symbolic:start -->"
END_MARK = "<!-- bench:symbolic:end -->"
DEFAULT_DATA = Path(os.environ.get("PROCESSBENCH_DIR", "/work/shared/data/processbench"))
TARGET_STEPS_PER_S = 5000
TARGET_PRECISION = 0.95
TARGET_RECALL = 0.90


@dataclass
class Source:
    name: str
    chains: list[list[str]]  # the steps experts call correct, per chain
    all_steps: list[str]  # every step, for the speed run
    description: str
    first_errors: list[str] | None = None  # the step experts mark as the first wrong one, per chain


# -- corpora -----------------------------------------------------------------------------------------


def load_processbench(path: Path, name: str) -> Source | None:
    file = path / f"{name}.json"
    if not file.exists():
        return None
    items = json.loads(file.read_text())
    chains = [item["steps"] if item["label"] == -1 else item["steps"][: item["label"]] for item in items]
    steps = [step for item in items for step in item["steps"]]
    first_errors = [item["steps"][item["label"]] for item in items if item["label"] >= 0]
    return Source(
        f"processbench-{name}", chains, steps, f"ProcessBench {name}: {len(items)} chains, {file}", first_errors
    )


def synthetic(rng: random.Random, n_chains: int = 400) -> Source:
    """GSM8K-like chains from templates: prose and LaTeX arithmetic, units, money, percentages, a few
    identities, and sentences without arithmetic. All correct by construction."""

    def step() -> str:
        a, b, c = rng.randint(2, 60), rng.randint(2, 40), rng.randint(2, 12)
        price = rng.randint(101, 2999) / 100
        p = rng.choice((5, 10, 15, 20, 25, 40, 50, 75))
        n = rng.choice((20, 40, 60, 80, 120, 200, 360))
        templates = [
            f"She buys {a} packs of {b} pencils, so she has {a} × {b} = {a * b} pencils.",
            f"First, add the two groups: {a} + {b} = {a + b} students.",
            rf"The total is \({a} \times {c} = {a * c}\) cookies.",
            rf"So the cost is \(\${price:.2f} \times {c} = \${price * c:.2f}\).",
            rf"\[ \text{{Total}} = {a} + {b} + {c} = {a + b + c} \]",
            rf"After the sale, \(\frac{{{a * c}}}{{{c}}} = {a}\) boxes are left for each shelf.",
            f"{p}% of {n} = {p * n // 100 if p * n % 100 == 0 else p * n / 100}, so that many were sold.",
            f"He drove {a} miles per hour for {c} hours: {a} * {c} = {a * c} miles.",
            f"The remaining amount is ${a * 10} - ${b} = ${a * 10 - b}.",
            rf"\( {a}^2 = {a * a} \)",
            rf"\[ ({a} + {b}) \times {c} = {a + b} \times {c} = {(a + b) * c} \]",
            rf"\[ {c}(x + {a}) = {c}x + {c * a} \]",
            rf"\[ (x + {c})(x + {b}) = x^2 + {b + c}x + {b * c} \]",
            f"Let x be the number of apples. Then x + {a} = {a + b}, so x = {b}.",
            f"Step {c}: she now has {a} apples left after giving {b} away on day {c}.",
            f"The class runs from 9:00 to 10:30, which is {c * 10} minutes of work on pages {a}-{a + b}.",
        ]
        return rng.choice(templates)

    chains = [[step() for _ in range(rng.randint(3, 6))] for _ in range(n_chains)]
    return Source("synthetic", chains, [s for chain in chains for s in chain], f"synthetic: {n_chains} template chains")


# -- evaluation --------------------------------------------------------------------------------------


@dataclass
class Scores:
    correct_steps: int = 0
    false_alarm_steps: int = 0
    false_alarm_findings: int = 0
    planted: int = 0
    hits: int = 0
    planted_fp: int = 0  # mismatches on planted copies away from the plant
    algebra_planted: int = 0
    algebra_hits: int = 0
    algebra_fp: int = 0
    findings: Counter | None = None
    by_kind: Counter | None = None
    hits_by_kind: Counter | None = None
    misses: Counter | None = None
    steps_with_relation: int = 0
    steps_checked: int = 0
    first_errors: int = 0  # steps the experts mark as the first wrong one
    first_errors_flagged: int = 0  # ... on which the checker reports a mismatch


def _hit(findings, plant) -> tuple[bool, int]:
    hit = other = 0
    for f in findings:
        if f.outcome != MISMATCH:
            continue
        if f.start <= plant.start and plant.end <= f.end:
            hit = 1
        else:
            other += 1
    return bool(hit), other


def evaluate(source: Source, rng: random.Random) -> tuple[Scores, list[tuple[str, object, str]]]:
    scores = Scores(findings=Counter(), by_kind=Counter(), hits_by_kind=Counter(), misses=Counter())
    false_alarms: list[tuple[str, object, str]] = []
    for chain in source.chains:
        for text in chain:
            findings = check_step(text)
            scores.correct_steps += 1
            if "=" in text:
                scores.steps_with_relation += 1
                if any(f.outcome != "abstain" for f in findings):
                    scores.steps_checked += 1
            for f in findings:
                scores.findings[(f.outcome, f.rule)] += 1
            mismatches = [f for f in findings if f.outcome == MISMATCH]
            if mismatches:
                scores.false_alarm_steps += 1
                scores.false_alarm_findings += len(mismatches)
                false_alarms.extend((source.name, f, text) for f in mismatches)
            candidates = arithmetic_candidates(findings)
            if candidates:
                plant = plant_arithmetic(text, rng.choice(candidates), rng)
                if plant is not None:
                    hit, other = _hit(check_step(plant.text), plant)
                    scores.planted += 1
                    scores.by_kind[plant.kind] += 1
                    scores.hits += hit
                    scores.hits_by_kind[plant.kind] += hit
                    scores.planted_fp += other
                    if not hit:
                        at = [f for f in check_step(plant.text) if f.start <= plant.start and plant.end <= f.end]
                        scores.misses[at[0].rule if at else "not found"] += 1
            identities = algebra_candidates(findings)
            if identities:
                plant = plant_algebra(text, rng.choice(identities), rng)
                if plant is not None:
                    after = check_step(plant.text)
                    at = [f for f in after if f.start <= plant.start and plant.end <= f.end]
                    if at and at[0].outcome == VERIFIED:
                        continue  # the altered integer did not matter (still an identity): not a slip
                    hit, other = _hit(after, plant)
                    scores.algebra_planted += 1
                    scores.algebra_hits += hit
                    scores.algebra_fp += other
    for text in source.first_errors or []:
        scores.first_errors += 1
        scores.first_errors_flagged += any(f.outcome == MISMATCH for f in check_step(text))
    return scores, false_alarms


def speed(sources: list[Source], repeat: int) -> dict[str, list[float]]:
    """Steps per second over every step of the real corpora (the synthetic one if alone), each run
    also split by corpus; and the time of one 50,000-character step."""
    corpora = [s for s in sources if s.name != "synthetic"] or sources
    for source in corpora:
        for text in source.all_steps[:200]:
            check_step(text)  # warm up: regexes, the sympy import on the first radical
    out: dict[str, list[float]] = {"cpu": [], "wall": []}
    for _ in range(repeat):
        total_cpu = total_wall = 0.0
        for source in corpora:
            c0, w0 = time.process_time(), time.perf_counter()
            for text in source.all_steps:
                check_step(text)
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            out.setdefault(f"cpu:{source.name}", []).append(len(source.all_steps) / cpu)
            total_cpu += cpu
            total_wall += wall
        steps = sum(len(source.all_steps) for source in corpora)
        out["cpu"].append(steps / total_cpu)
        out["wall"].append(steps / total_wall)
    longest = ("We add 1 + 1 = 2 and then 2 × 3 = 6. " * 1400)[:50_000]
    t0 = time.perf_counter()
    check_step(longest)
    out["long_ms"] = [1000 * (time.perf_counter() - t0)]
    return out


# -- report ------------------------------------------------------------------------------------------


def _pct(num: int, den: int) -> str:
    return "n/a" if den == 0 else f"{100 * num / den:.1f} %"


def _wilson(num: int, den: int) -> str:
    if den == 0:
        return ""
    z, p = 1.96, num / den
    centre = (p + z * z / (2 * den)) / (1 + z * z / den)
    half = z * math.sqrt(p * (1 - p) / den + z * z / (4 * den * den)) / (1 + z * z / den)
    return f"{100 * (centre - half):.1f}–{100 * min(1, centre + half):.1f} %"


def _range(values: list[float]) -> str:
    return f"{min(values):,.0f}–{max(values):,.0f} (median {statistics.median(values):,.0f})"


def report(sources, results, timing, speed_steps, args, examples) -> str:
    lines = [
        f"Last run: {datetime.date.today()} on {os.cpu_count()} cores (shared; load average "
        f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())} when it ended), Python {platform.python_version()}, "
        f"sympy {_sympy_version()}.",
        "",
        f"Command: `python bench/symbolic.py --repeat {args.repeat} --seed {args.seed}`",
        "",
        "Inputs: " + "; ".join(s.description for s in sources) + ".",
        "",
    ]
    real = {k: v for k, v in results.items() if k != "synthetic"} or results
    tp = sum(s.hits for s, _ in real.values())
    fp = sum(s.planted_fp + s.false_alarm_findings for s, _ in real.values())
    planted = sum(s.planted for s, _ in real.values())
    precision, recall = (tp / (tp + fp) if tp + fp else 0.0), (tp / planted if planted else 0.0)
    lines += [
        "| measure | value | target | |",
        "| --- | ---: | --- | --- |",
        f"| precision on planted arithmetic slips{' (ProcessBench)' if len(real) < len(results) else ''} | "
        f"{precision:.3f} ({tp} hits, {fp} other mismatches) | ≥ {TARGET_PRECISION} | "
        f"{'met' if precision >= TARGET_PRECISION else '**missed**'} |",
        f"| recall on planted arithmetic slips | {recall:.3f} ({tp} of {planted}; 95 % CI {_wilson(tp, planted)}) "
        f"| ≥ {TARGET_RECALL} | {'met' if recall >= TARGET_RECALL else '**missed**'} |",
        f"| steps per second, CPU time ({len(speed_steps):,} steps × {args.repeat}) | {_range(timing['cpu'])} | "
        f"≥ {TARGET_STEPS_PER_S:,} | {'met' if min(timing['cpu']) >= TARGET_STEPS_PER_S else '**missed**'} |",
        f"| steps per second, wall clock (same runs) | {_range(timing['wall'])} | | |",
        *(
            f"| … of which {key.removeprefix('cpu:')} ({len(src.all_steps):,} steps), CPU time | {_range(values)} | | |"
            for key, values in timing.items()
            if key.startswith("cpu:")
            for src in sources
            if src.name == key.removeprefix("cpu:")
        ),
        f"| a 50,000-character step | {timing['long_ms'][0]:.0f} ms | | |",
        "",
        "Per corpus (arithmetic slips: precision counts mismatches on the planted copies and on the correct"
        " steps as they are):",
        "",
        "| corpus | correct steps | false-alarm steps | planted | hits | recall | other mismatches | precision |"
        " algebra slips: hits / planted |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, (s, _) in results.items():
        fps = s.planted_fp + s.false_alarm_findings
        prec = s.hits / (s.hits + fps) if s.hits + fps else 0.0
        lines.append(
            f"| {name} | {s.correct_steps:,} | {s.false_alarm_steps} ({_pct(s.false_alarm_steps, s.correct_steps)}) | "
            f"{s.planted:,} | {s.hits:,} | {_pct(s.hits, s.planted)} | {fps} | {prec:.3f} | "
            f"{s.algebra_hits} / {s.algebra_planted} ({_pct(s.algebra_hits, s.algebra_planted)}) |"
        )
    kinds = Counter()
    kind_hits = Counter()
    misses = Counter()
    for s, _ in real.values():
        kinds.update(s.by_kind)
        kind_hits.update(s.hits_by_kind)
        misses.update(s.misses)
    lines += [
        "",
        "Recall by slip: " + ", ".join(f"{k} {_pct(kind_hits[k], kinds[k])} of {kinds[k]}" for k in sorted(kinds))
        + ". Missed slips, by what the checker said at the plant: "
        + (", ".join(f"{rule} {n}" for rule, n in misses.most_common()) or "none") + ".",
        "",
    ]
    for name, (s, _) in results.items():
        if name == "synthetic":
            continue
        checked = _pct(s.steps_checked, s.steps_with_relation)
        top = ", ".join(f"{o} {r} {n}" for (o, r), n in s.findings.most_common(8))
        lines.append(
            f"Coverage, {name}: of {s.steps_with_relation:,} correct steps with an `=`, {checked} have at least one "
            f"equality verified or flagged. Findings on correct steps: {top}. Real errors: the checker flags "
            f"{s.first_errors_flagged} of the {s.first_errors} first wrong steps "
            f"({_pct(s.first_errors_flagged, s.first_errors)}); most expert-found errors are not arithmetic."
        )
        lines.append("")
    alarms = [fa for _, (_, fas) in real.items() for fa in fas]
    if alarms:
        lines.append("Mismatches on expert-correct steps (each counted above as a false alarm):")
        lines.append("")
        for name, f, _text in alarms[:12]:
            lines.append(f"- {name}: `{_md(f.expression)}` — {f.detail}")
        lines.append("")
    lines.append("Example findings on planted copies:")
    lines.append("")
    for text, f in examples:
        lines.append(f"- {f.outcome} ({f.rule}): `{_md(f.expression)}` — {f.detail}  ")
        lines.append(f"  in “{_md(_around(text, f))}”")
    return "\n".join(lines) + "\n"


def _sympy_version() -> str:
    import sympy

    return sympy.__version__


def _md(text: str) -> str:
    return text.replace("`", "'").replace("\n", " ").replace("|", "\\|")


def _around(text: str, f) -> str:  # noqa: ANN001
    lo, hi = max(0, f.start - 60), min(len(text), f.end + 30)
    return ("…" if lo else "") + text[lo:hi] + ("…" if hi < len(text) else "")


def pick_examples(sources: list[Source], rng: random.Random) -> list[tuple[str, object]]:
    """A planted mismatch, an identity, a rounding, and two abstentions, from the first real corpus."""
    wanted = {"exact": None, "identity": None, "rounded": None, "equation": None, "label": None, "boundary": None}
    for source in sources:
        for chain in source.chains:
            for text in chain:
                findings = check_step(text)
                for f in findings:
                    readable = len(f.expression) < 80 and not f.expression.startswith(("+", "-", "−"))
                    if f.rule in wanted and wanted[f.rule] is None and f.rule != "exact" and readable:
                        wanted[f.rule] = (text, f)
                candidates = arithmetic_candidates(findings)
                if candidates and wanted["exact"] is None:
                    plant = plant_arithmetic(text, candidates[0], rng)
                    if plant is not None:
                        hit = [f for f in check_step(plant.text) if f.outcome == MISMATCH and f.start <= plant.start]
                        if hit and len(hit[0].expression) < 80:
                            wanted["exact"] = (plant.text, hit[0])
        if all(wanted.values()):
            break
    return [v for v in wanted.values() if v is not None]


def write_docs(block: str) -> None:
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    section = f"{START_MARK}\n{block}{END_MARK}"
    if START_MARK in text and END_MARK in text:
        head, rest = text.split(START_MARK, 1)
        _, tail = rest.split(END_MARK, 1)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n## Symbolic checker\n\n" + section + "\n"
    DOCS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="Speed runs over the whole corpus (default 5).")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Folder with ProcessBench gsm8k.json, math.json.")
    parser.add_argument("--no-processbench", action="store_true", help="Synthetic corpus only.")
    parser.add_argument("--write-docs", action="store_true", help="Write the results into docs/benchmarks.md.")
    args = parser.parse_args()

    sources = []
    if not args.no_processbench:
        for name in ("gsm8k", "math"):
            source = load_processbench(args.data, name)
            if source is None:
                print(f"ProcessBench {name}: not found under {args.data}; skipped.", file=sys.stderr)
            else:
                sources.append(source)
    sources.append(synthetic(random.Random(args.seed)))
    print("Corpora: " + "; ".join(s.description for s in sources), file=sys.stderr)

    results = {s.name: evaluate(s, random.Random(f"{args.seed}:{s.name}")) for s in sources}
    real_steps = [t for s in sources if s.name != "synthetic" for t in s.all_steps] or sources[-1].all_steps
    timing = speed(sources, args.repeat)
    examples = pick_examples(sources, random.Random(args.seed))
    block = report(sources, results, timing, real_steps, args, examples)
    print(block)
    if args.write_docs:
        write_docs(block)
        print(f"Wrote {DOCS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
