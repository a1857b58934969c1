"""SSRF guard for every URL the service itself calls (image URLs, webhook targets).

Why resolve at call time: a hostname that was public at submission can point at 127.0.0.1 or the
cloud metadata address by the time a worker connects (DNS rebinding). So the check runs on the
addresses we are about to connect to, and the connection goes to a checked address.
"""
from __future__ import annotations

import ipaddress
import socket
import threading
from urllib.parse import urlsplit, urlunsplit

from mmservice.errors import Invalid

_BLOCKED_NETS = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
    "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "100::/64", "fc00::/7", "fe80::/10",
    "ff00::/8", "fd00:ec2::254/128",
)]
_BLOCKED_HOSTNAMES = {"localhost", "metadata.google.internal", "metadata"}


_lock = threading.Lock()
_ssl_context = None
_clients: dict[str, object] = {}


def shared_client(purpose: str):
    """One httpx.Client per purpose per process (thread-safe, keeps connections alive), all on
    one verifying SSL context.

    Why: building a context loads the CA bundle (~25 ms of CPU); doing it per webhook attempt
    or image fetch made the worker CPU-bound. Never follows redirects (every hop must pass the
    SSRF check) and ignores proxy variables; callers pass their own timeout per request."""
    global _ssl_context
    with _lock:
        client = _clients.get(purpose)
        if client is None:
            import httpx

            if _ssl_context is None:
                _ssl_context = httpx.create_ssl_context()
            client = httpx.Client(follow_redirects=False, trust_env=False, verify=_ssl_context,
                                  limits=httpx.Limits(max_keepalive_connections=20,
                                                      keepalive_expiry=30))
            _clients[purpose] = client
        return client


def parse_allow_list(raw: str | list | None) -> tuple[list, set[str]]:
    """`MMS_ALLOW_PRIVATE_URLS`-style value: comma-separated CIDRs, IPs or hostnames."""
    nets, hosts = [], set()
    items = raw if isinstance(raw, list) else (raw or "").split(",")
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            hosts.add(item.lower())
    return nets, hosts


def _ip_blocked(ip: ipaddress._BaseAddress, nets: list) -> bool:
    if any(ip in n for n in nets):
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return _ip_blocked(ip.ipv4_mapped, nets)
    return any(ip in n for n in _BLOCKED_NETS) or not ip.is_global  # type: ignore[attr-defined]


def _literal_ip(host: str):
    """Also the legacy spellings libc accepts (0x7f000001, 2130706433, 127.1)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if all(c in "0123456789abcdefx." for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


_LOOPBACK_NAMES = ("127.0.0.1", "::1")


def _loopback_allowed(host: str, nets: list) -> list[str] | None:
    """`localhost` names loopback: allowed when its address is allow-listed (an operator writes
    `127.0.0.1` and expects `http://localhost:8080/hook` to pass). None when not allowed."""
    if host != "localhost" and not host.endswith(".localhost"):
        return None
    ok = [a for a in _LOOPBACK_NAMES if any(ipaddress.ip_address(a) in n for n in nets)]
    return ok or None


def check_url(url: str, allow: str | list | None, *, field: str, resolve: bool = True,
              schemes: tuple[str, ...] = ("https", "http"),
              allow_setting: str | None = None) -> list[str]:
    """Raises Invalid(code="url_not_allowed") unless every address the URL resolves to is public
    or allow-listed. Returns the checked addresses (connect to one of these).

    `allow_setting` names the variable holding `allow` (e.g. `MMS_WEBHOOK_ALLOWLIST`): refusals
    then say how to permit the target. Credentials in the URL are refused and never echoed."""
    nets, hosts = parse_allow_list(allow)
    fix = f"; refused (SSRF guard; allow-list it in {allow_setting})" if allow_setting \
        else "; refused (SSRF guard)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Invalid("URL is not valid", code="invalid_url", field=field) from None
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme not in schemes:
        raise Invalid(f"URL scheme must be one of {', '.join(schemes)}", code="url_not_allowed",
                      field=field)
    if not host:
        raise Invalid("URL has no host", code="invalid_url", field=field)
    if parts.username or parts.password:
        raise Invalid("URLs with credentials are not accepted", code="url_not_allowed",
                      field=field)
    if host in hosts:
        return []
    loopback = _loopback_allowed(host, nets)
    if loopback:
        return loopback
    if host in _BLOCKED_HOSTNAMES or host.endswith((".localhost", ".internal")):
        raise Invalid(f"host {host!r} is private{fix}", code="url_not_allowed", field=field)
    literal = _literal_ip(host)
    if literal is not None:
        if _ip_blocked(literal, nets):
            raise Invalid(f"address {host} is private, loopback, link-local or reserved{fix}",
                          code="url_not_allowed", field=field)
        return [str(literal)]
    if not resolve:
        return []
    try:
        infos = socket.getaddrinfo(host, port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except OSError:
        raise Invalid(f"host {host!r} does not resolve", code="url_unresolvable",
                      field=field) from None
    addrs = sorted({info[4][0] for info in infos})
    for a in addrs:
        if _ip_blocked(ipaddress.ip_address(a.split("%")[0]), nets):  # type: ignore[union-attr]
            raise Invalid(f"host {host!r} resolves to a private or reserved address{fix}",
                          code="url_not_allowed", field=field)
    return addrs  # type: ignore[return-value]


def pin_to(url: str, address: str) -> tuple[str, dict, dict]:
    """The URL rewritten to connect to `address` (one `check_url` approved), plus the Host header
    and TLS name to keep, so DNS cannot answer differently between the check and the connect."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return url, {}, {}  # already a literal address
    except ValueError:
        pass
    ip = ipaddress.ip_address(address.split("%")[0])
    netloc = f"[{ip}]" if ip.version == 6 else str(ip)
    if parts.port:
        netloc += f":{parts.port}"
    host_header = host + (f":{parts.port}" if parts.port else "")
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return urlunsplit(parts._replace(netloc=netloc)), {"host": host_header}, extensions
