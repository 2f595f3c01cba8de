"""python manage.py project VERB ...: author projects from the command line.

  project create SLUG [--name N] [--copy-from SLUG] [--overlap-k K] [--guidelines FILE] [--admin USER]
  project set SLUG [--overlap-k K] [--order in_order|random|priority] [--claim-timeout MIN] [--gold-share X]
                   [--segmentation MODE] [--hide-reference-answer | --show-reference-answer] [--name N]
  project schema SLUG FILE.json           label schema (validated; a bad one changes nothing)
  project guidelines SLUG FILE.md [--note TEXT]   publish a new guideline version
  project archive SLUG [--undo]
  project member add SLUG USER ROLE [--create] [--password P]
  project member remove SLUG USER
  project members SLUG
  project grant-create USER [--revoke]    the site permission to create projects
"""

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotation.exceptions import StepwiseError
from annotation.models import Project, Role
from annotation.selectors import project_members
from annotation.services import (
    guidelines_publish,
    member_add,
    membership_remove,
    project_archive,
    project_create,
    project_creator_set,
    project_schema_set,
    project_update,
)


def _project(slug: str) -> Project:
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise CommandError(f"No project '{slug}'. `manage.py project create {slug}` creates it.")
    return project


def _user(username: str):
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user '{username}'. `manage.py project member add SLUG {username} ROLE --create` "
                           "creates the account.")
    return user


def _read(path: Path) -> str:
    if not path.is_file():
        raise CommandError(f"{path}: no such file.")
    return path.read_text(encoding="utf-8")


class Command(BaseCommand):
    help = "Create and set up projects: settings, label schema, guidelines, members, archive (see --help of each verb)."

    def add_arguments(self, parser):
        verbs = parser.add_subparsers(dest="verb", required=True)
        create = verbs.add_parser("create", help="Create a project.")
        create.add_argument("slug")
        create.add_argument("--name", default="")
        create.add_argument("--copy-from", default="", help="Copy settings, schema and guidelines of this project.")
        create.add_argument("--overlap-k", type=int, default=1)
        create.add_argument("--guidelines", type=Path, help="A markdown file: published as version 1.")
        create.add_argument("--admin", default="", help="A user who becomes the project's admin.")

        settings = verbs.add_parser("set", help="Change settings (only those given).")
        settings.add_argument("slug")
        settings.add_argument("--name")
        settings.add_argument("--overlap-k", type=int)
        settings.add_argument("--order", dest="assignment_order", choices=("in_order", "random", "priority"))
        settings.add_argument("--claim-timeout", dest="claim_timeout_minutes", type=int,
                              help="Minutes without a save before a claim expires (0: never).")
        settings.add_argument("--gold-share", type=float)
        settings.add_argument("--segmentation")
        shown = settings.add_mutually_exclusive_group()
        shown.add_argument("--show-reference-answer", dest="show_reference_answer", action="store_true", default=None)
        shown.add_argument("--hide-reference-answer", dest="show_reference_answer", action="store_false")

        schema = verbs.add_parser("schema", help="Set the label schema from a JSON file.")
        schema.add_argument("slug")
        schema.add_argument("path", type=Path)

        guidelines = verbs.add_parser("guidelines", help="Publish new guidelines from a markdown file.")
        guidelines.add_argument("slug")
        guidelines.add_argument("path", type=Path)
        guidelines.add_argument("--note", default="")

        archive = verbs.add_parser("archive", help="Archive a project (no claims, no imports), or --undo.")
        archive.add_argument("slug")
        archive.add_argument("--undo", action="store_true")

        member = verbs.add_parser("member", help="Add or remove a member.")
        member_verbs = member.add_subparsers(dest="member_verb", required=True)
        add = member_verbs.add_parser("add")
        add.add_argument("slug")
        add.add_argument("username")
        add.add_argument("role", choices=Role.values)
        add.add_argument("--create", action="store_true", help="Create the account if it does not exist.")
        add.add_argument("--password", default="", help="For a new account; empty: one is generated and printed.")
        remove = member_verbs.add_parser("remove", help="Remove: their open work is released, their access ends.")
        remove.add_argument("slug")
        remove.add_argument("username")

        members = verbs.add_parser("members", help="List members with their work.")
        members.add_argument("slug")

        grant = verbs.add_parser("grant-create", help="Let a user create projects (site permission).")
        grant.add_argument("username")
        grant.add_argument("--revoke", action="store_true")

    def handle(self, *args, verb: str, **options):
        try:
            getattr(self, "do_" + verb.replace("-", "_"))(**options)
        except StepwiseError as exc:
            where = f" ({exc.field})" if exc.field else ""
            raise CommandError(f"{exc.message}{where}") from None

    def do_create(self, *, slug, name, copy_from, overlap_k, guidelines, admin, **_):
        source = _project(copy_from) if copy_from else None
        text = _read(guidelines) if guidelines else ""
        project = project_create(slug=slug, name=name, overlap_k=overlap_k, guidelines=text, copy_from=source,
                                 created_by=_user(admin) if admin else None)
        self.stdout.write(f"Created project '{project.slug}' (guidelines version {project.guideline_version}).")

    def do_set(self, *, slug, **options):
        names = ("name", "overlap_k", "assignment_order", "claim_timeout_minutes", "gold_share", "segmentation",
                 "show_reference_answer")
        values = {name: options[name] for name in names if options.get(name) is not None}
        if not values:
            raise CommandError("Nothing to change: give at least one setting (see `project set --help`).")
        project_update(project=_project(slug), **values)
        self.stdout.write(f"Project '{slug}': " + ", ".join(f"{k} = {v}" for k, v in values.items()))

    def do_schema(self, *, slug, path, **_):
        try:
            schema = json.loads(_read(path))
        except json.JSONDecodeError as exc:
            raise CommandError(f"{path}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).") from None
        project_schema_set(project=_project(slug), schema=schema)
        self.stdout.write(f"Project '{slug}': label schema set.")

    def do_guidelines(self, *, slug, path, note, **_):
        version = guidelines_publish(project=_project(slug), user=None, text=_read(path), note=note)
        self.stdout.write(f"Project '{slug}': guidelines version {version.number} published.")

    def do_archive(self, *, slug, undo, **_):
        project_archive(project=_project(slug), archived=not undo)
        self.stdout.write(f"Project '{slug}' {'brought back' if undo else 'archived'}.")

    def do_member(self, *, member_verb, slug, username, **options):
        project = _project(slug)
        if member_verb == "add":
            membership, password = member_add(project=project, by=None, username=username, role=options["role"],
                                              create=options["create"], password=options["password"])
            self.stdout.write(f"{username} is {membership.role} of '{slug}'.")
            if password:
                self.stdout.write(f"New account's password (shown once): {password}")
        else:
            released = membership_remove(project=project, user=_user(username))
            self.stdout.write(f"{username} removed from '{slug}'; {released} open assignment(s) released.")

    def do_members(self, *, slug, **_):
        for m in project_members(project=_project(slug)):
            self.stdout.write(f"{m['username']:<24} {m['role']:<11} open {m['open']:>3}  submitted {m['submitted']:>5}")

    def do_grant_create(self, *, username, revoke, **_):
        project_creator_set(user=_user(username), allowed=not revoke)
        self.stdout.write(f"{username} {'may no longer' if revoke else 'may now'} create projects.")
