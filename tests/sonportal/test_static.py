"""Static files come from the web process itself, through WhiteNoise (README "Processes in
production"): no URL of the portal serves them, and DEBUG is off in the tests."""


def test_it_serves_a_static_file_before_sessions_and_views(client):
    response = client.get("/static/sonportal/site.css")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert b"".join(response.streaming_content)
    assert "Set-Cookie" not in response


def test_it_answers_a_missing_static_file_with_404(client, db):
    assert client.get("/static/sonportal/nothing-here.css").status_code == 404
