/* Which addresses an http(s) input may connect to (jobs.inputs.allow).
 *
 * By default an input may not reach the worker's own networks: loopback,
 * private and shared (CGNAT) ranges, link-local (where cloud metadata
 * endpoints live), unique-local, multicast, reserved and unspecified
 * addresses, also in their IPv6 wrappings (IPv4-mapped ::ffff:0:0/96,
 * IPv4-compatible ::/96, NAT64 64:ff9b::/96, 6to4 2002::/16), which are
 * judged by the IPv4 address they carry. An operator whose storage is
 * internal opens what it needs with an allow-list of CIDRs, addresses and
 * host names:
 *   "10.20.0.0/16, fd00:1::/64 storage.internal *.minio.internal"
 * Entries are separated by commas and/or white space; host names compare
 * case-insensitively, a trailing dot ignored; "*.NAME" matches the names
 * below NAME (not NAME itself).
 *
 * The decision is made on the address about to be connected (never on what a
 * name resolved to earlier), so a name that resolves to 127.0.0.1 is refused
 * like 127.0.0.1. Pure functions: no I/O, no resolving. */
#pragma once

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest entry: a host name is at most 253 characters, "*." in front. */
#define NET_POLICY_ENTRY_MAX 255
/* Room for any IPv4 or IPv6 address as text (INET6_ADDRSTRLEN is 46). */
#define NET_POLICY_ADDR_TEXT 64

typedef struct net_cidr {
  int family;       /* AF_INET or AF_INET6 */
  unsigned prefix;  /* 0 to 32, or 0 to 128 */
  uint8_t addr[16]; /* the network address (bits after the prefix zero); IPv4 in addr[0..3] */
} net_cidr;

typedef struct net_host {
  char *name;      /* lower case, no trailing dot, no "*." */
  bool subdomains; /* "*.name": every name below name, not name itself */
} net_host;

typedef struct net_policy {
  net_cidr *cidrs;
  size_t cidr_count;
  net_host *hosts;
  size_t host_count;
} net_policy;

/* Parses an allow-list (NULL or "" is the empty list: defaults only). On a
 * bad entry: BW_ERR_INVALID naming it ("'10.0.0.1/8': bits set after the /8
 * prefix (the network is 10.0.0.0/8)"), *out left empty. The caller frees
 * *out with net_policy_free on success. */
int net_policy_parse(const char *text, net_policy *out, bw_error_t *err);
void net_policy_free(net_policy *p); /* accepts NULL and an empty policy */

typedef struct net_verdict {
  bool allowed;
  /* The default-refused range the address is in ("loopback", "private",
   * "link-local (cloud metadata)", ...), also when the allow-list let it
   * through; NULL for a public address. */
  const char *range;
  bool by_allow_list;                 /* allowed only because of the allow-list */
  char address[NET_POLICY_ADDR_TEXT]; /* "127.0.0.1", "::ffff:10.0.0.1"; "?" when unknown */
} net_verdict;

/* May a connection to `sa` (len bytes, AF_INET or AF_INET6; anything else is
 * refused) go ahead for a URL whose host is `host` (may be NULL)? A public
 * address is allowed; an address of a refused range is allowed when it lies
 * in an allow-listed CIDR or `host` is an allow-listed name. policy may be
 * NULL (the defaults). Never fails: *out always says. */
void net_policy_decide(const net_policy *policy, const struct sockaddr *sa, size_t len,
                       const char *host, net_verdict *out);
