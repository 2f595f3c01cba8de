"""Who may use the oversight app's routes (read by tests/platform/test_permission_matrix.py; rules and
identities in tests/access.py)."""

from tests.access import MISSING, api_managers, api_owner, expect, nobody, page_members, reviewers

ROUTES = {
    # The project's oversight page (passes, arms, report): reviewers and managers; annotators are members (403).
    "project-oversight": {"kwargs": lambda w: {"slug": w.project.slug},
                          "methods": {"GET": {"expect": page_members(annotator=403, annotator2=403, token="login")}}},
    # The annotator's own assignment: its assistance (critiques, checks), if its arm is assisted.
    "api-oversight-assignment": {"kwargs": lambda w: {"pk": w.assignment.pk}, "methods": {"GET": {"expect": api_owner()}}},
    # No run exists in the world for the assignment's step: the owner gets the service's 404 too.
    "api-oversight-debate-start": {"kwargs": lambda w: {"pk": w.assignment.pk},
                                   "methods": {"POST": {"expect": api_owner(404), "body": lambda w: {}}}},
    "api-oversight-critique-rate": {"kwargs": lambda w: {"pk": MISSING}, "methods": {
        "POST": {"expect": nobody(), "body": lambda w: {"assignment": w.assignment.pk, "rating": "helpful"}}}},
    "api-oversight-check-rate": {"kwargs": lambda w: {"pk": MISSING}, "methods": {
        "POST": {"expect": nobody(), "body": lambda w: {"assignment": w.assignment.pk, "rating": "helpful"}}}},
    "api-oversight-run": {"kwargs": lambda w: {"pk": MISSING}, "methods": {"GET": {"expect": nobody()}}},
    "api-oversight-run-retry": {"kwargs": lambda w: {"pk": MISSING}, "methods": {"POST": {"expect": nobody()}}},
    "api-oversight-run-verdict": {"kwargs": lambda w: {"pk": MISSING},
                                  "methods": {"POST": {"expect": nobody(), "body": lambda w: {}}}},
    # A chain's oversight results: reviewers and managers; annotators never (blind), whoever they are.
    "api-oversight-chain": {"kwargs": lambda w: {"pk": w.chain.pk}, "methods": {
        "GET": {"expect": expect(404, anonymous=401, reviewer="ok", researcher="ok", admin="ok", staff="ok")}}},
    "api-oversight-policy": {"kwargs": lambda w: {"slug": w.project.slug}, "methods": {
        "GET": {"expect": api_managers()},
        "PUT": {"expect": api_managers(), "body": lambda w: {}}}},
    "api-oversight-runs": {"kwargs": lambda w: {"slug": w.project.slug},
                           "methods": {"POST": {"expect": api_managers(400), "body": lambda w: {}}}},
    "api-oversight-report": {"kwargs": lambda w: {"slug": w.project.slug}, "methods": {"GET": {"expect": reviewers()}}},
    # Model backends are site-wide: staff only (no project to be outside of, so 403 for the rest).
    "api-oversight-backends": {"methods": {
        "GET": {"expect": expect(403, anonymous=401, staff="ok")},
        "POST": {"expect": expect(403, anonymous=401, staff=400), "body": lambda w: {}}}},
}

WEBSOCKETS = {
    "ws/oversight/chains/<int:pk>/": {"kwargs": lambda w: {"pk": w.chain.pk},
                                      "expect": expect(4404, anonymous=4401, token=4401, reviewer="accept",
                                                       researcher="accept", admin="accept", staff="accept")},
}
