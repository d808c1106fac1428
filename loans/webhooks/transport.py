"""The one HTTP request a webhook delivery makes, and the rules its URL and addresses must pass (SSRF).

Partners choose the URLs, so a URL must not become a way to make the platform call its own network:
- one reading of the URL: urllib3, which sends the request, parses it, and a URL that another parser
  could read differently is refused (userinfo, backslashes, whitespace or non-ASCII characters,
  numeric hosts other than a plain dotted quad, IPv6 zone ids);
- one resolution per attempt: every address the name resolves to is checked (any non-public one
  refuses the whole URL), and the connection goes to a checked address itself, with the hostname kept
  for `Host`, SNI and the certificate check, so an answer that changes between the check and the
  connection (DNS rebinding) cannot move it (the same idea as Sentry's `safe_create_connection`);
- no proxy from the environment (a connection pool to the address, not a client that reads
  HTTP_PROXY), no redirect followed (a 3xx is an answer like any other non-2xx: a failed attempt);
- errors are recorded in a few fixed words, never the socket's own text: a refused target, a closed
  port and a silent one must look alike to whoever reads the attempts.
Django-free: the caller says whether private addresses are allowed.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, Timeout
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationParseError,
    NewConnectionError,
    SSLError,
)
from urllib3.util import parse_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

REFUSED_ADDRESS = "refused: not a public address"
UNRESOLVED = "the host name did not resolve"
CONNECTION_FAILED = "connection failed"
TLS_FAILED = "TLS failed: no valid certificate for the host"

DEFAULT_PORTS = {"http": 80, "https": 443}
# Addresses tried per attempt (each may wait out the connect timeout): a name with many dead addresses
# must not hold a delivery past its claim lease (2 min), or it would be sent twice.
MAX_ADDRESSES_TRIED = 3
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# The IPv6 ranges whose last 32 bits are an IPv4 address that is what a connection really reaches.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Not public whatever `ipaddress` of this Python says: local-use NAT64 (RFC 8215), site-local
# (deprecated, still routed inside some networks), documentation (RFC 9637), SRv6 SIDs (RFC 9602).
_NOT_PUBLIC_V6 = tuple(ipaddress.IPv6Network(n) for n in ("64:ff9b:1::/48", "fec0::/10", "3fff::/20", "5f00::/16"))
# IETF protocol assignments (RFC 6890): a few are anycast services, none is a partner's web server.
_NOT_PUBLIC_V4 = (ipaddress.IPv4Network("192.0.0.0/24"),)


class WebhookUrlRefused(ValueError):
    pass


class HostUnresolvable(Exception):
    pass


@dataclass(frozen=True)
class HttpResult:
    status_code: int | None
    body: str = ""
    error: str = ""


@dataclass(frozen=True)
class Target:
    """A URL as it will be sent: `host` lower-case ASCII without brackets, `request_uri` path and query."""

    scheme: str
    host: str
    port: int
    request_uri: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


# --- the URL -------------------------------------------------------------------------------------
def target_parse(url: str) -> Target:
    """The URL as urllib3 will send it, or WebhookUrlRefused when it is not one unambiguous http(s) URL."""
    if not url.isascii() or any(c <= " " or c == "\x7f" for c in url):
        raise WebhookUrlRefused("use printable ASCII only (punycode for international names, percent-encoding elsewhere)")
    if "\\" in url:
        raise WebhookUrlRefused("backslashes are not allowed in the URL")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in DEFAULT_PORTS:
        raise WebhookUrlRefused("use an http or https URL")
    if "@" in re.split(r"[/?#]", rest, maxsplit=1)[0]:
        raise WebhookUrlRefused("a user name or password in the URL is not allowed")
    try:
        parsed, split = parse_url(url), urlsplit(url)
        split_port = split.port
    except (LocationParseError, ValueError):
        raise WebhookUrlRefused("not a valid URL") from None
    host = (parsed.host or "").strip("[]")
    if (parsed.scheme, host, parsed.port, parsed.auth) != (split.scheme.lower(), split.hostname or "", split_port, None):
        raise WebhookUrlRefused("the URL reads differently to different parsers")
    _host_check(host)
    port = parsed.port if parsed.port is not None else DEFAULT_PORTS[parsed.scheme]
    if not 0 < port < 65536:
        raise WebhookUrlRefused("the port must be between 1 and 65535")
    return Target(scheme=parsed.scheme, host=host, port=port, request_uri=parsed.request_uri)


def _host_check(host: str) -> None:
    if ":" in host:  # an IPv6 literal; a zone id (`%25eth0`) names an interface of ours
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise WebhookUrlRefused("not a valid IPv6 address (zone ids are not allowed)") from None
        return
    labels = host.split(".")
    if not host or len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise WebhookUrlRefused("not a valid host name")
    if labels[-1].isdigit():  # resolvers read `127.1`, `2130706433` or `0x7f.1` as addresses
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise WebhookUrlRefused("write an IPv4 address as four decimal numbers") from None


# --- addresses ------------------------------------------------------------------------------------
def address_is_public(address: IPAddress) -> bool:
    """Whether a connection to `address` leaves for the public internet. An IPv6 address that carries an
    IPv4 one (IPv4-mapped, NAT64, 6to4) is judged by the IPv4 address, which is where it leads."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return address_is_public(embedded)
        if address.scope_id or any(address in network for network in _NOT_PUBLIC_V6) or address.is_site_local:
            return False
    elif any(address in network for network in _NOT_PUBLIC_V4):
        return False
    # `is_global` alone misses multicast and, on this Python, several reserved ranges (IPv4-compatible ::/96).
    return address.is_global and not (
        address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
        or address.is_reserved or address.is_unspecified
    )


def addresses_resolve(target: Target) -> list[IPAddress]:
    """Every address of the host, in the resolver's order, once each (a literal is its own address)."""
    try:
        return [ipaddress.ip_address(target.host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise HostUnresolvable(target.host) from exc
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    if not addresses:
        raise HostUnresolvable(target.host)
    return addresses


def addresses_check(target: Target, *, allow_private: bool) -> list[IPAddress]:
    """The host's addresses, all of them public unless `allow_private`; refused (fail closed) if any is not."""
    addresses = addresses_resolve(target)
    if not allow_private and not all(address_is_public(a) for a in addresses):
        raise WebhookUrlRefused(REFUSED_ADDRESS)
    return addresses


# --- the request ----------------------------------------------------------------------------------
class _NotConnected(Exception):
    pass


def post(url: str, body: bytes, headers: dict[str, str], *, allow_private: bool, timeout: float,
         body_limit: int, ca_certs: str | None = None) -> HttpResult:
    """POSTs `body` to `url` once, to the addresses resolved and checked here (the first of the first
    MAX_ADDRESSES_TRIED that accepts a connection). Never raises for the network: a refused URL or a failed connection is an HttpResult."""
    try:
        target = target_parse(url)
        addresses = addresses_check(target, allow_private=allow_private)
    except WebhookUrlRefused as exc:
        # The parser's reason is about the URL's text; an address refusal says nothing of the target.
        return HttpResult(None, error=str(exc) if str(exc) == REFUSED_ADDRESS else f"refused: {exc}")
    except HostUnresolvable:
        return HttpResult(None, error=UNRESOLVED)
    for address in addresses[:MAX_ADDRESSES_TRIED]:
        try:
            return _post_to(address, target, body, headers, timeout=timeout, body_limit=body_limit, ca_certs=ca_certs)
        except _NotConnected:
            continue
    return HttpResult(None, error=CONNECTION_FAILED)


def _post_to(address: IPAddress, target: Target, body: bytes, headers: dict[str, str], *, timeout: float,
             body_limit: int, ca_certs: str | None) -> HttpResult:
    if target.scheme == "https":
        # SNI and the certificate check use the hostname, the socket the address (ssl checks the name).
        pool = HTTPSConnectionPool(str(address), target.port, timeout=Timeout(connect=timeout, read=timeout),
                                   maxsize=1, retries=False, server_hostname=target.host,
                                   cert_reqs="CERT_REQUIRED", ca_certs=ca_certs or certifi.where())
    else:
        pool = HTTPConnectionPool(str(address), target.port, timeout=Timeout(connect=timeout, read=timeout),
                                  maxsize=1, retries=False)
    with pool:
        try:
            response = pool.urlopen("POST", target.request_uri, body=body,
                                    headers={**headers, "Host": target.host_header},
                                    redirect=False, retries=False, preload_content=False)
        except (NewConnectionError, ConnectTimeoutError):
            raise _NotConnected from None
        except SSLError:
            return HttpResult(None, error=TLS_FAILED)
        except HTTPError:
            return HttpResult(None, error=CONNECTION_FAILED)
        try:
            # At most `body_limit` characters are kept: read no more bytes than they can take in UTF-8.
            text = response.read(body_limit * 4).decode("utf-8", errors="replace")[:body_limit]
        except HTTPError:
            text = ""
        finally:
            response.release_conn()
        return HttpResult(response.status, body=text)
