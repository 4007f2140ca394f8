"""API keys: shown once, stored as salted hashes, refused when revoked or malformed, compared in constant time."""

import hmac

import pytest

from rag.access import keys as keys_module
from rag.access.keys import KeyStore
from rag.errors import AuthError, InvalidRequestError, NotFoundError


@pytest.fixture
def store(settings, database_url):
    """The key store on both state backends: a SQLite file, a real PostgreSQL database."""
    return KeyStore(settings.replace(database_url=database_url))


def raw(store: KeyStore, sql: str) -> list[tuple]:
    with store.database.transaction() as tx:
        return [tuple(row) for row in tx.execute(sql).fetchall()]


def test_a_key_is_verified_and_only_its_hash_is_stored(store):
    record, key = store.add("alice", "HR, staff")
    assert record.groups == ("hr", "staff") and not record.admin
    assert store.verify(key).name == "alice" and store.active()
    raw_rows = raw(store, "SELECT * FROM keys")
    assert key not in repr(raw_rows) and key.split("_", 2)[2] not in repr(raw_rows)
    salts = [bytes(row[2]) for row in raw_rows]
    assert all(len(s) == 16 for s in salts)


def test_two_keys_with_the_same_secret_shape_get_different_salts(store):
    store.add("a", "staff")
    store.add("b", "staff")
    rows = raw(store, "SELECT salt, digest FROM keys ORDER BY name")
    assert rows[0][0] != rows[1][0] and rows[0][1] != rows[1][1]


@pytest.mark.parametrize("bad", ["", "rag_", "Bearer x", "rag_000000000000_" + "A" * 43, "x" * 5000, "rag_zz_\x00", "é" * 60])
def test_malformed_and_unknown_keys_get_one_error(store, bad):
    store.add("alice", "staff")
    with pytest.raises(AuthError) as caught:
        store.verify(bad)
    assert bad not in caught.value.message or not bad


def test_a_wrong_secret_with_a_real_id_is_refused(store):
    _, key = store.add("alice", "staff")
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    with pytest.raises(AuthError):
        store.verify(tampered)


def test_a_revoked_key_is_refused_and_its_name_never_reused(store):
    """A new key under an old name would read the old key's conversations and blur the audit trail."""
    _, key = store.add("alice", "staff")
    assert store.revoke("alice").revoked_at
    with pytest.raises(AuthError):
        store.verify(key)
    assert not store.active()
    with pytest.raises(NotFoundError):
        store.revoke("alice")
    with pytest.raises(InvalidRequestError, match="pick another name"):
        store.add("alice", "hr")


def test_names_and_groups_are_checked(store):
    with pytest.raises(InvalidRequestError, match="exists"):
        store.add("alice", "staff") and store.add("alice", "staff")
    for name in ("", "has space", "x" * 65):
        with pytest.raises(InvalidRequestError):
            store.add(name, "staff")
    with pytest.raises(InvalidRequestError, match="at least one group"):
        store.add("nogroups", "")
    assert store.add("root", "", admin=True)[0].admin


def test_comparison_is_constant_time_even_for_unknown_ids(store, monkeypatch):
    """Every verification, hit or miss, goes through hmac.compare_digest on a full-length digest."""
    _, key = store.add("alice", "staff")
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(keys_module.hmac, "compare_digest", spy)
    store.verify(key)
    for bad in ("rag_000000000000_" + "A" * 43, key[:-1] + "Z", "nonsense"):
        with pytest.raises(AuthError):
            store.verify(bad)
    assert calls == [(32, 32)] * 4


def test_no_store_file_means_no_keys(store):
    assert not store.active() and store.list() == []
    assert not store.path.exists() or store.database.dialect == "postgresql"  # a read creates no SQLite file
