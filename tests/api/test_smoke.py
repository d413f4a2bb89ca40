from tests.conftest import allocations_url


def test_list_shows_the_primary(api, server):
    response = api.get(allocations_url(server))
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert [a["attributes"]["is_default"] for a in body["data"]] == [True]


def test_assign_note_primary_delete_round_trip(api, server):
    created = api.post(allocations_url(server), {}, format="json")
    assert created.status_code == 200, created.content
    attrs = created.json()["attributes"]
    assert attrs["port"] == 25566
    noted = api.post(allocations_url(server, attrs["id"]), {"notes": "  hi  "}, format="json")
    assert noted.json()["attributes"]["notes"] == "hi"
    primary = api.post(allocations_url(server, attrs["id"], "primary"))
    assert primary.json()["attributes"]["is_default"] is True
    old = [
        a
        for a in api.get(allocations_url(server)).json()["data"]
        if not a["attributes"]["is_default"]
    ]
    deleted = api.delete(allocations_url(server, old[0]["attributes"]["id"]))
    assert deleted.status_code == 204
    assert deleted.content == b""
