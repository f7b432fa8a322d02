"""Webhooks below the API: the callback URL and address rules, the pinned and deadline-bound
transport (with a resolver we control: DNS is a boundary we do not own), and the delivery
ledger on a real database."""

from __future__ import annotations

import ipaddress

import pytest

from numcheck import errors
from numcheck.tasks import webhook_addresses, webhooks

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",  # IPv4-mapped
    "::8.8.8.8",  # IPv4-compatible
    "2002:808:808::1",  # 6to4 of 8.8.8.8
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "64:ff9b:1::808:808",  # local-use NAT64, /96 form
]
PRIVATE = [
    "127.0.0.1",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "192.0.2.1",  # documentation
    "224.0.0.1",  # multicast
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "2001:db8::1",
    "::ffff:10.0.0.1",  # IPv4-mapped private
    "::ffff:127.0.0.1",
    "::10.0.0.1",  # IPv4-compatible private
    "::127.0.0.1",
    "::169.254.169.254",
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",  # local-use NAT64 of 10.0.0.1
    "64:ff9b:1:808:8:800::",  # local-use NAT64, /48 form: not readable for sure
]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_may_be_called(address: str) -> None:
    assert webhook_addresses.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PRIVATE)
def test_private_addresses_and_ipv6_forms_carrying_them_may_not(address: str) -> None:
    assert not webhook_addresses.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com:99999/hook",
        "http://example.com:65536/hook",
        "http://example.com:abc/hook",
        "http://example.com:-1/hook",
        "http://example.com:0/hook",
        "http://[::1/hook",
        "http://::1]/hook",
        "http://[example.com]/hook",
        "http://[::1]x/hook",
        " http://example.com/hook",
        "http://example.com/\nhook",
        "http:///hook",
        "https://exa mple.com/hook",
        "ftp://example.com/hook",
        "example.com/hook",
        "http://user:pw@example.com/hook",
        "http://user@example.com/hook",
        "http://example.com/" + "x" * 2000,
    ],
)
def test_malformed_urls_are_invalid_callback_urls(url: str) -> None:
    with pytest.raises(errors.InvalidCallbackUrl):
        webhooks.check_callback_url(url, allow_private=True)


def test_a_url_is_read_as_the_http_client_reads_it() -> None:
    target = webhook_addresses.parse("https://Bücher.example:8443/hook?x=1")
    assert (target.host, target.port) == ("xn--bcher-kva.example", 8443)
    assert webhook_addresses.parse("http://[::1]/hook").port == 80
    assert webhook_addresses.parse("https://[::1]/hook").host == "::1"
