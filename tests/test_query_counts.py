"""List pages run the same number of queries whatever the amount of data."""


def page_queries(web, count_queries, path):
    with count_queries() as statements:
        assert web.client.get(path).status_code == 200
    return len(statements)


def test_admin_user_list_does_not_grow_with_users(web, make_user, count_queries):
    admin = make_user(kind="admin")
    web.login(admin.email)
    make_user(kind="creator")
    few = page_queries(web, count_queries, "/admin/users")
    for _ in range(15):
        make_user(kind="creator")
    assert page_queries(web, count_queries, "/admin/users") == few


def test_team_page_does_not_grow_with_members(web, make_user, count_queries):
    owner = make_user()
    web.login(owner.email)
    make_user(brand=owner.brand_id, role="viewer")
    few = page_queries(web, count_queries, f"/brands/{owner.brand_id}/team")
    for _ in range(10):
        make_user(brand=owner.brand_id, role="manager")
    for n in range(5):
        web.post(f"/brands/{owner.brand_id}/team", {"email": f"i{n}@example.com", "role": "viewer"})
    assert page_queries(web, count_queries, f"/brands/{owner.brand_id}/team") == few
