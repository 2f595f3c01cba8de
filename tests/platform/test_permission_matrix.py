"""The permission matrix: every URL the resolver knows and every websocket route, × every identity.

Routes are found by walking the URL resolver and the ASGI application, so a route someone adds is in
the matrix at once: `test_every_route_is_described` fails until its expected answers are written in
tests/access.py (or a tests/<app>/access.py). Each cell runs against a fresh world. Blind labelling:
no answer to an annotator (or an outsider) carries another annotator's labels, gold or planted-error
markers, or a reference answer the project hides; no 404 names a project the user cannot see.
"""

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

import tests
from annotation.models import Chain, Role
from annotation.services import (
    assignment_claim_next,
    assignment_labels_save,
    chains_import,
    import_job_create,
    membership_set,
    project_create,
)
from annotation.services.assignments import LabelInput
from tests.access import ADMIN_EXPECT, ADMIN_PREFIX, IDENTITIES, ROUTES, WEBSOCKETS

SECRETS = {"SENTINEL-OTHER-ANNOTATOR", "SENTINEL-PLANTED", "SENTINEL-REFERENCE"}
BLIND = {"outsider", "annotator", "annotator2", "token"}


def _app_access_modules():
    for module in pkgutil.iter_modules([str(Path(tests.__file__).parent)]):
        if module.ispkg:
            try:
                yield importlib.import_module(f"tests.{module.name}.access")
            except ModuleNotFoundError:
                continue


def all_routes() -> dict[str, dict]:
    """ROUTES from tests/access.py and from every tests/<app>/access.py."""
    routes = dict(ROUTES)
    for extra in _app_access_modules():
        clash = set(extra.ROUTES) & set(routes)
        assert not clash, f"routes described twice: {clash}"
        routes.update(extra.ROUTES)
    return routes


def all_websockets() -> dict[str, dict]:
    sockets = dict(WEBSOCKETS)
    for extra in _app_access_modules():
        sockets.update(getattr(extra, "WEBSOCKETS", {}))
    return sockets


def url_patterns(resolver=None, prefix: str = "", namespace: str = ""):
    """(route string, full name or None, callback) for every URL pattern, recursively."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from url_patterns(entry, route, inner)
        elif isinstance(entry, URLPattern):
            yield route, (namespace + entry.name) if entry.name else None, entry.callback


def websocket_routes() -> list[str]:
    """Path templates of every websocket route, found by walking the ASGI application's middleware."""
    from config.asgi import application

    found, seen, todo = [], set(), [application]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if hasattr(node, "application_mapping"):
            todo.append(node.application_mapping.get("websocket"))
        for name in ("app", "inner", "application"):
            if getattr(node, name, None) is not None:
                todo.append(getattr(node, name))
        for route in getattr(node, "routes", []) or []:
            if isinstance(route, URLResolver):
                todo.append(route)
            else:
                found.append(str(route.pattern))
        for route in getattr(node, "url_patterns", []) if isinstance(node, URLResolver) else []:
            found.append(str(node.pattern) + str(route.pattern))
    return sorted(set(found))


def test_every_route_is_described():
    routes = all_routes()
    missing, unnamed, methods_missing = [], [], []
    for route, name, callback in url_patterns():
        if route.startswith(ADMIN_PREFIX):
            continue
        if name is None:
            unnamed.append(route)
            continue
        if name not in routes:
            missing.append(f"{name} ({route})")
            continue
        cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        if cls is not None:
            handled = {m.upper() for m in cls.http_method_names if hasattr(cls, m) and m not in ("options", "head")}
            described = set(routes[name]["methods"])
            if handled - described:
                methods_missing.append(f"{name}: {sorted(handled - described)}")
    assert not unnamed, f"routes without a name cannot be described: {unnamed}"
    assert not missing, ("routes not in the permission matrix; describe who may do what in tests/access.py "
                         f"(or tests/<app>/access.py): {missing}")
    assert not methods_missing, f"methods not described in tests/access.py: {methods_missing}"
    ws = websocket_routes()
    assert ws, "no websocket route found: the walk over config.asgi.application is broken"
    undescribed = set(ws) - set(all_websockets())
    assert not undescribed, f"websocket routes not described in tests/access.py (or tests/<app>/access.py): {undescribed}"
    assert not set(routes) - {name for _, name, _ in url_patterns()}, "tests/access.py describes routes that are gone"


# --- the world each cell runs in -------------------------------------------------------------------------

@dataclass
class World:
    project: object
    other_project: object
    chain: object
    assignment: object
    job: object
    users: dict


@pytest.fixture(autouse=True)
def _no_login_failures_carried_over():
    from config.throttle import throttle_reset

    throttle_reset()  # the login throttle counts in the cache; only its keys (the channel layer shares Redis)


def make_world() -> World:
    make = get_user_model().objects.create_user
    project = project_create(slug="gsm8k", name="GSM8K", overlap_k=2, guidelines="Rate every step.")
    # Blind: this project hides reference answers from annotators (the sentinel below must not show).
    project.show_reference_answer = False
    project.save(update_fields=["show_reference_answer"])
    other = project_create(slug="secret-other-project", name="Other")
    # No passwords: every identity logs in by session or token, and hashing seven passwords per cell
    # would cost seconds.
    users = {name: make(username=name) for name in
             ("outsider", "annotator", "annotator2", "reviewer", "researcher", "admin")}
    users["staff"] = get_user_model().objects.create_superuser(username="staff", password=None)
    membership_set(project=other, user=users["outsider"], role=Role.ANNOTATOR)
    for name, role in (("annotator", Role.ANNOTATOR), ("annotator2", Role.ANNOTATOR), ("reviewer", Role.REVIEWER),
                       ("researcher", Role.RESEARCHER), ("admin", Role.ADMIN)):
        membership_set(project=project, user=users[name], role=role)
    # What an annotator must never see: gold and planted markers, a hidden reference answer.
    rows = b"".join(orjson.dumps({"id": f"m{i}", "problem": f"What is {i} + {i}?", "reference_answer": "SENTINEL-REFERENCE",
                                  "steps": [f"{i} + {i} = {2 * i}.", f"The answer is {2 * i}."]}) + b"\n" for i in range(3))
    chains_import(project=project, data=rows, filename="matrix.jsonl")
    Chain.objects.filter(project=project).update(is_gold=True, planted={"rule": "SENTINEL-PLANTED"})
    assignment = assignment_claim_next(project=project, user=users["annotator"])
    other_assignment = assignment_claim_next(project=project, user=users["annotator2"])
    assignment_labels_save(assignment=other_assignment, user=users["annotator2"], version=other_assignment.version,
                           labels=[LabelInput(step=0, rating=-1, rationale="SENTINEL-OTHER-ANNOTATOR")])
    job = import_job_create(project=project, user=users["researcher"], upload=SimpleUploadedFile(
        "small.jsonl", b'{"id": "j1", "problem": "1 + 1?", "steps": ["1 + 1 = 2."]}\n'))
    users["token"] = users["annotator"]
    return World(project=project, other_project=other, chain=assignment.chain, assignment=assignment, job=job,
                 users=users)


def client_for(world: World, identity: str):
    if identity == "anonymous":
        return APIClient()
    client = APIClient()
    if identity == "token":
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=world.users['token'])[0].key}")
    else:
        client.force_login(world.users[identity])
    return client


def cells():
    for name, spec in sorted(all_routes().items()):
        for method, cell in sorted(spec["methods"].items()):
            for identity in IDENTITIES:
                reason = cell.get("xfail", {}).get(identity)
                marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
                yield pytest.param(name, method, identity, id=f"{name}-{method}-{identity}", marks=marks)


def check(response, expected, identity: str, where: str):
    status = response.status_code
    location = response.headers.get("Location", "")
    to_login = status in (301, 302) and "/login/" in location
    if expected == "ok":
        assert 200 <= status < 400 and not to_login, f"{where}: expected a success, got {status} {location}"
    elif expected == "login":
        assert to_login, f"{where}: expected a redirect to the login page, got {status} {location}"
    else:
        assert status == expected, f"{where}: expected {expected}, got {status}: {response.content[:300]!r}"
    if status == 401:
        assert response.headers.get("WWW-Authenticate"), f"{where}: a 401 without WWW-Authenticate"
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if identity in BLIND:
        # annotator2's own label is theirs to see.
        secrets = SECRETS - {"SENTINEL-OTHER-ANNOTATOR"} if identity == "annotator2" else SECRETS
        leaked = [s for s in secrets if s.encode() in body]
        assert not leaked, f"{where}: the answer to {identity} shows {leaked}"
    if status == 404:
        assert b"gsm8k" not in body or identity not in ("outsider", "anonymous") or b"gsm8k" in where.encode(), (
            f"{where}: a 404 names the project")


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "method", "identity"), list(cells()))
def test_route_answers_each_identity(name, method, identity):
    world = make_world()
    spec = all_routes()[name]
    cell = spec["methods"][method]
    url = reverse(name, kwargs=spec.get("kwargs", lambda w: {})(world) or None)
    client = client_for(world, identity)
    body = cell.get("body", lambda w: None)(world)
    fmt = cell.get("format", "json")
    kwargs = {}
    if spec.get("query"):
        kwargs["data"] = spec["query"]
    elif body is not None:
        kwargs = {"data": body, "format": "multipart"} if fmt == "multipart" else (
            {"data": body} if fmt == "form" else {"data": body, "format": "json"})
    response = getattr(client, method.lower())(url, **kwargs)
    check(response, cell["expect"][identity], identity, f"{method} {url} as {identity}")


@pytest.mark.django_db
@pytest.mark.parametrize("identity", IDENTITIES)
def test_admin_is_staff_only(identity):
    world = make_world()
    client = client_for(world, identity)
    from django.contrib import admin

    urls = [reverse("admin:index")] + [reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist")
                                       for m in admin.site._registry]
    for url in urls:
        response = client.get(url)
        expected = ADMIN_EXPECT[identity]
        if expected == "login":
            assert response.status_code == 302 and "/admin/login/" in response["Location"], (url, identity)
        else:
            assert response.status_code == 200, (url, identity, response.status_code)
            if identity in BLIND:
                assert not any(s.encode() in response.content for s in SECRETS)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("route", sorted(all_websockets()))
async def test_websocket_answers_each_identity(route, identity):
    from asgiref.sync import sync_to_async

    from config.asgi import application

    world = await sync_to_async(make_world)()
    spec = all_websockets()[route]
    path = "/" + route
    for key, value in spec["kwargs"](world).items():
        path = path.replace(f"<slug:{key}>", str(value)).replace(f"<int:{key}>", str(value))
    assert "<" not in path, f"{route}: kwargs do not fill every parameter"
    headers = [(b"origin", b"http://localhost")]
    if identity not in ("anonymous", "token"):
        def session_cookie():
            client = Client()
            client.force_login(world.users[identity])
            return client.cookies["sessionid"].value

        headers.append((b"cookie", f"sessionid={await sync_to_async(session_cookie)()}".encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect()
    expected = spec["expect"][identity]
    if expected == "accept":
        assert connected, (path, identity, code)
        await communicator.disconnect()
    else:
        assert not connected and code == expected, (path, identity, connected, code)
