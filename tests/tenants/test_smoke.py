def test_fixture_keys_authenticate(client_a, library_a):
    response = client_a.get(f"/tenants/{library_a.slug}")
    assert response.status_code == 200
    assert response.json()["slug"] == "alexandria"
