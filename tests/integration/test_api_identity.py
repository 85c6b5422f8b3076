"""Sign-in, lockout, roles, idempotency and problem details through the HTTP API."""

from shopfloor.audit.tables import AuditEntry
from shopfloor.identity.tables import User
from tests.support.api import PASSWORD


def test_sign_in_and_who_am_i(api):
    api.add_user("maria", ["operator"], "Maria Keller")
    response = api.client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {api.token('maria')}"}
    )
    assert response.status_code == 200
    assert response.json() == {
        "user_id": 1,
        "username": "maria",
        "full_name": "Maria Keller",
        "roles": ["operator"],
    }


def test_lockout_after_repeated_failures(api):
    api.add_user("maria", ["operator"])
    for _ in range(3):
        bad = api.client.post(
            "/api/v1/auth/login", json={"username": "maria", "password": "wrong-password"}
        )
        assert bad.status_code == 401
        assert bad.headers["content-type"] == "application/problem+json"
    locked = api.client.post("/api/v1/auth/login", json={"username": "maria", "password": PASSWORD})
    assert locked.status_code == 401
    assert "locked" in locked.json()["detail"]


def test_role_is_checked_and_refusal_is_a_problem(api):
    response = api.post(
        "/api/v1/users",
        role="operator",
        json={
            "username": "eve",
            "full_name": "Eve",
            "password": "another-long-pass",
            "roles": ["admin"],
        },
    )
    assert response.status_code == 403
    body = response.json()
    assert body["type"].endswith("/forbidden") and body["status"] == 403
    with api.runtime.sessions() as session:
        assert session.query(User).filter_by(username="eve").count() == 0


def test_idempotency_key_replays_and_refuses_a_different_body(api):
    new_user = {
        "username": "otto",
        "full_name": "Otto",
        "password": "another-long-pass",
        "roles": ["operator"],
    }
    headers = {"Idempotency-Key": "add-otto-1"}
    first = api.post("/api/v1/users", json=new_user, headers=headers)
    again = api.post("/api/v1/users", json=new_user, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = api.post("/api/v1/users", json={**new_user, "username": "otto2"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["type"].endswith("/idempotency-key-reused")
    with api.runtime.sessions() as session:
        assert session.query(User).filter(User.username.like("otto%")).count() == 1
        assert (
            session.query(AuditEntry)
            .filter_by(action="user.added", entity_id=str(first.json()["id"]))
            .count()
            == 1
        )


def test_user_ids_are_never_reused(api):
    first = api.add_user("temp1", ["operator"])
    with api.runtime.unit_of_work() as uow:
        uow.session.query(User).filter_by(id=first).delete()
        uow.commit()
    second = api.add_user("temp2", ["operator"])
    assert second > first


def test_bad_input_is_a_problem_naming_the_field(api):
    response = api.post("/api/v1/users", json={"username": "x"})
    assert response.status_code == 422
    body = response.json()
    assert body["title"] == "The request is not valid"
    assert {e["field"] for e in body["errors"]} >= {"full_name", "password", "roles"}


def test_healthz_and_metrics(api):
    assert api.client.get("/healthz").json()["status"] == "ok"
    api.client.get("/healthz")
    metrics = api.client.get("/metrics").text
    assert 'shopfloor_http_requests_total{method="GET",route="/healthz",status="200"}' in metrics
