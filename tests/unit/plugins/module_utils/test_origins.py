# -*- coding: utf-8 -*-
"""module_utils/origins: which ALLOWED_ORIGINS entries are actual domains' https origins
(pre_deployment.configuration.3), each rule with a value on both sides of it."""

from __future__ import annotations

import pytest

from ansible_collections.x402.runbook.plugins.module_utils.origins import (
    OriginError, origin_problem, origin_problems, split_origins)


@pytest.mark.parametrize('origin', [
    'https://app.acme.io', 'https://pay.acme.co.uk', 'https://acme.io:8443', 'https://acme.io/',
    'https://xn--bcher-kva.de', 'https://a-b.acme.io', 'https://acme.io.',
])
def test_actual_domains_pass(origin):
    assert origin_problem(origin) is None


@pytest.mark.parametrize('origin, why', [
    ('*', 'a wildcard allows every site'),
    ('https://*.acme.io', 'a wildcard allows every site'),
    ('http://app.acme.io', 'must use https (got http)'),
    ('app.acme.io', 'must use https (got no scheme)'),
    ('https://user:pw@app.acme.io', 'must not hold credentials'),
    ('https://app.acme.io/pay', 'an origin has no path, query or fragment'),
    ('https://app.acme.io?x=1', 'an origin has no path, query or fragment'),
    ('https://', 'has no host'),
    ('https://acme.io:0', 'port 0 is not a port'),
    ('https://acme.io:99999', 'not an origin (Port out of range 0-65535)'),
    ('https://127.0.0.1', 'an IP address is not a domain'),
    ('https://[::1]', 'an IP address is not a domain'),
    ('https://localhost', 'not a fully qualified domain name'),
    ('https://intranet', 'not a fully qualified domain name'),
    ('https://-bad.acme.io', 'not a fully qualified domain name'),
    ('https://app.localhost', 'a reserved name that never resolves publicly (RFC 2606/6761)'),
    ('https://app.x402.example', 'a reserved name that never resolves publicly (RFC 2606/6761)'),
    ('https://shop.test', 'a reserved name that never resolves publicly (RFC 2606/6761)'),
    ('https://printer.local', 'a reserved name that never resolves publicly (RFC 2606/6761)'),
    ('https://app.example.com', 'a placeholder domain'),
    ('https://example.org', 'a placeholder domain'),
    ('https://your-domain.com', 'a placeholder domain'),
])
def test_what_is_not_an_actual_domain_says_why(origin, why):
    assert origin_problem(origin) == why


@pytest.mark.parametrize('host', ['example.com', 'your-domain.com'])
def test_a_placeholder_only_matches_whole_labels(host):
    """myexample.com is someone's real domain; app.example.com is the placeholder's."""
    assert origin_problem('https://my' + host) is None
    assert origin_problem('https://app.' + host) == 'a placeholder domain'


def test_the_list_names_each_bad_origin_and_skips_good_ones():
    value = 'https://app.acme.io, http://app.acme.io,*'
    assert origin_problems(value) == ['http://app.acme.io: must use https (got http)',
                                      '*: a wildcard allows every site']
    assert origin_problems(['https://app.acme.io', 'https://pay.acme.io']) == []


@pytest.mark.parametrize('value', ['', ' , ', None, []])
def test_no_origin_at_all_is_one_problem(value):
    assert origin_problems(value) == ['ALLOWED_ORIGINS is empty: the browsers of the real clients would be refused']


@pytest.mark.parametrize('value', [42, {'a': 1}, ['https://acme.io', 3]])
def test_a_value_that_is_no_list_of_origins_is_refused_by_name(value):
    with pytest.raises(OriginError) as raised:
        split_origins(value)
    assert str(raised.value).startswith('ALLOWED_ORIGINS = %r: ' % (value,))
