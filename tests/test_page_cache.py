"""Dropping the page cache before a run (MLPerf's cache_clear): done where the process may,
and otherwise the reason, recorded rather than skipped silently."""

from accelbench.run.page_cache import CacheClearing, clear_page_cache, combined


def test_root_writes_3_after_syncing(tmp_path):
    knob = tmp_path / "drop_caches"
    knob.write_text("0\n")
    outcome = clear_page_cache(knob, euid=0)
    assert outcome.cleared and knob.read_text() == "3\n" and str(knob) in outcome.detail


def test_a_user_or_a_read_only_proc_says_why(tmp_path):
    user = clear_page_cache(tmp_path / "drop_caches", euid=1000)
    assert not user.cleared and "not root" in user.detail
    assert not (tmp_path / "drop_caches").exists()
    read_only = clear_page_cache(tmp_path / "missing" / "drop_caches", euid=0)
    assert not read_only.cleared and "cannot write" in read_only.detail


def test_several_hosts_are_cleared_only_if_every_one_was():
    done, refused = CacheClearing(True, "wrote 3"), CacheClearing(False, "not root (euid 1000)")
    assert combined([done]) == done
    assert combined([done, done]).cleared
    both = combined([done, refused, refused])
    assert not both.cleared and both.detail == "not root (euid 1000) (and 1 more hosts)"
