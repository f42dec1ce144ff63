"""The portal starts and answers its first pages."""


def test_welcome_page_is_public(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"Create an account" in response.data


def test_login_page_has_labelled_fields(client):
    html = client.get("/login").get_data(as_text=True)
    assert '<label for="email">Email</label>' in html
    assert '<label for="password">Password</label>' in html


def test_signed_in_user_sees_dashboard(web, make_user):
    user = make_user()
    response = web.login(user.email)
    assert response.status_code == 302
    page = web.client.get("/").get_data(as_text=True)
    assert f"Hello, {user.name}" in page
