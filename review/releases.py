"""Services of dataset releases: create (validate, record, schedule the build), build (the exports worker),
re-make from a manifest, diff two releases.

A build reads the project in one REPEATABLE READ transaction (on PostgreSQL), so every file of a
release sees the same labels even while annotators keep working, and writes every format and split
in one streamed pass (review/releases_build.py) into a folder that is renamed into place when done:
a failed build leaves no half release. Progress goes to the cache and to the project's websocket
group every second; nothing is written to the release row until the end.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess  # noqa: S404  (git rev-parse, fixed arguments)
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from annotation.exceptions import Conflict, NotFound, ValidationFailed
from annotation.models import Project
from annotation.realtime import broadcast_project_event
from annotation.services.audit import audit_record

from . import export_parts
from . import releases_build as rb
from . import releases_store as store
from .exporters import ChainRecord
from .quality_models import ItemStatus, ReviewItem
from .releases_formats import NEUTRAL_CHOICES, problem_split
from .releases_models import DatasetRelease, LabelSource, ReleaseFile, ReleaseStatus
from .releases_selectors import release_chain_total, release_chains

log = logging.getLogger(__name__)
MANIFEST_VERSION = 1
PROGRESS_SECONDS = 1.0
PROGRESS_EVERY = 1000  # chains between two looks at the clock
# A build refreshes its progress in the cache at least every batch (seconds); a key this old means the
# worker died (its snapshot transaction died with it, and its files are only a .partial folder).
HEARTBEAT_SECONDS = 120
MAX_ATTEMPTS = 3


def releases_root() -> Path:
    return store.local_root()


def release_dir(release: DatasetRelease) -> Path:
    """The release's local folder (the embedded default; with STEPWISE_S3_BUCKET its files are in the
    bucket: read them through releases_store)."""
    return store.local_dir(release.pk)


def _progress_key(release_id: int) -> str:
    return f"stepwise:release:{release_id}"


def release_live_progress(release: DatasetRelease) -> dict:
    if release.status != ReleaseStatus.BUILDING:
        return release.progress or {}
    return cache.get(_progress_key(release.pk)) or release.progress or {}


_CODE_VERSION: str | None = None


def code_version() -> str:
    """The git commit of the code (STEPWISE_CODE_VERSION overrides it), 'unknown' outside a checkout."""
    global _CODE_VERSION
    if _CODE_VERSION is None:
        _CODE_VERSION = os.environ.get("STEPWISE_CODE_VERSION", "")
        if not _CODE_VERSION:
            try:
                done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=settings.BASE_DIR, capture_output=True,  # noqa: S607
                                      text=True, timeout=5, check=False)
                _CODE_VERSION = done.stdout.strip() or "unknown"
            except (OSError, subprocess.SubprocessError):
                _CODE_VERSION = "unknown"
    return _CODE_VERSION


# --- create ----------------------------------------------------------------------------------------------

def _filters(*, formats, label_source, min_agreement, min_label_sets, include_gold, include_screening,
             include_planted, test_fraction, seed, neutral) -> dict:
    formats = list(dict.fromkeys(formats or []))
    unknown = [f for f in formats if f not in rb.RELEASE_FORMATS]
    if unknown or not formats:
        raise ValidationFailed(f"formats {unknown or '(none)'}: choose one or more of {', '.join(rb.RELEASE_FORMATS)}.",
                               field="formats")
    if label_source not in LabelSource.values:
        raise ValidationFailed(f"label_source '{label_source}' is not one of {', '.join(LabelSource.values)}.",
                               field="label_source")
    try:
        min_agreement, test_fraction, min_label_sets = float(min_agreement), float(test_fraction), int(min_label_sets)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"min_agreement and test_fraction must be numbers, min_label_sets a whole number ({exc}).",
                               field="min_agreement") from None
    if not 0 <= min_agreement <= 1:
        raise ValidationFailed(f"min_agreement must be between 0 and 1; got {min_agreement}.", field="min_agreement")
    if not 0 <= test_fraction < 1:
        raise ValidationFailed(f"test_fraction must be at least 0 and below 1 (e.g. 0.1); got {test_fraction}.",
                               field="test_fraction")
    if not 1 <= min_label_sets <= 50:
        raise ValidationFailed(f"min_label_sets must be 1 to 50; got {min_label_sets}.", field="min_label_sets")
    if neutral not in NEUTRAL_CHOICES:
        raise ValidationFailed(f"neutral must be one of {', '.join(NEUTRAL_CHOICES)}; got '{neutral}'.", field="neutral")
    seed = str(seed or "stepwise")
    if len(seed) > 64:
        raise ValidationFailed("seed: at most 64 characters.", field="seed")
    return {"formats": formats, "label_source": label_source, "min_agreement": min_agreement,
            "min_label_sets": min_label_sets, "include_gold": bool(include_gold),
            "include_screening": bool(include_screening), "include_planted": bool(include_planted),
            "test_fraction": test_fraction, "seed": seed, "neutral": neutral}


def release_create(*, project: Project, user, name: str, version: str, formats: list[str],
                   label_source: str = LabelSource.REFERENCE, min_agreement: float = 0.0, min_label_sets: int = 1,
                   include_gold: bool = False, include_screening: bool = False, include_planted: bool = False,
                   test_fraction: float = 0.1, seed: str = "stepwise", neutral: str = "positive",
                   description: str = "", remade_from: DatasetRelease | None = None,
                   enqueue: bool = True) -> DatasetRelease:
    """Record a release and schedule its build on the exports queue (after commit; `enqueue=False` when the
    caller builds it itself, as `manage.py release_build` does)."""
    from django.utils.text import slugify

    if not name or slugify(name) != name or len(name) > 100:
        raise ValidationFailed(f"name '{name[:100]}' must be a slug (letters, digits, - and _), e.g. "
                               f"'{slugify(name) or 'gsm8k-steps'}'.", field="name")
    if not version or len(version) > 32 or any(c.isspace() for c in version):
        raise ValidationFailed(f"version '{version[:40]}' must be 1 to 32 characters without spaces, e.g. '1.0'.",
                               field="version")
    filters = _filters(formats=formats, label_source=label_source, min_agreement=min_agreement,
                       min_label_sets=min_label_sets, include_gold=include_gold, include_screening=include_screening,
                       include_planted=include_planted, test_fraction=test_fraction, seed=seed, neutral=neutral)
    with transaction.atomic():
        if DatasetRelease.objects.filter(project=project, name=name, version=version).exists():
            raise Conflict(f"{name} {version} already exists in {project.slug}; a release never changes: give the "
                           "new one another version.", field="version")
        release = DatasetRelease.objects.create(project=project, name=name, version=version, description=description,
                                                filters=filters, created_by=user, remade_from=remade_from,
                                                progress={"done": 0, "total": release_chain_total(project=project)})
        audit_record(action="release.created", actor=user, project=project, obj=release,
                     detail={"name": name, "version": version, "filters": filters,
                             "remade_from": remade_from.pk if remade_from else None})
        if enqueue:
            transaction.on_commit(lambda: _enqueue(release.pk))
    return release


def _enqueue(release_id: int) -> None:
    from .releases_tasks import release_build_task  # tasks import services; here to keep that one-way

    try:
        release_build_task.apply_async(args=[release_id], retry=False)
    except Exception as exc:  # a broker that is down must not undo the release row that committed
        log.warning("release %s: broker unreachable (%s)", release_id, exc)
        DatasetRelease.objects.filter(pk=release_id, status=ReleaseStatus.QUEUED).update(
            progress={"waiting": "The task queue could not be reached; build it with "
                                 f"`manage.py release_build --release {release_id}`."})


# --- build -------------------------------------------------------------------------------------------------

def _pinned_from(release: DatasetRelease) -> dict[int, dict]:
    """The selection of a built release, checked against its manifest's sha256."""
    expected = release.manifest.get("selection", {}).get("sha256")
    if not expected or not store.exists(release_id=release.pk, path="selection.jsonl"):
        raise NotFound(f"release {release.pk} has no selection file to re-make it from.")
    pinned = {}
    selection = store.HashedLines(release_id=release.pk, path="selection.jsonl")  # read once, hashed as read
    lines = iter(selection)
    unreadable = None
    for line in lines:
        try:
            row = orjson.loads(line)
            # What reading needs, not the ids and hashes (a release of 200,000 chains holds this whole).
            pinned[row["chain"]] = {"revision": row["revision"], "split": row["split"], "reference": row["reference"],
                                    "annotator": row["annotator"], "adjudicated": row.get("adjudicated", [])}
        except (ValueError, KeyError, TypeError) as exc:
            unreadable = exc
            for _rest in lines:  # the rest only hashed: a changed file is named as changed, not as broken
                pass
    if selection.sha256 != expected:
        raise Conflict(f"release {release.pk}: selection.jsonl's sha256 is not the manifest's; the release's "
                       "files were changed.")
    if unreadable is not None:
        raise unreadable
    return pinned


def write_release(*, project: Project, filters: dict, root: Path, name: str, version: str, description: str = "",
                  pinned: dict[int, dict] | None = None, oversight_upto: int | None = None,
                  on_progress: Callable[[int], None] | None = None, parts: int = 1) -> dict:
    """Write every file of a release into `root` (which must not exist) and return its manifest.

    `oversight_upto`: the last oversight run a re-make may include (the original's), else the latest now.
    `parts=2`: inside a REPEATABLE READ transaction of this connection's own (release_build's `_snapshot`), a
    large release's second half of chains is written by a forked child reading the same snapshot
    (review/export_parts.py), and appended: the same bytes as one process.
    """
    writer = rb.ReleaseWriter(root=root, formats=tuple(filters["formats"]), neutral=filters["neutral"])
    with_oversight = "oversight" in filters["formats"]
    placed: dict[str, tuple[str, int]] = {}  # source id -> (split, revision), for the oversight lines
    # Chains quality control dropped (still no agreement at the most annotators its policy collects) stay out
    # of a new release; a re-make keeps what the original pinned.
    dropped = set() if pinned is not None else set(ReviewItem.objects.filter(
        project=project, status=ItemStatus.DROPPED).values_list("chain_id", flat=True))

    def chains(writer: rb.ReleaseWriter, progress: Callable[[int], None] | None, **part) -> int:
        return _write_chains(writer, release_chains(
            project=project, include_gold=filters["include_gold"], include_screening=filters["include_screening"],
            include_planted=filters["include_planted"], pinned=pinned,
            adjudicated=filters["label_source"] == LabelSource.ADJUDICATED, **part),
            filters=filters, pinned=pinned, dropped=dropped, placed=placed if with_oversight else None,
            on_progress=progress)

    split = _release_split(project, filters, pinned, parts)
    if split is None:
        read = chains(writer, on_progress)
    else:
        read = _write_in_two(writer, chains, split, root, on_progress)
    if with_oversight:
        oversight_upto = _oversight_lines(project, writer, placed, oversight_upto)
    files = writer.close()
    data_files = [f for f in files if f.kind != "selection"]
    manifest: dict = {
        "manifest_version": MANIFEST_VERSION, "project": project.slug, "name": name, "version": version,
        "description": description, "filters": filters, "code_version": code_version(),
        "libraries": _libraries(), "label_rule": _LABEL_RULE,
        "counts": {"chains_read": read, "chains": writer.chains,
                   "rows": {f"{f.kind}/{f.split}": f.rows for f in data_files},
                   "left_out": dict(sorted(writer.left_out.items()))},
        "selection": next(f.as_dict() for f in files if f.kind == "selection"),
        "processes": 1 if split is None else 2,  # how it was written (the bytes are the same either way)
    }
    if with_oversight:
        manifest["oversight_upto"] = oversight_upto
    # The content hash covers every data file and the selection; the dataset card (made from this
    # manifest) names it, and is listed with its own sha256 like every file.
    manifest["content_hash"] = rb.content_hash(files)
    if "parquet" in filters["formats"]:
        files.append(writer.write_card(name=name, version=version, description=description, manifest=manifest))
    manifest["files"] = [f.as_dict() for f in sorted(files, key=lambda f: f.path) if f.kind != "selection"]
    (root / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return manifest


def _write_chains(writer: rb.ReleaseWriter, chains, *, filters: dict, pinned: dict[int, dict] | None, dropped: set,
                  placed: dict | None, on_progress: Callable[[int], None] | None) -> int:
    """Each chain's labels chosen, its split, its rows written; returns the chains read."""
    read = 0
    for chain in chains:
        read += 1
        if on_progress and read % PROGRESS_EVERY == 0:
            on_progress(read)
        if chain.pk in dropped:
            writer.skip("dropped: no agreement among annotators")
            continue
        used, ratings, agreement, reason = rb.choose_labels(
            chain.label_sets, source=filters["label_source"], min_agreement=filters["min_agreement"],
            min_label_sets=filters["min_label_sets"], size=len(chain.steps))  # type: ignore[arg-type]
        if reason:
            writer.skip(reason)
            continue
        split = (pinned[chain.pk]["split"] if pinned is not None else
                 problem_split(chain.statement_hash, test_fraction=filters["test_fraction"], seed=filters["seed"]))
        record = ChainRecord(source_id=chain.source_id, source_model=chain.source_model, problem=chain.problem,
                             reference_answer=chain.reference_answer, steps=chain.steps,  # type: ignore[arg-type]
                             metadata=chain.metadata, label_sets=[s[2] for s in used])
        provenance = {"label_source": filters["label_source"], "agreement": agreement, "revision": chain.revision,
                      "label_sets": [s[3] for s in used]}
        selection = {"chain": chain.pk, "id": chain.source_id, "revision": chain.revision, "split": split,
                     "problem": chain.statement_hash,
                     "labels": hashlib.sha256(orjson.dumps(ratings)).hexdigest()[:16],
                     "reference": [s[1] for s in used if s[0] == "reference"],
                     "annotator": [s[1] for s in used if s[0] == "annotator"],
                     "adjudicated": [s[1] for s in used if s[0] == "adjudicated"]}
        writer.add(rb.Entry(record=record, ratings=ratings, split=split, provenance=provenance, selection=selection))
        if placed is not None:
            placed[chain.source_id] = (split, chain.revision)
    return read


def _release_split(project: Project, filters: dict, pinned: dict[int, dict] | None, parts: int) -> int | None:
    """The chain id after which a second process writes the release, or None to write it in this one: Parquet
    (row groups) and oversight lines (matched against every placed chain) are written by one process."""
    if not export_parts.can_split(parts=parts) or {"parquet", "oversight"} & set(filters["formats"]):
        return None
    minimum = getattr(settings, "STEPWISE_EXPORT_SPLIT_MIN_CHAINS", export_parts.MIN_CHAINS)
    if pinned is None:
        return export_parts.median_chain_id(project.pk, minimum=minimum)
    ids = sorted(pinned)
    return ids[len(ids) // 2 - 1] if len(ids) >= max(minimum, 2) else None


def _write_in_two(writer: rb.ReleaseWriter, chains, split: int, root: Path,
                  on_progress: Callable[[int], None] | None) -> int:
    """The chains up to `split` here, the rest in a forked child reading this transaction's snapshot."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
    part_root = root.with_name(root.name + ".part2")
    shutil.rmtree(part_root, ignore_errors=True)

    def second_half(progress: Callable[[int], None]) -> dict:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cursor.execute(f"SET TRANSACTION SNAPSHOT '{_snapshot_name(snapshot)}'")  # noqa: S608 (checked)
            # Not hashed: the parent hashes these bytes where they land in its files.
            theirs = rb.ReleaseWriter(root=part_root, formats=writer.formats, neutral=writer.neutral, hashed=False)
            read = chains(theirs, progress, after=split, batch=export_parts.PART_BATCH // 2)
            files = theirs.close()
        return {"read": read, "files": [f.as_dict() for f in files], "left_out": theirs.left_out,
                "chains": theirs.chains}

    part = export_parts.Part(second_half, directory=root.parent)
    try:
        mine = chains(writer, (lambda n: on_progress(n + part.done())) if on_progress else None, upto=split,
                      batch=export_parts.PART_BATCH // 2)  # half of one process's (releases_selectors.BATCH)
        result = part.wait()
        writer.merge(part_root, result)
        return mine + result["read"]
    finally:
        part.cancel()
        shutil.rmtree(part_root, ignore_errors=True)


def _snapshot_name(name: str) -> str:
    if not all(c in "0123456789ABCDEFabcdef-" for c in name):
        raise ValueError(f"unexpected snapshot name {name!r}")
    return name


def _oversight_lines(project: Project, writer, placed: dict[str, tuple[str, int]], upto: int | None) -> int:
    """The finished oversight results (oversight/exporting.py's lines) of the released chains, on the revision
    the release has, from runs up to `upto` (so later runs never reach a re-make). Returns `upto`."""
    from oversight.exporting import oversight_export_lines
    from oversight.models import OversightRun

    if upto is None:
        upto = OversightRun.objects.filter(chain__project=project).order_by("-id").values_list("id", flat=True).first() or 0
    for split in sorted(writer.chains):
        writer._file("oversight", split)  # a file in every split, with results or not
    for line in oversight_export_lines(project=project):
        row = orjson.loads(line)
        where = placed.get(row["chain_id"])
        if where and row["revision"] == where[1] and row["run_id"] <= upto:
            writer.oversight_line(where[0], line)
    return upto


_LABEL_RULE = ("trl-stepwise/math-shepherd rows end after the first bad step and before the first unrated step; "
               "rating +1 is good, -1 bad, 0 as the `neutral` filter says; a step the labeler wrote counts +1.")


def _libraries() -> dict:
    # Read from the installed metadata: importing pyarrow only to ask would add ~40 MB to every build.
    from importlib.metadata import version

    return {name: version(name) for name in ("orjson", "pyarrow", "zstandard")}


def _snapshot():
    """A transaction whose reads all see one snapshot (PostgreSQL REPEATABLE READ, read only)."""
    outer = connection.in_atomic_block  # inside a caller's transaction (tests): its snapshot it is
    atomic = transaction.atomic()
    atomic.__enter__()
    if connection.vendor == "postgresql" and not outer:
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
    return atomic


def release_build(*, release_id: int, on_progress: Callable[[int], None] | None = None) -> DatasetRelease:
    """Build a queued release (the exports worker). Safe to run twice: a release already built or being
    built by another worker is left as it is."""
    claimed = DatasetRelease.objects.filter(pk=release_id, status=ReleaseStatus.QUEUED).update(
        status=ReleaseStatus.BUILDING, started_at=timezone.now())
    release = DatasetRelease.objects.select_related("project", "remade_from").get(pk=release_id)
    if not claimed:
        return release
    total = release.progress.get("total") or release_chain_total(project=release.project)
    last = [0.0]

    def progress(done: int, force: bool = False) -> None:
        if on_progress:
            on_progress(done)
        now = time.monotonic()
        if not force and now - last[0] < PROGRESS_SECONDS:
            return
        last[0] = now
        payload = {"release": release.pk, "done": done, "total": total, "status": "building"}
        cache.set(_progress_key(release.pk), payload, HEARTBEAT_SECONDS)
        broadcast_project_event(release.project_id, "release.progress", payload)

    progress(0, force=True)  # the first heartbeat: release_maintain tells a live build from a dead one by it

    partial = release_dir(release).with_name(f"{release.pk}.partial")  # local scratch, published when whole
    shutil.rmtree(partial, ignore_errors=True)
    try:
        pinned = _pinned_from(release.remade_from) if release.remade_from else None
        # A second process only in a snapshot of this build's own: one inside a caller's transaction (tests)
        # could not be shared (another session never sees what that transaction wrote).
        parts = 1 if connection.in_atomic_block else 2
        atomic = _snapshot()
        try:
            manifest = write_release(project=release.project, filters=release.filters, root=partial, name=release.name,
                                     version=release.version, description=release.description, pinned=pinned,
                                     oversight_upto=(release.remade_from.manifest.get("oversight_upto")
                                                     if release.remade_from else None),
                                     on_progress=progress, parts=parts)
        finally:
            atomic.__exit__(None, None, None)
    except Exception as exc:
        shutil.rmtree(partial, ignore_errors=True)
        log.exception("release %s failed", release.pk)
        DatasetRelease.objects.filter(pk=release.pk).update(status=ReleaseStatus.FAILED, error=str(exc)[:2000],
                                                            finished_at=timezone.now())
        broadcast_project_event(release.project_id, "release.progress",
                                {"release": release.pk, "status": "failed", "error": str(exc)[:500]})
        release.refresh_from_db()
        return release
    store.publish(release_id=release.pk, scratch=partial)  # the folder moved into place, or uploaded
    read = manifest["counts"]["chains_read"]
    with transaction.atomic():
        ReleaseFile.objects.bulk_create([ReleaseFile(release=release, path=f["path"], kind=f["kind"], split=f["split"],
                                                     rows=f["rows"], bytes=f["bytes"], sha256=f["sha256"])
                                         for f in manifest["files"] + [manifest["selection"]]])
        DatasetRelease.objects.filter(pk=release.pk).update(
            status=ReleaseStatus.DONE, manifest=manifest, content_hash=manifest["content_hash"],
            progress={"done": read, "total": total}, finished_at=timezone.now())
        audit_record(action="release.published", actor=release.created_by, project=release.project, obj=release,
                     detail={"content_hash": manifest["content_hash"], "chains": read,
                             "files": [f["path"] for f in manifest["files"]][:50]})
    cache.delete(_progress_key(release.pk))
    broadcast_project_event(release.project_id, "release.progress",
                            {"release": release.pk, "status": "done", "done": read, "total": total})
    release.refresh_from_db()
    return release


def release_maintain(*, release: DatasetRelease) -> DatasetRelease:
    """A building release whose heartbeat stopped is queued again (its worker died; a build starts from
    nothing, so that is safe), at most MAX_ATTEMPTS times, then failed with the reason. Called on every read
    of a release through the API, like import jobs."""
    if release.status != ReleaseStatus.BUILDING or cache.get(_progress_key(release.pk)):
        return release
    if release.started_at and (timezone.now() - release.started_at).total_seconds() < HEARTBEAT_SECONDS:
        return release
    attempts = int(release.progress.get("attempts", 1))
    if attempts >= MAX_ATTEMPTS:
        DatasetRelease.objects.filter(pk=release.pk, status=ReleaseStatus.BUILDING).update(
            status=ReleaseStatus.FAILED, finished_at=timezone.now(),
            error=f"the build stopped {attempts} times without finishing (its worker died each time); make it "
                  "again with a new version, and check the exports workers' memory and logs.")
    elif DatasetRelease.objects.filter(pk=release.pk, status=ReleaseStatus.BUILDING).update(
            status=ReleaseStatus.QUEUED, progress={**release.progress, "attempts": attempts + 1}):
        transaction.on_commit(lambda: _enqueue(release.pk))
    release.refresh_from_db()
    return release


# --- re-make, verify, diff ------------------------------------------------------------------------------------

def release_remake(*, release: DatasetRelease, out: Path) -> dict:
    """Write the release again from its manifest (its filters and pinned selection) into `out`, and
    compare: {"identical": bool, "files": [{path, expected, got}]}."""
    if release.status != ReleaseStatus.DONE:
        raise Conflict(f"release {release.pk} is {release.status}; only a built release can be re-made.")
    if out.exists():
        raise ValidationFailed(f"{out} exists; give a folder that does not exist yet.", field="out")
    manifest = release.manifest
    pinned = _pinned_from(release)
    with transaction.atomic():
        remade = write_release(project=release.project, filters=manifest["filters"], root=out, name=manifest["name"],
                               version=manifest["version"], description=manifest.get("description", ""),
                               pinned=pinned, oversight_upto=manifest.get("oversight_upto"))
    expected = {f["path"]: f["sha256"] for f in manifest["files"]}
    got = {f["path"]: f["sha256"] for f in remade["files"]}
    files = [{"path": p, "expected": expected.get(p), "got": got.get(p)} for p in sorted(set(expected) | set(got))]
    return {"identical": all(f["expected"] == f["got"] for f in files), "content_hash": remade["content_hash"],
            "files": files}


def release_diff(*, old: DatasetRelease, new: DatasetRelease) -> dict:
    """What changed from one release to another: chains added, removed, moved between splits, relabelled
    (other ratings or label sets), re-segmented (another revision); filters and row counts side by side."""
    if old.project_id != new.project_id:
        raise ValidationFailed("releases of different projects cannot be compared.", field="other")
    for release in (old, new):
        if release.status != ReleaseStatus.DONE:
            raise Conflict(f"release {release.pk} is {release.status}; compare built releases.")

    def read(release):
        rows = {}
        for line in store.HashedLines(release_id=release.pk, path="selection.jsonl"):
            row = orjson.loads(line)
            rows[row["id"]] = (row["split"], row["revision"], tuple(row["reference"]), tuple(row["annotator"]),
                               row["labels"])
        return rows

    a, b = read(old), read(new)
    added = sorted(set(b) - set(a))
    removed = sorted(set(a) - set(b))
    common = set(a) & set(b)
    moved = sorted(i for i in common if a[i][0] != b[i][0])
    revised = sorted(i for i in common if a[i][1] != b[i][1])
    relabelled = sorted(i for i in common if a[i][2:] != b[i][2:])
    limit = 200
    return {
        "old": {"id": old.pk, "name": old.name, "version": old.version, "content_hash": old.content_hash},
        "new": {"id": new.pk, "name": new.name, "version": new.version, "content_hash": new.content_hash},
        "same_content": old.content_hash == new.content_hash,
        "counts": {"added": len(added), "removed": len(removed), "moved_split": len(moved), "revised": len(revised),
                   "relabelled": len(relabelled), "unchanged": len(common) - len(set(moved) | set(revised) | set(relabelled))},
        "added": added[:limit], "removed": removed[:limit], "moved_split": moved[:limit], "revised": revised[:limit],
        "relabelled": relabelled[:limit],
        "filters": {k: [old.filters.get(k), new.filters.get(k)] for k in sorted(set(old.filters) | set(new.filters))
                    if old.filters.get(k) != new.filters.get(k)},
        "rows": {k: [old.manifest["counts"]["rows"].get(k), new.manifest["counts"]["rows"].get(k)]
                 for k in sorted(set(old.manifest["counts"]["rows"]) | set(new.manifest["counts"]["rows"]))},
    }
