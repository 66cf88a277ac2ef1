"""The service's parts on their own: tokens, path checks, rate limits, configuration."""

from __future__ import annotations

import pytest

from hpcopt.errors import ConfigError
from hpcopt.serve.config import ServeConfig, load_config
from hpcopt.serve.limits import RateLimiter
from hpcopt.faces.paths import PathRefused, check_path, safe_filename
from hpcopt.serve.tokens import TokenStore, parse_scopes
from hpcopt.store import open_store


@pytest.fixture
def ts(tmp_path):
    return TokenStore(open_store(f"sqlite:///{tmp_path / 'store.db'}", home=tmp_path))


def test_scopes_parse_in_a_fixed_order_and_refuse_unknowns():
    assert parse_scopes("run, read") == ("read", "run")
    assert parse_scopes(["admin"]) == ("admin",)
    with pytest.raises(ConfigError, match="unknown scope 'root'"):
        parse_scopes("read,root")
    with pytest.raises(ConfigError, match="at least one scope"):
        parse_scopes(" , ")


def test_tokens_are_stored_hashed_and_verified(ts, tmp_path):
    tok, rec = ts.create("read", name="ci")
    assert tok.startswith(f"hpc_{rec.id}_") and len(tok) == 4 + 12 + 1 + 43
    assert ts.verify(tok).id == rec.id and ts.verify(tok).allows("read") and not ts.verify(tok).allows("run")
    secret = tok[len(f"hpc_{rec.id}_"):]
    raw = (tmp_path / "store.db").read_bytes()
    assert secret.encode() not in raw and tok.encode() not in raw
    other = tok[:-1] + ("A" if tok[-1] != "A" else "B")
    assert ts.verify(other) is None and ts.verify("") is None and ts.verify("hpc_x") is None
    assert ts.list()[0].last_used_at is not None
    ts.revoke(rec.id)
    assert ts.verify(tok) is None and ts.list()[0].revoked_at is not None
    with pytest.raises(ConfigError):
        ts.create("sudo")
    admin_tok, _ = ts.create("admin")
    assert all(ts.verify(admin_tok).allows(s) for s in ("read", "run", "admin"))


def test_revocation_elsewhere_is_seen_after_the_recheck_interval(ts, monkeypatch):
    import hpcopt.serve.tokens as mod

    tok, rec = ts.create("read")
    assert ts.verify(tok) is not None
    # a second process (the 'hpcopt tokens revoke' command): its own cache, the same database
    elsewhere = TokenStore(type("S", (), {"_engine": ts._engine})())
    elsewhere.revoke(rec.id)
    assert ts.cached(tok) is not None  # still cached here...
    monkeypatch.setattr(mod, "RECHECK_S", 0.0)
    assert ts.cached(tok) is None and ts.verify(tok) is None  # ...until the row is read again


def test_rate_limiter_buckets_by_hand():
    now = [0.0]
    rl = RateLimiter(2.0, 3, clock=lambda: now[0])
    assert [rl.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert rl.take("a") == pytest.approx(0.5)  # empty: one token comes back in 1/2 s
    assert rl.take("b") == 0.0  # buckets are per key
    now[0] = 0.5
    assert rl.take("a") == 0.0 and rl.take("a") == pytest.approx(0.5)
    now[0] = 100.0  # refills up to the burst, no more
    assert [rl.take("a") for _ in range(4)][-1] > 0
    assert RateLimiter(0, 1).take("x") == 0.0  # rate 0: no limit


def test_check_path_inside_outside_and_links(tmp_path):
    root, out = tmp_path / "root", tmp_path / "out"
    root.mkdir()
    out.mkdir()
    (root / "a.txt").write_text("1")
    (out / "s.txt").write_text("2")
    (root / "esc").symlink_to(out)
    r = (root.resolve(),)
    assert check_path("a.txt", r, param="p", must_exist=True) == str(root.resolve() / "a.txt")
    assert check_path(str(root / "new" / "b.json"), r, param="p", must_exist=False) == \
        str(root.resolve() / "new" / "b.json")
    for bad, must in [("../out/s.txt", True), ("esc/s.txt", True), ("esc/new.txt", False), ("/", True),
                      ("new/../../x", False), ("a.txt\x00", True), ("missing.txt", True)]:
        with pytest.raises(PathRefused):
            check_path(bad, r, param="p", must_exist=must)
    with pytest.raises(PathRefused, match="no data roots"):
        check_path("a.txt", (), param="p", must_exist=True)


def test_safe_filename():
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("..\\win\\evil name.swf") == "evil_name.swf"
    assert safe_filename(".hidden") == "hidden" and safe_filename("") == "upload" and safe_filename(None) == "upload"


def test_config_from_toml_with_options_on_top(tmp_path):
    f = tmp_path / "serve.toml"
    f.write_text(f'[serve]\nport = 9000\ndata_roots = ["{tmp_path}"]\nworkers = 3\n')
    cfg = load_config(f, port=9100)
    assert cfg.port == 9100 and cfg.workers == 3 and cfg.data_roots == (tmp_path.resolve(),)
    assert cfg.upload_root == tmp_path.resolve() / "uploads" and cfg.host == "127.0.0.1"
    f.write_text("[serve]\nprot = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'prot'"):
        load_config(f)
    for bad in ({"port": 70000}, {"workers": 0}, {"rate_per_s": float("inf")}, {"max_body_bytes": 0},
                {"data_roots": (str(tmp_path / "nope"),)}):
        with pytest.raises(ConfigError):
            ServeConfig(**bad)


def test_check_path_property_never_escapes(tmp_path_factory):
    import os

    from hypothesis import given, settings
    from hypothesis import strategies as st

    base = tmp_path_factory.mktemp("prop")
    root, out = base / "root", base / "out"
    (root / "a" / "b").mkdir(parents=True)
    out.mkdir()
    (root / "a" / "f.txt").write_text("x")
    (out / "g.txt").write_text("y")
    (root / "a" / "up").symlink_to(out)
    (root / "a" / "self").symlink_to(root / "a")
    roots = (root.resolve(),)
    seg = st.sampled_from(["a", "b", "..", ".", "up", "self", "f.txt", "g.txt", "new"])

    @settings(max_examples=300, deadline=None)
    @given(st.lists(seg, min_size=1, max_size=7), st.booleans(), st.booleans())
    def prop(parts, absolute, must_exist):
        value = os.path.join(str(root) if absolute else "", *parts)
        try:
            got = check_path(value, roots, param="p", must_exist=must_exist)
        except PathRefused:
            return
        p = __import__("pathlib").Path(got)
        assert p.is_relative_to(roots[0]) and ".." not in p.parts
        probe = p
        while not probe.exists():
            probe = probe.parent
        assert probe.resolve(strict=True).is_relative_to(roots[0])  # no link leads out
        if must_exist:
            assert p.exists()

    prop()
