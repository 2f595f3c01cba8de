"""What an import or export process pays before any work: Django set up, the import and export paths and
the apps' task modules loaded. numpy (about 15 MB and 0.3 s) belongs only to what aggregates or measures;
an import of it at module level in anything these load puts it in every such process (seen twice:
review/exporters.py through review/aggregation.py, and review/quality_tasks.py). A web process or a
worker still loads it once the URLs are loaded (the quality pages): that is where it is used."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import django
django.setup()
from config.celery import app
import annotation.tasks, oversight.tasks, review.quality_tasks, review.releases_tasks  # every app's tasks
import review.selectors, review.exporters, annotation.services  # the export and import paths
print(json.dumps({"numpy": "numpy" in sys.modules, "tasks": sorted(n for n in app.tasks if not n.startswith("celery."))}))
"""


def test_the_import_and_export_paths_and_the_task_modules_load_without_numpy():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "platform")])}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert any("quality" in name for name in found["tasks"]), found["tasks"]  # the probe did load the tasks
    assert found["numpy"] is False
