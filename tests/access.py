"""Who may do what: the expected answer of every route to every identity, read by the permission matrix
(tests/platform/test_permission_matrix.py), which fails for any URL or websocket route not listed here.

A new route gets an entry in ROUTES (or in a `tests/<app>/access.py` of its own with a ROUTES dict,
merged in): its methods, how to build its URL from the `World` (tests/platform/test_permission_matrix.py),
an optional request body, and the answer per identity:
  "ok"      any 2xx or 3xx that is not a redirect to the login page;
  "login"   a redirect to the login page (pages, anonymous);
  401/403/404/...  exactly that status.
Rules of the house: anonymous API calls 401; a page redirects anonymous users to log in; objects outside
a user's reach 404 (the same answer as a missing object, naming nothing of it); 403 only where the
object is visible but the action is not.

Identities: anonymous; outsider (an annotator of another project); annotator (owns the assignment);
annotator2 (another annotator of the same project); reviewer; researcher; admin (project admin role);
staff (site superuser, member of nothing); token (the annotator, through `Authorization: Token`).
"""

IDENTITIES = ("anonymous", "outsider", "annotator", "annotator2", "reviewer", "researcher", "admin", "staff", "token")
MEMBERS = ("annotator", "annotator2", "reviewer", "researcher", "admin", "staff", "token")


def expect(default, **overrides):
    """Answers for every identity: `default`, except the identities named."""
    table = dict.fromkeys(IDENTITIES, default)
    for name, value in overrides.items():
        assert name in table, f"unknown identity {name}"
        table[name] = value
    return table


def api_members(ok="ok", **overrides):
    """An API route any project member may use: anonymous 401, the outsider 404."""
    return expect(ok, **{"anonymous": 401, "outsider": 404, **overrides})


def api_managers(ok="ok", **overrides):
    """Researchers and admins of the project (and staff); other members 403, outsiders 404."""
    return expect(403, **{"anonymous": 401, "outsider": 404, "researcher": ok, "admin": ok, "staff": ok, **overrides})


def api_owner(ok="ok", **overrides):
    """The annotator's own assignment: everyone else 404 (its existence is not theirs to know)."""
    return expect(404, **{"anonymous": 401, "annotator": ok, "token": ok, **overrides})


def page_members(ok="ok", **overrides):
    return expect(ok, **{"anonymous": "login", "outsider": 404, **overrides})


def page_owner(ok="ok", **overrides):
    return expect(404, **{"anonymous": "login", "annotator": ok, "token": "login", **overrides})


def import_file(world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    content = b'{"id": "matrix-new", "problem": "2+2?", "steps": ["2+2=4"], "answer": "4"}\n'
    return {"file": SimpleUploadedFile("matrix.jsonl", content)}


def labels_body(world):
    return {"version": world.assignment.version, "labels": [{"step": 0, "rating": 1}], "save_key": "matrix-1"}


def submit_body(world):
    steps = world.assignment.chain.step_count
    return {"version": world.assignment.version, "finish_reason": "solution", "comment": "",
            "labels": [{"step": i, "rating": 1} for i in range(steps)]}


def reviewers(ok="ok", **overrides):
    """Reviewers, researchers and admins of the project (and staff); annotators 403, outsiders 404."""
    return api_managers(ok, **{"reviewer": ok, **overrides})


def nobody(page: bool = False):
    """A route whose object the world does not hold (e.g. a release by a made-up id): every signed-in
    identity gets 404, anonymous 401 (a page: the login redirect). Checks only that much."""
    return expect(404, anonymous="login" if page else 401, **({"token": "login"} if page else {}))


MISSING = 987654  # an id nothing has


# Each entry: url name -> {"kwargs": world -> dict, "methods": {METHOD: {"expect": table, "body": world -> data,
# "format": "json" | "multipart"}}}. The world's objects: world.project, world.assignment (annotator's),
# world.chain, world.job (an import job), world.other_project (the outsider's).
ROUTES = {
    # --- pages ---------------------------------------------------------------------------------------
    "home": {"methods": {"GET": {"expect": expect("ok", anonymous="login", token="login")}}},
    # Django's FormView answers PUT as POST.
    "login": {"methods": {"GET": {"expect": expect("ok")},
                          "POST": {"expect": expect("ok"), "body": lambda w: {"username": "x", "password": "y"},
                                   "format": "form"},
                          "PUT": {"expect": expect("ok")}}},
    "logout": {"methods": {"POST": {"expect": expect("login")}}},
    "health": {"methods": {"GET": {"expect": expect("ok")}}},
    "project": {"kwargs": lambda w: {"slug": w.project.slug},
                "methods": {"GET": {"expect": page_members(token="login")}}},
    "annotate-next": {"kwargs": lambda w: {"slug": w.project.slug},
                      "methods": {"POST": {"expect": page_members(reviewer=403, researcher=403, staff="ok",
                                                                  token="login")}}},
    "history": {"kwargs": lambda w: {"slug": w.project.slug},
                "methods": {"GET": {"expect": page_members(token="login")}}},
    "assignment": {"kwargs": lambda w: {"pk": w.assignment.pk}, "methods": {"GET": {"expect": page_owner()}}},
    # --- set-up pages (issue 7): project managers; staff may create projects, others go home with a message
    "project-new": {"methods": {"GET": {"expect": expect("ok", anonymous="login", token="login")}}},
    **{name: {"kwargs": lambda w: {"slug": w.project.slug},
              "methods": {"GET": {"expect": page_members(annotator=403, annotator2=403, reviewer=403, token="login")}}}
       for name in ("setup", "setup-guidelines", "setup-schema", "setup-members", "setup-import", "setup-chains",
                    "setup-progress")},
    "chain-steps": {"kwargs": lambda w: {"pk": w.chain.pk},
                    "methods": {"GET": {"expect": page_members(annotator=403, annotator2=403, reviewer=403,
                                                               token="login")}}},
    # --- API -----------------------------------------------------------------------------------------
    "api-schema": {"methods": {"GET": {"expect": expect("ok")}}},
    "api-docs": {"methods": {"GET": {"expect": expect("ok")}}},
    "api-token": {"methods": {"POST": {"expect": expect(400), "body": lambda w: {"username": "x", "password": "y"}}}},
    "api-projects": {"methods": {
        "GET": {"expect": api_members(outsider="ok")},
        "POST": {"expect": api_members(403, outsider=403, staff=201),
                 "body": lambda w: {"slug": "matrix-new", "name": "New", "overlap_k": 1}}}},
    "api-project": {"kwargs": lambda w: {"slug": w.project.slug}, "methods": {
        "GET": {"expect": api_members()},
        "PATCH": {"expect": api_managers(), "body": lambda w: {"name": "Renamed"}}}},
    "api-import-create": {"kwargs": lambda w: {"slug": w.project.slug},
                          "methods": {"POST": {"expect": api_managers(), "body": import_file, "format": "multipart"}}},
    # --- authoring (issue 7): project managers only -------------------------------------------------
    "api-import-preview": {"kwargs": lambda w: {"slug": w.project.slug},
                           "methods": {"POST": {"expect": api_managers(), "body": import_file, "format": "multipart"}}},
    "api-project-archive": {"kwargs": lambda w: {"slug": w.project.slug},
                            "methods": {"POST": {"expect": api_managers(), "body": lambda w: {}}}},
    "api-project-schema": {"kwargs": lambda w: {"slug": w.project.slug},
                           "methods": {"PUT": {"expect": api_managers(400), "body": lambda w: {}}}},
    "api-guidelines": {"kwargs": lambda w: {"slug": w.project.slug}, "methods": {
        "GET": {"expect": api_managers()},
        "POST": {"expect": api_managers(400), "body": lambda w: {}}}},
    "api-segmentation-preview": {"kwargs": lambda w: {"slug": w.project.slug},
                                 "methods": {"POST": {"expect": api_managers(400), "body": lambda w: {}}}},
    "api-guidelines-preview": {"kwargs": lambda w: {"slug": w.project.slug},
                               "methods": {"POST": {"expect": api_managers(400), "body": lambda w: {}}}},
    "api-members": {"kwargs": lambda w: {"slug": w.project.slug}, "methods": {
        "GET": {"expect": api_managers()},
        "POST": {"expect": api_managers(400), "body": lambda w: {}}}},
    "api-member": {"kwargs": lambda w: {"slug": w.project.slug, "username": "annotator2"}, "methods": {
        "PATCH": {"expect": api_managers(400), "body": lambda w: {}},
        "DELETE": {"expect": api_managers()}}},
    "api-chains": {"kwargs": lambda w: {"slug": w.project.slug}, "methods": {"GET": {"expect": api_managers()}}},
    "api-progress": {"kwargs": lambda w: {"slug": w.project.slug}, "methods": {"GET": {"expect": api_managers()}}},
    "api-project-audit": {"kwargs": lambda w: {"slug": w.project.slug},
                          "methods": {"GET": {"expect": api_managers(researcher=403)}}},
    "api-import": {"kwargs": lambda w: {"pk": w.job.pk}, "methods": {"GET": {"expect": api_managers()}}},
    "api-queue-next": {"kwargs": lambda w: {"slug": w.project.slug},
                       "methods": {"POST": {"expect": api_members(reviewer=403, researcher=403)}}},
    "api-assignments": {"kwargs": lambda w: {"slug": w.project.slug}, "methods": {"GET": {"expect": api_members()}}},
    "api-assignment": {"kwargs": lambda w: {"pk": w.assignment.pk}, "methods": {"GET": {"expect": api_owner()}}},
    # The workspace's step texts after the first screen (issue 6): the assignment's owner only, as the page.
    "api-assignment-texts": {"kwargs": lambda w: {"pk": w.assignment.pk},
                             "methods": {"GET": {"expect": api_owner()}}},
    "api-assignment-labels": {"kwargs": lambda w: {"pk": w.assignment.pk}, "methods": {
        "PATCH": {"expect": api_owner(), "body": labels_body},
        "PUT": {"expect": api_owner(), "body": labels_body}}},
    "api-assignment-submit": {"kwargs": lambda w: {"pk": w.assignment.pk},
                              "methods": {"POST": {"expect": api_owner(), "body": submit_body}}},
    "api-assignment-skip": {"kwargs": lambda w: {"pk": w.assignment.pk},
                            "methods": {"POST": {"expect": api_owner(), "body": lambda w: {"reason": "matrix"}}}},
    # Reopening needs a submitted assignment: the owner is refused with 409 (visible, wrong state).
    "api-assignment-reopen": {"kwargs": lambda w: {"pk": w.assignment.pk},
                              "methods": {"POST": {"expect": api_owner(409)}}},
    "api-chain": {"kwargs": lambda w: {"pk": w.chain.pk}, "methods": {"GET": {"expect": api_managers()}}},
    "api-chain-edits": {"kwargs": lambda w: {"pk": w.chain.pk}, "methods": {
        "POST": {"expect": api_managers(201),
                 "body": lambda w: {"op": "reword", "revision": w.chain.revision, "index": 0, "text": "Reworded."}}}},
}

# Django's admin: every admin URL answers staff only. The matrix checks the index and each model's
# list page; the rest of the admin is the same view class behind the same check.
ADMIN_PREFIX = "admin/"
ADMIN_EXPECT = expect("login", staff="ok")

# Websocket routes: path template -> kwargs -> answer per identity: "accept" or the close code.
WEBSOCKETS = {
    "ws/projects/<slug:slug>/": {"kwargs": lambda w: {"slug": w.project.slug},
                                 "expect": expect("accept", anonymous=4401, outsider=4404, token=4401)},
}
