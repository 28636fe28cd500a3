/* libFuzzer: the allow-list parser and the connection decision
 * (net_policy_parse, net_policy_decide).
 * Input: one byte N (the sockaddr's length, N % 33), N bytes of sockaddr as
 * curl would hand them over, a host name up to the first '\n', then the
 * allow-list text.
 * Invariants: a parse fails with a BW_ERR_INVALID message naming the entry,
 * or gives a policy that allows the first and last address of each of its
 * CIDRs and the names it lists; the decision never crashes on any bytes,
 * always says something, and an allow-list only ever opens (what the
 * defaults allow, every policy allows). */
#include "core/net_policy.h"

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_verdict(const net_verdict *v) {
  if (strnlen(v->address, sizeof(v->address)) == sizeof(v->address))
    __builtin_trap(); /* the address text always ends */
  if (!v->allowed && !v->range)
    __builtin_trap(); /* a refusal always says why */
}

static net_verdict decide_addr(const net_policy *p, int family, const uint8_t *addr,
                               const char *host) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  size_t len;
  if (family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    sin->sin_family = AF_INET;
    memcpy(&sin->sin_addr, addr, 4);
    len = sizeof(*sin);
  } else {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    sin6->sin6_family = AF_INET6;
    memcpy(&sin6->sin6_addr, addr, 16);
    len = sizeof(*sin6);
  }
  net_verdict v;
  net_policy_decide(p, (const struct sockaddr *)&ss, len, host, &v);
  check_verdict(&v);
  return v;
}

/* What the policy promises for what it parsed. */
static void check_policy(const net_policy *p) {
  for (size_t i = 0; i < p->cidr_count; i++) {
    const net_cidr *c = &p->cidrs[i];
    if (!decide_addr(p, c->family, c->addr, NULL).allowed)
      __builtin_trap(); /* the network address itself */
    uint8_t last[16];
    memcpy(last, c->addr, sizeof(last));
    unsigned bits = c->family == AF_INET ? 32 : 128;
    for (unsigned b = c->prefix; b < bits; b++)
      last[b / 8] |= (uint8_t)(0x80 >> (b % 8));
    if (!decide_addr(p, c->family, last, NULL).allowed)
      __builtin_trap(); /* ... and the last address of the range */
  }
  static const uint8_t loopback[4] = {127, 0, 0, 1};
  for (size_t i = 0; i < p->host_count; i++) {
    const net_host *h = &p->hosts[i];
    char *host = h->subdomains ? bw_strdup_printf("x.%s", h->name) : bw_strdup(h->name);
    if (!decide_addr(p, AF_INET, loopback, host).allowed)
      __builtin_trap(); /* a listed name opens even loopback */
    free(host);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t sa_len = data[0] % 33;
  data++;
  size--;
  if (sa_len > size)
    sa_len = size;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  memcpy(&ss, data, sa_len);
  data += sa_len;
  size -= sa_len;
  const uint8_t *nl = memchr(data, '\n', size);
  size_t host_len = nl ? (size_t)(nl - data) : size;
  char *host = bw_strdup_bytes(data, host_len); /* stops at an embedded NUL, as C would */
  size_t text_len = nl ? size - host_len - 1 : 0;
  char *text = bw_strdup_bytes(nl ? nl + 1 : data + size, text_len);

  net_policy p;
  bw_error_t err = NULL;
  bool parsed = net_policy_parse(text, &p, &err) == 0;
  if (parsed) {
    if (err)
      __builtin_trap();
    check_policy(&p);
  } else if (!err || err->kind != BW_ERR_INVALID || err->msg[0] != '\'' || p.cidr_count ||
             p.host_count || p.cidrs || p.hosts) {
    __builtin_trap(); /* a failure names the entry and leaves nothing behind */
  }

  const struct sockaddr *sa = (const struct sockaddr *)&ss;
  net_verdict by_default, by_policy;
  net_policy_decide(NULL, sa, sa_len, host[0] ? host : NULL, &by_default);
  check_verdict(&by_default);
  net_policy_decide(parsed ? &p : NULL, sa, sa_len, host, &by_policy);
  check_verdict(&by_policy);
  if (by_default.allowed && (by_default.range || by_default.by_allow_list))
    __builtin_trap(); /* the defaults allow public addresses only */
  if (by_default.allowed && !by_policy.allowed)
    __builtin_trap(); /* a list only ever opens */
  if (by_policy.allowed && by_policy.by_allow_list && !by_policy.range)
    __builtin_trap();
  sa_family_t family;
  memcpy(&family, &ss, sizeof(family));
  bool ip = (family == AF_INET && sa_len >= sizeof(struct sockaddr_in)) ||
            (family == AF_INET6 && sa_len >= sizeof(struct sockaddr_in6));
  if (!ip && (by_default.allowed || by_policy.allowed))
    __builtin_trap(); /* nothing but IPv4 and IPv6 ever passes */

  if (parsed)
    net_policy_free(&p);
  bw_error_release(&err);
  free(text);
  free(host);
  return 0;
}
