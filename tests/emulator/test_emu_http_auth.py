"""Transport, envelopes, authentication and the OAuth token endpoint."""

from __future__ import annotations

import requests

from airflow_provider_bitrix24.emulator.registry import HANDLERS, method

TIME_KEYS = {
    "start",
    "finish",
    "duration",
    "processing",
    "date_start",
    "date_finish",
    "operating_reset_at",
    "operating",
}


def test_success_envelope_has_result_and_full_time_block(emu, rest):
    body = rest.result("user.current")
    assert body["result"]["ID"] == str(emu.webhook_user_id)
    assert set(body["time"]) == TIME_KEYS
    assert body["time"]["finish"] >= body["time"]["start"]
    assert "+03:00" in body["time"]["date_start"]


def test_json_suffix_trailing_slash_form_and_query_encodings(emu):
    emu.seed("crm.deal", [{"TITLE": "a", "STAGE_ID": "WON"}, {"TITLE": "b", "STAGE_ID": "NEW"}])
    base = emu.webhook_url
    as_form = requests.post(
        base + "crm.deal.list.json", data={"filter[STAGE_ID]": "WON", "select[]": "TITLE"}, timeout=5
    ).json()
    as_query = requests.get(
        base + "crm.deal.list/", params={"filter[=STAGE_ID]": "WON", "select[0]": "TITLE"}, timeout=5
    ).json()
    assert as_form["result"] == as_query["result"] == [{"ID": "1", "TITLE": "a"}]


def test_nested_form_fields_are_decoded_like_php(emu, rest):
    response = requests.post(
        emu.webhook_url + "crm.contact.add",
        data={
            "fields[NAME]": "Ann",
            "fields[PHONE][0][VALUE]": "+100",
            "fields[PHONE][0][VALUE_TYPE]": "WORK",
        },
        timeout=5,
    )
    contact_id = response.json()["result"]
    contact = rest.result("crm.contact.get", {"id": contact_id})["result"]
    # the portal numbers each value and names its type (crm-contact-get.md)
    assert contact["PHONE"] == [{"ID": "1", "TYPE_ID": "PHONE", "VALUE": "+100", "VALUE_TYPE": "WORK"}]


def test_wrong_webhook_code_is_no_auth_found(emu):
    response = requests.post(f"{emu.url}/rest/{emu.webhook_user_id}/wrongcode/user.current", timeout=5)
    assert response.status_code == 401
    assert response.json() == {"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"}


def test_oauth_token_in_body_form_and_query(emu):
    access, _ = emu.issue_tokens()
    url = f"{emu.url}/rest/user.current"
    assert requests.post(url, json={"auth": access}, timeout=5).status_code == 200
    assert requests.post(url, data={"auth": access}, timeout=5).status_code == 200
    assert requests.get(url, params={"auth": access}, timeout=5).status_code == 200
    unknown = requests.post(url, json={"auth": "nope"}, timeout=5)
    assert (unknown.status_code, unknown.json()["error"]) == (401, "NO_AUTH_FOUND")
    missing = requests.post(url, json={}, timeout=5)
    assert (missing.status_code, missing.json()["error"]) == (401, "NO_AUTH_FOUND")


def test_expired_access_token(emu, rest):
    access, _ = emu.issue_tokens()
    assert rest.post("user.current", token=access).status_code == 200
    emu.expire_access_tokens()
    response = rest.post("user.current", token=access)
    assert response.status_code == 401
    assert response.json()["error"] == "expired_token"


def _refresh(emu, refresh_token, client_secret=None, post=False):
    params = {
        "grant_type": "refresh_token",
        "client_id": emu.client_id,
        "client_secret": client_secret or emu.client_secret,
        "refresh_token": refresh_token,
    }
    if post:
        return requests.post(emu.token_url, data=params, timeout=5)
    return requests.get(emu.token_url, params=params, timeout=5)


def test_refresh_rotates_tokens_and_old_refresh_token_is_spent(emu, rest):
    access, refresh = emu.issue_tokens()
    emu.expire_access_tokens()
    response = _refresh(emu, refresh)
    assert response.status_code == 200
    pair = response.json()
    assert {
        "access_token",
        "refresh_token",
        "expires",
        "expires_in",
        "client_endpoint",
        "server_endpoint",
        "domain",
        "member_id",
        "scope",
        "status",
        "user_id",
    } <= set(pair)
    assert pair["refresh_token"] != refresh and pair["access_token"] != access
    assert pair["client_endpoint"] == f"{emu.url}/rest/"
    assert rest.post("user.current", token=pair["access_token"]).status_code == 200
    reused = _refresh(emu, refresh)
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    assert _refresh(emu, pair["refresh_token"], post=True).status_code == 200
    assert emu.refresh_count == 2


def test_revoked_refresh_tokens_need_a_new_authorisation(emu):
    _, refresh = emu.issue_tokens()
    emu.revoke_refresh_tokens()
    assert _refresh(emu, refresh).json()["error"] == "invalid_grant"
    _, fresh = emu.issue_tokens()
    assert _refresh(emu, fresh).status_code == 200


def test_token_endpoint_rejects_wrong_client_and_unknown_token(emu):
    _, refresh = emu.issue_tokens()
    wrong_client = _refresh(emu, refresh, client_secret="bad")
    assert (wrong_client.status_code, wrong_client.json()["error"]) == (401, "invalid_client")
    assert _refresh(emu, "unknown").json()["error"] == "invalid_grant"
    assert emu.refresh_count == 0
    token_call = emu.requests[-1]
    assert token_call.method == "oauth/token" and "refresh_token" not in token_call.params


def test_access_token_lifetime_is_configurable(emu, rest):
    emu.configure(access_token_lifetime=0)
    _, refresh = emu.issue_tokens(expires_in=None)
    pair = _refresh(emu, refresh).json()
    assert pair["expires_in"] == 0
    assert rest.post("user.current", token=pair["access_token"]).json()["error"] == "expired_token"


def test_unknown_method_and_uncatalogued_handler_are_not_found(emu, rest):
    response = rest.post("crm.deal.frobnicate")
    assert response.status_code == 404
    assert response.json()["error"] == "ERROR_METHOD_NOT_FOUND"

    @method("emulator.selftest.secret")
    def secret(ctx, params):  # registered, but not a documented method
        return True

    try:
        assert rest.post("emulator.selftest.secret").json()["error"] == "ERROR_METHOD_NOT_FOUND"
    finally:
        HANDLERS.pop("emulator.selftest.secret")


def test_insufficient_scope_when_configured(emu, rest):
    emu.configure(scopes=["user"])
    response = rest.post("crm.deal.list")
    assert (response.status_code, response.json()["error"]) == (403, "insufficient_scope")
    assert rest.post("user.get").status_code == 200
    assert rest.result("method.get", {"name": "crm.deal.list"})["result"] == {
        "isExisting": True,
        "isAvailable": False,
    }
    emu.configure(scopes=None)
    assert rest.post("crm.deal.list").status_code == 200
    assert rest.result("method.get", {"name": "crm.deal.list"})["result"] == {
        "isExisting": True,
        "isAvailable": True,
    }
    assert rest.result("method.get", {"name": "crm.deal.nothing"})["result"] == {
        "isExisting": False,
        "isAvailable": False,
    }


def test_app_info_needs_an_application_token(emu, rest):
    access, _ = emu.issue_tokens()
    assert rest.post("app.info", token=access).json()["result"]["CODE"] == emu.client_id
    assert rest.post("app.info").status_code == 401
    assert rest.result("server.time")["result"].startswith("20")


def test_request_log_records_auth_kind_status_and_hides_token(emu, rest):
    access, _ = emu.issue_tokens()
    rest.post("user.current", token=access)
    rest.post("crm.deal.nothing")
    ok, missing = emu.requests
    assert (ok.method, ok.auth_kind, ok.http_status, ok.error) == ("user.current", "oauth", 200, None)
    assert "auth" not in ok.params
    rest.post("server.time")
    assert emu.requests[-1].path == f"/rest/{emu.webhook_user_id}/***/server.time"
    assert emu.webhook_code not in repr(emu.requests)
    assert (missing.http_status, missing.error) == (404, "ERROR_METHOD_NOT_FOUND")
    emu.clear_requests()
    assert emu.requests == []


def test_every_registered_method_is_documented(emu):
    """Handler modules must not invent methods: each name is in catalogue/methods.tsv."""
    invented = sorted(name for name in HANDLERS if name not in emu.portal.catalogue)
    assert invented == []


def test_keep_alive_survives_replies_that_ignore_the_body(emu, rest):
    for path in ("/nowhere", "/rest/1/2/3/4/5"):
        response = rest.session.post(emu.url + path, json={"filter": {"x": 1}}, timeout=5)
        assert (response.status_code, response.json()["error"]) == (404, "ERROR_METHOD_NOT_FOUND")
        assert rest.result("server.time")["result"]  # same connection, still in sync
    emu.inject_fault(502, kind="html")
    assert rest.post("crm.deal.add", {"fields": {"TITLE": "x"}}).status_code == 502
    assert rest.result("crm.deal.add", {"fields": {"TITLE": "y"}})["result"] == 1


def test_multipart_form_data_body(emu, rest):
    files = {
        "fields[TITLE]": (None, "from multipart"),
        "fields[COMMENTS]": (None, "ok"),
        "fields[UF_CRM_FILE]": ("a.txt", b"hello", "text/plain"),
    }
    deal_id = requests.post(emu.webhook_url + "crm.deal.add", files=files, timeout=5).json()["result"]
    deal = rest.result("crm.deal.get", {"id": deal_id})["result"]
    assert (deal["TITLE"], deal["COMMENTS"]) == ("from multipart", "ok")
    assert deal["UF_CRM_FILE"] == ["a.txt", "aGVsbG8="]


def test_chunked_request_body(emu, rest):
    def body():
        yield b'{"fields": {"TITLE": '
        yield b'"chunked"}}'

    response = rest.session.post(
        emu.webhook_url + "crm.deal.add", data=body(), headers={"Content-Type": "application/json"}, timeout=5
    )
    assert response.json()["result"] == 1
    assert rest.result("crm.deal.get", {"id": 1})["result"]["TITLE"] == "chunked"  # same connection
