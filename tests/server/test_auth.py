"""Who may start open, and the token bucket (driven by explicit times, never the clock)."""

import pytest

from rag.access.keys import KeyStore
from rag.errors import ConfigError
from server.auth import TokenBucket, check_bind, is_loopback


def test_without_keys_only_loopback_may_be_served(settings):
    store = KeyStore(settings)
    assert "loopback only" in check_bind(settings.replace(host="127.0.0.1"), store)
    assert is_loopback("::1") and is_loopback("localhost") and not is_loopback("0.0.0.0") and not is_loopback("10.0.0.8")
    with pytest.raises(ConfigError, match="RAG_ALLOW_OPEN_ACCESS"):
        check_bind(settings.replace(host="0.0.0.0"), store)
    assert "anyone" in check_bind(settings.replace(host="0.0.0.0", allow_open_access=True), store)
    store.add("alice", "staff")
    assert "API keys required" in check_bind(settings.replace(host="0.0.0.0"), store)


@pytest.mark.parametrize("kept", ["memory", "database"])
def test_the_bucket_allows_a_burst_then_paces(kept, settings, request):
    """The same pacing in one process's memory and in the state database (both backends), which replicas share."""
    if kept == "memory":
        bucket = TokenBucket(rate=2.0, burst=3)
    else:
        from rag.access.rate import StoredBuckets

        bucket = StoredBuckets(settings.replace(database_url=request.getfixturevalue("postgres_url")), rate=2.0, burst=3)
    assert [bucket.take("a", now=10.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a", now=10.0) == pytest.approx(0.5)
    assert bucket.take("b", now=10.0) == 0.0  # its own bucket
    assert bucket.take("a", now=10.5) == 0.0  # one token back after 1 / rate seconds
    assert bucket.take("a", now=10.5) > 0
    assert [bucket.take("a", now=100.0) for _ in range(4)][-1] > 0  # refills only up to the burst
