"""Who may use the review app's routes: quality, the review queue and adjudication, releases and judge
evaluations (read by tests/platform/test_permission_matrix.py; rules and identities in tests/access.py).

`xfail` marks cells where the route breaks the house rule today (a member who can see the chain gets
404 instead of 403 for an action their role lacks); they run, and turn into failures once fixed.
"""

from tests.access import MISSING, api_managers, expect, nobody, page_members, reviewers

ROLE_404 = "a member who sees the chain is answered 404, not 403, for an action their role lacks"

ROUTES = {
    "api-export": {"kwargs": lambda w: {"slug": w.project.slug}, "query": {"format": "prm800k"},
                   "methods": {"GET": {"expect": api_managers()}}},
    "api-quality": {"kwargs": lambda w: {"slug": w.project.slug}, "methods": {"GET": {"expect": reviewers()}}},
    "api-review-queue": {"kwargs": lambda w: {"slug": w.project.slug}, "methods": {"GET": {"expect": reviewers()}}},
    "api-review-policy": {"kwargs": lambda w: {"slug": w.project.slug}, "methods": {
        "GET": {"expect": reviewers()},
        "PATCH": {"expect": api_managers(), "body": lambda w: {}}}},
    "api-screening": {"kwargs": lambda w: {"slug": w.project.slug}, "methods": {
        "GET": {"expect": reviewers()},
        "POST": {"expect": api_managers(400), "body": lambda w: {}}}},
    # A chain in review: reviewers adjudicate; annotators never see it (404, blind).
    "api-adjudication": {"kwargs": lambda w: {"pk": w.chain.pk}, "methods": {
        "GET": {"expect": expect(404, anonymous=401, reviewer="ok", researcher="ok", admin="ok", staff="ok")},
        "POST": {"expect": expect(404, anonymous=401, reviewer=400, researcher=403, admin=400, staff=400),
                 "body": lambda w: {}, "xfail": {"researcher": ROLE_404}}}},
    "api-chain-rework": {"kwargs": lambda w: {"pk": w.chain.pk}, "methods": {
        "POST": {"expect": expect(404, anonymous=401, reviewer=400, researcher=403, admin=400, staff=400),
                 "body": lambda w: {}, "xfail": {"researcher": ROLE_404}}}},
    "api-chain-debate": {"kwargs": lambda w: {"pk": w.chain.pk}, "methods": {
        "POST": {"expect": expect(404, anonymous=401, reviewer=400, researcher=403, admin=400, staff=400),
                 "body": lambda w: {}, "xfail": {"researcher": ROLE_404}}}},
    "api-chain-plant": {"kwargs": lambda w: {"pk": w.chain.pk}, "methods": {
        "POST": {"expect": expect(404, anonymous=401, reviewer=403, researcher=400, admin=400, staff=400),
                 "body": lambda w: {}, "xfail": {"reviewer": ROLE_404}}}},
    "api-chain-gold": {"kwargs": lambda w: {"pk": w.chain.pk}, "methods": {
        "PATCH": {"expect": expect(404, anonymous=401, reviewer=403, researcher="ok", admin="ok", staff="ok"),
                  "body": lambda w: {}, "xfail": {"reviewer": ROLE_404}}}},
    "review-queue": {"kwargs": lambda w: {"slug": w.project.slug},
                     "methods": {"GET": {"expect": page_members(annotator=403, annotator2=403, token="login")}}},
    "review-dashboard": {"kwargs": lambda w: {"slug": w.project.slug},
                         "methods": {"GET": {"expect": page_members(annotator=403, annotator2=403, token="login")}}},
    "review-adjudicate": {"kwargs": lambda w: {"pk": w.chain.pk},
                          "methods": {"GET": {"expect": page_members(annotator=404, annotator2=404, token="login")}}},
    "api-release-list": {"kwargs": lambda w: {"slug": w.project.slug}, "methods": {
        "GET": {"expect": api_managers()},
        "POST": {"expect": api_managers(400), "body": lambda w: {}}}},
    "api-release": {"kwargs": lambda w: {"pk": MISSING}, "methods": {"GET": {"expect": nobody()}}},
    "api-release-remake": {"kwargs": lambda w: {"pk": MISSING}, "methods": {"POST": {"expect": nobody()}}},
    "api-release-diff": {"kwargs": lambda w: {"pk": MISSING}, "methods": {"GET": {"expect": nobody()}}},
    "api-release-file": {"kwargs": lambda w: {"pk": MISSING, "path": "x.jsonl"}, "methods": {"GET": {"expect": nobody()}}},
    "api-evaluation-list": {"kwargs": lambda w: {"pk": MISSING}, "methods": {
        "GET": {"expect": nobody()}, "POST": {"expect": nobody(), "body": lambda w: {}}}},
    "api-evaluation": {"kwargs": lambda w: {"pk": MISSING}, "methods": {"GET": {"expect": nobody()}}},
    "releases": {"kwargs": lambda w: {"slug": w.project.slug}, "methods": {
        "GET": {"expect": page_members(annotator=403, annotator2=403, reviewer=403, token="login")}}},
    "release": {"kwargs": lambda w: {"pk": MISSING}, "methods": {"GET": {"expect": nobody(page=True)}}},
    "evaluation": {"kwargs": lambda w: {"pk": MISSING}, "methods": {"GET": {"expect": nobody(page=True)}}},
}
