"""The SSRF guard: webhooks reach the public internet only."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from coaching_gateway.webhooks.ssrf import Guard, UnsafeUrlError


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://172.16.0.1/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data",  # cloud metadata
        "https://100.64.0.1/hook",  # shared address space
        "https://0.0.0.0/hook",
        "https://[::1]/hook",
        "https://[fe80::1]/hook",
        "https://[fc00::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
        "https://224.0.0.1/hook",
        "https://localhost/hook",
    ],
)
async def test_internal_addresses_are_refused(url):
    with pytest.raises(UnsafeUrlError):
        await Guard().target(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.215.14/hook",  # plain http
        "ftp://93.184.215.14/hook",
        "https://user:pass@93.184.215.14/hook",
        "https:///hook",
        "https://93.184.215.14/ho ok",
        "not a url",
    ],
)
async def test_urls_of_the_wrong_form_are_refused(url):
    with pytest.raises(UnsafeUrlError):
        await Guard().target(url)


async def test_a_public_address_is_pinned_with_the_name_kept_for_tls():
    target = await Guard().target("https://93.184.215.14:8443/hook?x=1")
    assert str(target.url) == "https://93.184.215.14:8443/hook?x=1"
    assert target.host_header == "93.184.215.14:8443"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "https://10.1.2.3/hook",
        "http://192.168.1.1/hook",
        "http://[::1]/",
    ],
)
async def test_allow_private_lets_private_and_loopback_targets_through_over_http(url):
    target = await Guard(allow_private=True).target(url)
    assert target.url.host == httpx.URL(url).host


@pytest.mark.parametrize(
    "address",
    ["169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1"],  # noqa: S104
)
def test_allow_private_still_refuses_the_metadata_service_and_other_special_ranges(address):
    with pytest.raises(UnsafeUrlError):
        Guard(allow_private=True).check_address(ipaddress.ip_address(address))
