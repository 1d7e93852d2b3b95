"""Host extraction from URLs for fetch-like tools and network programs.

`url_host(url)` returns the host a client would connect to, lowercased and IDNA-encoded, without
userinfo or port, or None when the URL is ambiguous. Ambiguity is answered with None on purpose:
URL parsers disagree (WHATWG treats `\\` as `/` in http URLs, curl and urllib do not; some take the
first '@', others the last), and a policy that allows `good.com` must not be talked into
connecting to `evil.com` by a string two parsers read differently. None never matches a host
rule, so a fetch of it is denied.

Handled: `http://evil.com@good.com` -> good.com (userinfo is not the host);
`http://good.com:80@evil.com` -> evil.com; more than one '@', a backslash, whitespace, control
characters or '%' in the authority -> None; `[::1]:8080` -> '::1'; trailing dot removed; IDNA
(IDNA 2003 via the standard codec, which also maps full-width letters and ideographic dots);
numeric IPv4 spellings that resolvers accept (`0x7f.1`, `2130706433`, `017700000001`) ->
dotted quad; schemeless `host/path` (as curl accepts) read as http.
"""

from __future__ import annotations

import ipaddress
import re
import socket

__all__ = ("split_url", "url_host")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_BAD = re.compile(r"[\s\x00-\x1f\x7f\\%]")
_NUMERIC = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$")


def split_url(url: str) -> tuple[str, str] | None:
    """(scheme, authority) of a URL, or None when it has no authority or is malformed."""
    if not isinstance(url, str):
        return None
    u = url.strip()
    m = _SCHEME.match(u)
    if m and u[m.end() : m.end() + 2] == "//":
        scheme = m.group(1).lower()
        rest = u[m.end() + 2 :]
    elif m and not u[m.end() : m.end() + 1].isdigit():
        # 'mailto:x', 'file:/etc/passwd', 'data:...' : no authority
        return (m.group(1).lower(), "")
    else:
        scheme, rest = "http", u  # curl reads a bare 'host/path' as http
    end = len(rest)
    for ch in "/?#":
        i = rest.find(ch)
        if i != -1:
            end = min(end, i)
    # a backslash before the first '/' is read as a separator by WHATWG parsers: keep it in the
    # authority so that it is refused below
    bs = rest.find("\\")
    if bs != -1 and bs < end:
        end = len(rest)
    return scheme, rest[:end]


def url_host(url: str) -> str | None:
    """Lowercase IDNA host of `url`, or None when absent or ambiguous."""
    parts = split_url(url)
    if parts is None:
        return None
    _scheme, auth = parts
    if not auth or _BAD.search(auth):
        return None
    if auth.count("@") > 1:
        return None
    hostport = auth.rpartition("@")[2]
    if hostport.startswith("["):
        close = hostport.find("]")
        if close == -1:
            return None
        host, tail = hostport[1:close], hostport[close + 1 :]
        if tail and not re.fullmatch(r":[0-9]*", tail):
            return None
        try:
            return str(ipaddress.IPv6Address(host.split("%")[0])).lower()
        except ValueError:
            return None
    host, sep, port = hostport.partition(":")
    if sep and not re.fullmatch(r"[0-9]*", port):
        return None
    if host.endswith("."):
        host = host[:-1]
    if not host or host.startswith(".") or ".." in host:
        return None
    try:
        host = host.encode("idna").decode("ascii").lower()
    except (UnicodeError, ValueError):
        return None
    if host.endswith("."):  # an ideographic full stop at the end becomes '.' only now
        host = host[:-1]
    if not re.fullmatch(r"[a-z0-9.\-_]+", host):
        return None
    if _NUMERIC.match(host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            return None
    return host
