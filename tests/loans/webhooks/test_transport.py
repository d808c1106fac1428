"""The URL and address rules of outgoing webhooks, and TLS to a pinned address, on real sockets."""

import ipaddress
import ssl
import subprocess

import pytest

from loans.webhooks.transport import (
    TLS_FAILED,
    WebhookUrlRefused,
    address_is_public,
    post,
    target_parse,
)
from tests.loans.webhooks.listeners import listening, resolver_answering


# --- review finding 2: addresses that lead somewhere private ------------------------------------------
@pytest.mark.parametrize("address", [
    "64:ff9b::7f00:1",        # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",     # NAT64 of 169.254.169.254
    "64:ff9b:1::808:808",     # local-use NAT64, whatever it embeds
    "2002:7f00:1::",          # 6to4 of 127.0.0.1
    "2002:a00:1::1",          # 6to4 of 10.0.0.1
    "::ffff:127.0.0.1",       # IPv4-mapped
    "::ffff:10.1.2.3",
    "::7f00:1",               # IPv4-compatible (deprecated)
    "::808:808",
    "::", "::1", "fe80::1", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1", "2001:db8::1", "2001::1",
    "0.0.0.0", "127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1", "100.127.255.254",
    "169.254.169.254", "192.0.0.8", "198.18.0.1", "224.0.0.1", "239.255.255.250", "240.0.0.1",
    "255.255.255.255", "203.0.113.9",
])
def test_addresses_that_lead_to_private_loopback_link_local_or_reserved_space_are_not_public(address):
    assert not address_is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808",
                                     "2002:808:808::1", "::ffff:8.8.8.8"])
def test_public_addresses_and_the_ipv6_forms_of_public_ipv4_addresses_are_public(address):
    assert address_is_public(ipaddress.ip_address(address))


# --- review finding 1: one reading of the URL -----------------------------------------------------
@pytest.mark.parametrize(("url", "reason"), [
    ("http://127.0.0.1:8199\\@1.1.1.1/", "backslashes"),
    ("http://a@hooks.example.com/", "user name or password"),
    ("http://a:b@hooks.example.com/", "user name or password"),
    ("http://hooks.example.com /h", "printable ASCII"),
    ("http://hooks.example.com\n.evil/h", "printable ASCII"),
    ("http://bücher.example/h", "printable ASCII"),
    ("ftp://hooks.example.com/h", "http or https"),
    ("//hooks.example.com/h", "http or https"),
    ("http://127.1/h", "four decimal numbers"),
    ("http://2130706433/h", "four decimal numbers"),
    ("http://0x7f.0.0.1/h", "four decimal numbers"),
    ("http://[fe80::1%25eth0]/h", "differently"),
    ("http://under_score.example/h", "host name"),
    ("http://hooks.example.com:0/h", "port"),
    ("http://hooks.example.com:99999/h", "valid URL"),
])
def test_urls_that_could_be_read_two_ways_are_refused(url, reason):
    with pytest.raises(WebhookUrlRefused, match=reason):
        target_parse(url)


def test_a_plain_url_is_read_as_it_will_be_sent():
    target = target_parse("HTTPS://Hooks.Example.com:8443/in/box?a=b@c#frag")

    assert (target.scheme, target.host, target.port, target.request_uri) == (
        "https", "hooks.example.com", 8443, "/in/box?a=b@c")
    assert target.host_header == "hooks.example.com:8443"
    assert target_parse("http://[2606:4700::1]/h").host_header == "[2606:4700::1]"


# --- review finding 3: TLS to the checked address, verified against the name --------------------------
@pytest.fixture
def tls_server(tmp_path):
    """A TLS listener on 127.0.0.1 with a self-signed certificate for hooks.partner.test, recording the
    SNI it was asked for."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=hooks.partner.test", "-addext", "subjectAltName=DNS:hooks.partner.test",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    names = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    with listening(ssl_context=context) as listener:
        listener.ca = str(cert)
        listener.sni = names
        yield listener


def test_https_goes_to_the_resolved_address_with_the_hostname_as_sni_and_certificate_name(tls_server, monkeypatch):
    resolver_answering(monkeypatch, "hooks.partner.test", ["127.0.0.1"])

    result = post(f"https://hooks.partner.test:{tls_server.port}/h", b"{}", {}, allow_private=True, timeout=5,
                  body_limit=100, ca_certs=tls_server.ca)

    assert result.status_code == 204
    assert tls_server.sni == ["hooks.partner.test"]
    assert tls_server.received[0][1]["host"] == f"hooks.partner.test:{tls_server.port}"


def test_https_to_a_name_the_certificate_does_not_cover_fails_verification(tls_server, monkeypatch):
    resolver_answering(monkeypatch, "other.partner.test", ["127.0.0.1"])

    result = post(f"https://other.partner.test:{tls_server.port}/h", b"{}", {}, allow_private=True, timeout=5,
                  body_limit=100, ca_certs=tls_server.ca)

    assert (result.status_code, result.error) == (None, TLS_FAILED)
    assert tls_server.received == []
