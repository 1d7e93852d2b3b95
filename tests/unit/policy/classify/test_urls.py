"""agp/policy/classify/urls.py: the host a client would connect to, or None when ambiguous."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agp.policy.classify import url_host


@pytest.mark.parametrize("url,host", [
    ("https://example.com/x", "example.com"), ("HTTPS://Example.COM:443/x", "example.com"),
    ("http://evil.com@good.com/", "good.com"), ("http://good.com:80@evil.com/", "evil.com"),
    ("http://user:pw@host.example:8080/p?q#f", "host.example"), ("http://[::1]:8080/", "::1"),
    ("http://[2001:DB8::1]/", "2001:db8::1"), ("http://good.com./", "good.com"),
    ("http://ｅｘａｍｐｌｅ.com/", "example.com"), ("http://example。com/", "example.com"),
    ("http://bücher.de/", "xn--bcher-kva.de"), ("http://0x7f.1/", "127.0.0.1"),
    ("http://2130706433/", "127.0.0.1"), ("http://017700000001/", "127.0.0.1"),
    ("example.com/path", "example.com"), ("git://host.example/repo", "host.example"),
    ("ssh://git@github.com/a/b", "github.com"), ("http://a.b?x=@evil.com", "a.b"),
    ("http://a.b#@evil.com", "a.b"), ("http://a.b/@evil.com", "a.b"),
])
def test_hosts(url, host):
    assert url_host(url) == host


@pytest.mark.parametrize("url", [
    "http://good.com\\@evil.com/", "http://a@b@c/", "http://exa mple.com/", "http://ex%61mple.com/",
    "http://good.com\\.evil.com", "http://[::1/", "http://host:port/", "file:///etc/passwd", "mailto:a@b.c",
    "http:///x", "http://", "", "http://a..b/", "http://.a/", "http://a\tb/", "http://a\nb/",
])
def test_ambiguous_or_hostless_is_none(url):
    assert url_host(url) is None


@given(st.text(max_size=60))
def test_never_raises_and_is_normalized(s):
    h = url_host(s)
    assert h is None or (h == h.lower() and "@" not in h and "/" not in h and " " not in h)
