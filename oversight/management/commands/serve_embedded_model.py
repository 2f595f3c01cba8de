"""python manage.py serve_embedded_model [--port 8081] [--project SLUG]

Starts the embedded stand-in model (llama.cpp's server on the CPU), registers it as the backend `embedded`
(and, with --project, as that project's backend with critique and debate on demand), and serves until
stopped. Without the model built (`make embedded-model`) it says so and exits 1.
"""

import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from oversight import embedded
from oversight.models import ModelBackend
from oversight.services import policy_set


class Command(BaseCommand):
    help = "Serve the embedded CPU stand-in model and register it as the backend `embedded`."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8081)
        parser.add_argument("--project", help="Make it this project's backend (critique and debate on demand).")
        parser.add_argument("--log", default=str(Path(tempfile.gettempdir()) / "stepwise-llama-server.log"))

    def handle(self, *args, port, project, log, **options):
        if not embedded.available():
            raise CommandError("The embedded model is not built: run `make embedded-model` (5-6 minutes on 2 cores). "
                               "Without it the symbolic checker still runs; to use a real server set "
                               "STEPWISE_MODEL_BASE_URL and STEPWISE_MODEL_ID.")
        try:
            process = embedded.launch(port, Path(log))
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None
        ModelBackend.objects.update_or_create(name="embedded", defaults={
            "base_url": f"http://127.0.0.1:{port}/v1", "model": embedded.ALIAS, "max_concurrency": 2,
            "timeout_seconds": 300, "is_embedded": True, "params": {"temperature": 0}})
        if project:
            target = Project.objects.filter(slug=project).first()
            if target is None:
                process.kill()
                raise CommandError(f"No project '{project}'.")
            policy_set(project=target, backend_name="embedded", passes={
                "symbolic": "on_import", "critique": "on_demand", "debate": "on_demand"})
        self.stdout.write(self.style.SUCCESS(f"Embedded model (a stand-in, not a judge) on http://127.0.0.1:{port}/v1 "
                                             f"as backend 'embedded'; log: {log}"))
        try:
            process.wait()
        except KeyboardInterrupt:
            pass
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(10)
