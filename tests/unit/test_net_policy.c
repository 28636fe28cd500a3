/* shared/core/net_policy.h: the refused ranges (every edge: first and last
 * address inside, first outside), IPv6 wrappings of IPv4 addresses, the
 * allow-list's parsing, errors and matching. */
#include "core/net_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cmocka.h>

/* ---- helpers ---------------------------------------------------------------------------- */

/* The verdict for an address given as text, through a real sockaddr. */
static net_verdict judge(const net_policy *p, const char *addr, const char *host) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  size_t len;
  if (strchr(addr, ':')) {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(443);
    if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1)
      fail_msg("bad test address %s", addr);
    len = sizeof(*sin6);
  } else {
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(80);
    if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
      fail_msg("bad test address %s", addr);
    len = sizeof(*sin);
  }
  net_verdict v;
  net_policy_decide(p, (const struct sockaddr *)&ss, len, host, &v);
  return v;
}

typedef struct range_case {
  const char *addr;
  const char *range; /* NULL: a public address, allowed */
} range_case;

static void expect_ranges(const range_case *cases, size_t n) {
  for (size_t i = 0; i < n; i++) {
    net_verdict v = judge(NULL, cases[i].addr, NULL);
    if (!cases[i].range) {
      if (!v.allowed || v.range)
        fail_msg("%s: refused as %s, expected allowed", cases[i].addr, v.range);
      continue;
    }
    if (v.allowed)
      fail_msg("%s: allowed, expected refused as %s", cases[i].addr, cases[i].range);
    if (!v.range || strcmp(v.range, cases[i].range) != 0)
      fail_msg("%s: refused as %s, expected %s", cases[i].addr, v.range, cases[i].range);
    assert_false(v.by_allow_list);
  }
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static net_policy parse_ok(const char *text) {
  net_policy p;
  bw_error_t err = NULL;
  if (net_policy_parse(text, &p, &err) < 0)
    fail_msg("'%s': %s", text, err->msg);
  return p;
}

static void expect_parse_error(const char *text, const char *message) {
  net_policy p = {.cidr_count = 99};
  bw_error_t err = NULL;
  assert_int_equal(net_policy_parse(text, &p, &err), -1);
  assert_non_null(err);
  assert_int_equal(err->kind, BW_ERR_INVALID);
  if (strcmp(err->msg, message) != 0)
    fail_msg("for %s:\n  got  %s\n  want %s", text, err->msg, message);
  assert_int_equal(p.cidr_count, 0);
  assert_int_equal(p.host_count, 0);
  assert_null(p.cidrs);
  assert_null(p.hosts);
  bw_error_release(&err);
}

/* ---- the default ranges ----------------------------------------------------------------- */

static void test_ipv4_range_edges(void **state) {
  static const range_case cases[] = {
      {"0.0.0.0", "unspecified (0.0.0.0/8)"},
      {"0.255.255.255", "unspecified (0.0.0.0/8)"},
      {"1.0.0.0", NULL},
      {"9.255.255.255", NULL},
      {"10.0.0.0", "private"},
      {"10.255.255.255", "private"},
      {"11.0.0.0", NULL},
      {"100.63.255.255", NULL},
      {"100.64.0.0", "shared (CGNAT)"},
      {"100.127.255.255", "shared (CGNAT)"},
      {"100.128.0.0", NULL},
      {"126.255.255.255", NULL},
      {"127.0.0.0", "loopback"},
      {"127.0.0.1", "loopback"},
      {"127.255.255.255", "loopback"},
      {"128.0.0.0", NULL},
      {"169.253.255.255", NULL},
      {"169.254.0.0", "link-local (cloud metadata)"},
      {"169.254.169.254", "link-local (cloud metadata)"},
      {"169.254.255.255", "link-local (cloud metadata)"},
      {"169.255.0.0", NULL},
      {"172.15.255.255", NULL},
      {"172.16.0.0", "private"},
      {"172.31.255.255", "private"},
      {"172.32.0.0", NULL},
      {"191.255.255.255", NULL},
      {"192.0.0.0", "IETF-reserved (192.0.0.0/24)"},
      {"192.0.0.255", "IETF-reserved (192.0.0.0/24)"},
      {"192.0.1.0", NULL},
      {"192.167.255.255", NULL},
      {"192.168.0.0", "private"},
      {"192.168.255.255", "private"},
      {"192.169.0.0", NULL},
      {"198.17.255.255", NULL},
      {"198.18.0.0", "benchmarking (198.18.0.0/15)"},
      {"198.19.255.255", "benchmarking (198.18.0.0/15)"},
      {"198.20.0.0", NULL},
      {"223.255.255.255", NULL},
      {"224.0.0.0", "multicast"},
      {"239.255.255.255", "multicast"},
      {"240.0.0.0", "reserved (240.0.0.0/4)"},
      {"255.255.255.254", "reserved (240.0.0.0/4)"},
      {"255.255.255.255", "broadcast"},
      {"8.8.8.8", NULL},
      {"93.184.216.34", NULL},
  };
  expect_ranges(cases, COUNT(cases));
}

static void test_ipv6_range_edges(void **state) {
  static const range_case cases[] = {
      {"::", "unspecified"},
      {"::1", "loopback"},
      {"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL},
      {"fc00::", "unique-local"},
      {"fd12:3456::1", "unique-local"},
      {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "unique-local"},
      {"fe00::", NULL},
      {"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL},
      {"fe80::", "link-local"},
      {"fe80::1", "link-local"},
      {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "link-local"},
      {"fec0::", "site-local"},
      {"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "site-local"},
      {"ff00::", "multicast"},
      {"ff02::1", "multicast"},
      {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "multicast"},
      {"2606:4700:4700::1111", NULL},
      {"2001:4860:4860::8888", NULL},
  };
  expect_ranges(cases, COUNT(cases));
}

/* IPv4 addresses in IPv6 clothing are judged by the IPv4 address. */
static void test_ipv6_wrappings_judged_by_their_ipv4(void **state) {
  static const range_case cases[] = {
      /* IPv4-mapped ::ffff:0:0/96 */
      {"::ffff:0.0.0.0", "unspecified (0.0.0.0/8)"},
      {"::ffff:127.0.0.1", "loopback"},
      {"::ffff:10.0.0.1", "private"},
      {"::ffff:169.254.169.254", "link-local (cloud metadata)"},
      {"::ffff:255.255.255.255", "broadcast"},
      {"::ffff:8.8.8.8", NULL},
      {"::fffe:ffff:ffff", NULL}, /* just before */
      {"::1:0:0:0", NULL},        /* just after */
      /* IPv4-compatible ::/96 (but :: and ::1, which are IPv6's own) */
      {"::2", "unspecified (0.0.0.0/8)"},
      {"::127.0.0.1", "loopback"},
      {"::192.168.1.1", "private"},
      {"::8.8.8.8", NULL},
      {"::1:0:0", NULL}, /* 0:0:0:0:0:1::/96, outside */
      /* NAT64 64:ff9b::/96 */
      {"64:ff9b::127.0.0.1", "loopback"},
      {"64:ff9b::a9fe:a9fe", "link-local (cloud metadata)"},
      {"64:ff9b::8.8.8.8", NULL},
      {"64:ff9b::1:0:0", NULL},     /* outside the /96 */
      {"64:ff9a:ffff::ffff", NULL}, /* just before */
      {"64:ff9b:0:0:0:1::", NULL},  /* just after */
      /* 6to4 2002::/16: the IPv4 address in bits 16 to 47 */
      {"2002:7f00:1::", "loopback"},
      {"2002:a00:1::1", "private"},
      {"2002:a9fe:a9fe:1:2:3:4:5", "link-local (cloud metadata)"},
      {"2002:0:0::", "unspecified (0.0.0.0/8)"},
      {"2002:808:808::", NULL},
      {"2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL},
      {"2003::", NULL},
  };
  expect_ranges(cases, COUNT(cases));
}

static void test_verdict_names_the_address(void **state) {
  net_verdict v = judge(NULL, "127.0.0.1", "localhost");
  assert_string_equal(v.address, "127.0.0.1");
  v = judge(NULL, "::ffff:10.0.0.1", NULL);
  assert_string_equal(v.address, "::ffff:10.0.0.1");
  v = judge(NULL, "fe80::1", NULL);
  assert_string_equal(v.address, "fe80::1");
}

static void test_not_an_ip_sockaddr_is_refused(void **state) {
  net_verdict v;
  net_policy_decide(NULL, NULL, 0, NULL, &v);
  assert_false(v.allowed);
  assert_string_equal(v.range, "not an IPv4 or IPv6 address");
  assert_string_equal(v.address, "?");
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  net_policy_decide(NULL, (const struct sockaddr *)&un, sizeof(un), NULL, &v);
  assert_false(v.allowed);
  /* Too short for its family. */
  struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
  net_policy_decide(NULL, (const struct sockaddr *)&sin6, sizeof(struct sockaddr_in), NULL, &v);
  assert_false(v.allowed);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x08080808)};
  net_policy_decide(NULL, (const struct sockaddr *)&sin, sizeof(sin) - 1, NULL, &v);
  assert_false(v.allowed);
  net_policy_decide(NULL, (const struct sockaddr *)&sin, sizeof(sin), NULL, &v);
  assert_true(v.allowed);
  /* Even an allow-everything list does not open a non-IP family. */
  net_policy p = parse_ok("0.0.0.0/0 ::/0");
  net_policy_decide(&p, (const struct sockaddr *)&un, sizeof(un), NULL, &v);
  assert_false(v.allowed);
  net_policy_free(&p);
}

/* ---- parsing ---------------------------------------------------------------------------- */

static void test_parse_empty_lists(void **state) {
  const char *empties[] = {"", " ", ",", " ,\t,\n ", ",,,"};
  for (size_t i = 0; i < COUNT(empties); i++) {
    net_policy p = parse_ok(empties[i]);
    assert_int_equal(p.cidr_count, 0);
    assert_int_equal(p.host_count, 0);
    net_policy_free(&p);
  }
  net_policy p = {.cidr_count = 3};
  assert_int_equal(net_policy_parse(NULL, &p, NULL), 0);
  assert_int_equal(p.cidr_count, 0);
  net_policy_free(&p);
  net_policy_free(NULL);
}

static void test_parse_entries_and_separators(void **state) {
  net_policy p = parse_ok("10.0.0.0/8, fd00::/8 Storage.Internal.\t*.minio.internal,127.0.0.1 "
                          "::1,,172.16.0.0/12");
  assert_int_equal(p.cidr_count, 5);
  assert_int_equal(p.cidrs[0].family, AF_INET);
  assert_int_equal(p.cidrs[0].prefix, 8);
  assert_memory_equal(p.cidrs[0].addr, ((uint8_t[]){10, 0, 0, 0}), 4);
  assert_int_equal(p.cidrs[1].family, AF_INET6);
  assert_int_equal(p.cidrs[1].prefix, 8);
  assert_int_equal(p.cidrs[1].addr[0], 0xfd);
  assert_int_equal(p.cidrs[2].prefix, 32); /* a bare address is its own /32 */
  assert_int_equal(p.cidrs[3].family, AF_INET6);
  assert_int_equal(p.cidrs[3].prefix, 128);
  assert_int_equal(p.cidrs[4].prefix, 12);
  assert_int_equal(p.host_count, 2);
  assert_string_equal(p.hosts[0].name, "storage.internal"); /* lower case, no trailing dot */
  assert_false(p.hosts[0].subdomains);
  assert_string_equal(p.hosts[1].name, "minio.internal");
  assert_true(p.hosts[1].subdomains);
  net_policy_free(&p);
  assert_int_equal(p.cidr_count, 0);

  p = parse_ok("0.0.0.0/0 ::/0 ::ffff:0:0/96 localhost my_host-1.example 0a.b");
  assert_int_equal(p.cidr_count, 3);
  assert_int_equal(p.cidrs[0].prefix, 0);
  assert_int_equal(p.host_count, 3);
  net_policy_free(&p);
}

static void test_parse_errors_name_the_entry(void **state) {
  expect_parse_error("10.0.0.0/33",
                     "'10.0.0.0/33': the prefix length must be a number from 0 to 32");
  expect_parse_error("fd00::/129",
                     "'fd00::/129': the prefix length must be a number from 0 to 128");
  expect_parse_error("10.0.0.0/", "'10.0.0.0/': the prefix length must be a number from 0 to 32");
  expect_parse_error("10.0.0.0/8x",
                     "'10.0.0.0/8x': the prefix length must be a number from 0 to 32");
  expect_parse_error("10.0.0.0/-1",
                     "'10.0.0.0/-1': the prefix length must be a number from 0 to 32");
  expect_parse_error("10.0.0.0/0008",
                     "'10.0.0.0/0008': the prefix length must be a number from 0 to 32");
  expect_parse_error("10.0.0.0/8/8",
                     "'10.0.0.0/8/8': the prefix length must be a number from 0 to 32");
  expect_parse_error("10.0.0.1/8",
                     "'10.0.0.1/8': bits set after the /8 prefix (the network is 10.0.0.0/8)");
  expect_parse_error(
      "172.16.5.0/12",
      "'172.16.5.0/12': bits set after the /12 prefix (the network is 172.16.0.0/12)");
  expect_parse_error("fd00::1/64",
                     "'fd00::1/64': bits set after the /64 prefix (the network is fd00::/64)");
  expect_parse_error("300.1.1.1", "'300.1.1.1': not an IPv4 address");
  expect_parse_error("10.1.2", "'10.1.2': not an IPv4 address");
  expect_parse_error("010.1.2.3", "'010.1.2.3': not an IPv4 address"); /* no octal guesswork */
  expect_parse_error("/8", "'/8': not an IPv4 address");
  expect_parse_error("fe80::1%eth0", "'fe80::1%eth0': not an IPv6 address");
  expect_parse_error("[::1]", "'[::1]': not an IPv6 address");
  expect_parse_error("gggg::1", "'gggg::1': not an IPv6 address");
  expect_parse_error("http://storage.internal", "'http://storage.internal': not an IPv6 address");
  static const char host_problem[] =
      "not an address, a CIDR or a host name (labels of letters, digits, '-' and '_', 1 to 63 "
      "long, no '-' at either end; '*.' only in front)";
  const char *bad_hosts[] = {"*",    "a..b", ".a",       "a*.b", "*.*.b",
                             "x.-y", "y-.x", "ex!ample", "é.fr"};
  for (size_t i = 0; i < COUNT(bad_hosts); i++) {
    char want[512];
    snprintf(want, sizeof(want), "'%s': %s", bad_hosts[i], host_problem);
    expect_parse_error(bad_hosts[i], want);
  }
  expect_parse_error("*.", "'*.': not a host name");
  expect_parse_error(".", "'.': not an IPv4 address");
  expect_parse_error("a..", "'a..': not a host name (an empty label)");
  expect_parse_error("storage.123",
                     "'storage.123': not an IPv4 address, and a host name's last label is not a "
                     "number");
  char label64[80];
  memset(label64, 'a', 64);
  strcpy(label64 + 64, ".com");
  char want[512];
  snprintf(want, sizeof(want), "'%s': %s", label64, host_problem);
  expect_parse_error(label64, want);
  /* The longest name, 253 characters, and one more. */
  char name[300];
  memset(name, 'a', sizeof(name));
  for (size_t i = 63; i < 253; i += 64)
    name[i] = '.';
  name[253] = '\0';
  net_policy p = parse_ok(name);
  assert_int_equal(strlen(p.hosts[0].name), 253);
  net_policy_free(&p);
  name[253] = 'a';
  name[254] = '\0';
  snprintf(want, sizeof(want), "'%.80s...': a host name is at most 253 characters", name);
  expect_parse_error(name, want);
  /* Longer than any entry can be: shown cut short. */
  memset(name, 'b', 256);
  name[256] = '\0';
  snprintf(want, sizeof(want), "'%.80s...': longer than 255 characters", name);
  expect_parse_error(name, want);
  /* The bad entry is named, not the first one. */
  expect_parse_error("10.0.0.0/8, storage.internal 192.168.1.1/16 fd00::/8",
                     "'192.168.1.1/16': bits set after the /16 prefix (the network is "
                     "192.168.0.0/16)");
}

/* ---- matching --------------------------------------------------------------------------- */

static void expect_allowed_by_list(const net_policy *p, const char *addr, const char *host) {
  net_verdict v = judge(p, addr, host);
  if (!v.allowed)
    fail_msg("%s (host %s): refused as %s", addr, host ? host : "none", v.range);
  assert_true(v.by_allow_list);
  assert_non_null(v.range);
}

static void expect_refused(const net_policy *p, const char *addr, const char *host) {
  net_verdict v = judge(p, addr, host);
  if (v.allowed)
    fail_msg("%s (host %s): allowed", addr, host ? host : "none");
}

static void test_allow_cidrs(void **state) {
  net_policy p = parse_ok("127.0.0.1/32, 10.20.0.0/16 fd00:1::/32 ::1");
  expect_allowed_by_list(&p, "127.0.0.1", NULL);
  expect_refused(&p, "127.0.0.2", NULL);
  expect_refused(&p, "127.0.0.0", NULL);
  expect_allowed_by_list(&p, "10.20.0.0", NULL);
  expect_allowed_by_list(&p, "10.20.255.255", NULL);
  expect_refused(&p, "10.19.255.255", NULL);
  expect_refused(&p, "10.21.0.0", NULL);
  expect_refused(&p, "169.254.169.254", NULL);
  expect_allowed_by_list(&p, "fd00:1::", NULL);
  expect_allowed_by_list(&p, "fd00:1:ffff:ffff:ffff:ffff:ffff:ffff", NULL);
  expect_refused(&p, "fd00:2::", NULL);
  expect_refused(&p, "fd00:0:ffff:ffff:ffff:ffff:ffff:ffff", NULL);
  expect_allowed_by_list(&p, "::1", NULL);
  /* An allowed IPv4 address is allowed in its IPv6 wrappings too. */
  expect_allowed_by_list(&p, "::ffff:127.0.0.1", NULL);
  expect_allowed_by_list(&p, "64:ff9b::7f00:1", NULL);
  expect_allowed_by_list(&p, "2002:a14:1::", NULL);
  expect_refused(&p, "::ffff:127.0.0.2", NULL);
  /* Public addresses need no list. */
  net_verdict v = judge(&p, "8.8.8.8", NULL);
  assert_true(v.allowed);
  assert_false(v.by_allow_list);
  assert_null(v.range);
  net_policy_free(&p);

  p = parse_ok("0.0.0.0/0");
  expect_allowed_by_list(&p, "0.0.0.0", NULL);
  expect_allowed_by_list(&p, "255.255.255.255", NULL);
  expect_allowed_by_list(&p, "::ffff:127.0.0.1", NULL); /* judged by its IPv4 address */
  expect_refused(&p, "::1", NULL);
  expect_refused(&p, "fe80::1", NULL);
  net_policy_free(&p);

  p = parse_ok("::ffff:0:0/96");
  expect_allowed_by_list(&p, "::ffff:10.0.0.1", NULL); /* in the IPv6 CIDR */
  expect_refused(&p, "10.0.0.1", NULL);
  net_policy_free(&p);
}

static void test_allow_host_names(void **state) {
  net_policy p = parse_ok("storage.internal *.minio.internal localhost");
  expect_allowed_by_list(&p, "10.0.0.5", "storage.internal");
  expect_allowed_by_list(&p, "10.0.0.5", "STORAGE.Internal");
  expect_allowed_by_list(&p, "10.0.0.5", "storage.internal.");
  expect_allowed_by_list(&p, "127.0.0.1", "localhost");
  expect_allowed_by_list(&p, "::1", "localhost");
  expect_refused(&p, "10.0.0.5", "x.storage.internal");
  expect_refused(&p, "10.0.0.5", "evilstorage.internal");
  expect_refused(&p, "10.0.0.5", "storage.internal.evil");
  expect_refused(&p, "10.0.0.5", "storage");
  expect_allowed_by_list(&p, "10.0.0.5", "a.minio.internal");
  expect_allowed_by_list(&p, "10.0.0.5", "b.a.MINIO.internal.");
  expect_refused(&p, "10.0.0.5", "minio.internal");
  expect_refused(&p, "10.0.0.5", "xminio.internal");
  expect_refused(&p, "10.0.0.5", ".minio.internal");
  expect_refused(&p, "10.0.0.5", "");
  expect_refused(&p, "10.0.0.5", ".");
  expect_refused(&p, "10.0.0.5", NULL);
  expect_refused(&p, "127.0.0.1", "127.0.0.1");
  /* A name is not an address: a listed name says nothing about other names. */
  expect_refused(&p, "127.0.0.1", "localhost.localdomain");
  net_policy_free(&p);
  /* Without a list, names open nothing. */
  expect_refused(NULL, "127.0.0.1", "localhost");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ipv4_range_edges),
      cmocka_unit_test(test_ipv6_range_edges),
      cmocka_unit_test(test_ipv6_wrappings_judged_by_their_ipv4),
      cmocka_unit_test(test_verdict_names_the_address),
      cmocka_unit_test(test_not_an_ip_sockaddr_is_refused),
      cmocka_unit_test(test_parse_empty_lists),
      cmocka_unit_test(test_parse_entries_and_separators),
      cmocka_unit_test(test_parse_errors_name_the_entry),
      cmocka_unit_test(test_allow_cidrs),
      cmocka_unit_test(test_allow_host_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
