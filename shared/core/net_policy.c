#include "core/net_policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HOST_NAME_MAX_LEN 253
#define LABEL_MAX_LEN 63
/* How much of a bad entry an error message shows. */
#define SHOWN_MAX 80

/* ---- the refused ranges ----------------------------------------------------------------- */

typedef struct range {
  uint8_t net[16];
  unsigned prefix;
  const char *name;
} range;

/* Checked in order: the first match names the address. */
static const range v4_refused[] = {
    {{0, 0, 0, 0}, 8, "unspecified (0.0.0.0/8)"},
    {{127, 0, 0, 0}, 8, "loopback"},
    {{10, 0, 0, 0}, 8, "private"},
    {{172, 16, 0, 0}, 12, "private"},
    {{192, 168, 0, 0}, 16, "private"},
    {{100, 64, 0, 0}, 10, "shared (CGNAT)"},
    {{169, 254, 0, 0}, 16, "link-local (cloud metadata)"},
    {{192, 0, 0, 0}, 24, "IETF-reserved (192.0.0.0/24)"},
    {{198, 18, 0, 0}, 15, "benchmarking (198.18.0.0/15)"},
    {{224, 0, 0, 0}, 4, "multicast"},
    {{255, 255, 255, 255}, 32, "broadcast"},
    {{240, 0, 0, 0}, 4, "reserved (240.0.0.0/4)"},
};

static const range v6_refused[] = {
    {{0}, 128, "unspecified"},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, "loopback"},
    {{0xfc}, 7, "unique-local"},
    {{0xfe, 0x80}, 10, "link-local"},
    {{0xfe, 0xc0}, 10, "site-local"}, /* deprecated (RFC 3879), still routed inside some sites */
    {{0xff}, 8, "multicast"},
};

/* IPv6 forms that carry an IPv4 address, and where it sits. */
static const struct {
  uint8_t net[16];
  unsigned prefix;
  size_t v4_at;
} v6_wrappers[] = {
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96, 12}, /* IPv4-mapped */
    {{0}, 96, 12},                                        /* IPv4-compatible (deprecated) */
    {{0x00, 0x64, 0xff, 0x9b}, 96, 12},                   /* NAT64 well-known prefix */
    {{0x20, 0x02}, 16, 2},                                /* 6to4 */
};

static bool prefix_match(const uint8_t *addr, const uint8_t *net, unsigned prefix) {
  unsigned whole = prefix / 8;
  if (memcmp(addr, net, whole) != 0)
    return false;
  unsigned rest = prefix % 8;
  if (rest == 0)
    return true;
  uint8_t mask = (uint8_t)(0xff << (8 - rest));
  return (addr[whole] & mask) == (net[whole] & mask);
}

static const char *v4_range(const uint8_t *a) {
  for (size_t i = 0; i < sizeof(v4_refused) / sizeof(v4_refused[0]); i++)
    if (prefix_match(a, v4_refused[i].net, v4_refused[i].prefix))
      return v4_refused[i].name;
  return NULL;
}

/* The refused range of an IPv6 address, or NULL; *v4 points at the IPv4
 * address it carries, if any (which then decides). */
static const char *v6_range(const uint8_t *a, const uint8_t **v4) {
  *v4 = NULL;
  /* :: and ::1 lie inside ::/96 but are IPv6's own, named as such. */
  for (size_t i = 0; i < 2; i++)
    if (prefix_match(a, v6_refused[i].net, 128))
      return v6_refused[i].name;
  for (size_t i = 0; i < sizeof(v6_wrappers) / sizeof(v6_wrappers[0]); i++) {
    if (prefix_match(a, v6_wrappers[i].net, v6_wrappers[i].prefix)) {
      *v4 = a + v6_wrappers[i].v4_at;
      return v4_range(*v4);
    }
  }
  for (size_t i = 2; i < sizeof(v6_refused) / sizeof(v6_refused[0]); i++)
    if (prefix_match(a, v6_refused[i].net, v6_refused[i].prefix))
      return v6_refused[i].name;
  return NULL;
}

/* ---- the allow-list --------------------------------------------------------------------- */

void net_policy_free(net_policy *p) {
  if (!p)
    return;
  for (size_t i = 0; i < p->host_count; i++)
    free(p->hosts[i].name);
  free(p->hosts);
  free(p->cidrs);
  memset(p, 0, sizeof(*p));
}

static int entry_error(bw_error_t *err, const char *entry, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "'ENTRY': problem", the entry cut short when it is long. */
static int entry_error(bw_error_t *err, const char *entry, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *problem = bw_strdup_vprintf(fmt, ap);
  va_end(ap);
  int shown = len > SHOWN_MAX ? SHOWN_MAX : (int)len;
  bw_error_set(err, BW_ERR_INVALID, "'%.*s%s': %s", shown, entry, len > SHOWN_MAX ? "..." : "",
               problem);
  free(problem);
  return -1;
}

static void add_cidr(net_policy *p, const net_cidr *c) {
  net_cidr *grown = bw_xrealloc(p->cidrs, (p->cidr_count + 1) * sizeof(*grown));
  p->cidrs = grown;
  p->cidrs[p->cidr_count++] = *c;
}

static void add_host(net_policy *p, const char *name, size_t len, bool subdomains) {
  net_host *grown = bw_xrealloc(p->hosts, (p->host_count + 1) * sizeof(*grown));
  p->hosts = grown;
  char *copy = bw_strdup_bytes(name, len);
  for (char *c = copy; *c; c++)
    *c = (char)tolower((unsigned char)*c);
  p->hosts[p->host_count++] = (net_host){.name = copy, .subdomains = subdomains};
}

/* "10.0.0.0/8", "fd00::/8", "192.0.2.7", "::1". text is NUL-terminated. */
static int parse_cidr(net_policy *p, const char *text, size_t len, bw_error_t *err) {
  char addr_text[NET_POLICY_ENTRY_MAX + 1];
  const char *slash = strchr(text, '/');
  size_t addr_len = slash ? (size_t)(slash - text) : len;
  memcpy(addr_text, text, addr_len);
  addr_text[addr_len] = '\0';
  net_cidr c = {.family = memchr(addr_text, ':', addr_len) ? AF_INET6 : AF_INET};
  unsigned max = c.family == AF_INET ? 32 : 128;
  if (inet_pton(c.family, addr_text, c.addr) != 1)
    return entry_error(err, text, len, "not an %s address", c.family == AF_INET ? "IPv4" : "IPv6");
  c.prefix = max;
  if (slash) {
    const char *digits = slash + 1;
    size_t n = strlen(digits);
    unsigned value = 0;
    bool ok = n >= 1 && n <= 3;
    for (size_t i = 0; ok && i < n; i++) {
      ok = isdigit((unsigned char)digits[i]) != 0;
      value = value * 10 + (unsigned)(digits[i] - '0');
    }
    if (!ok || value > max)
      return entry_error(err, text, len, "the prefix length must be a number from 0 to %u", max);
    c.prefix = value;
  }
  net_cidr network = {.family = c.family, .prefix = c.prefix};
  memcpy(network.addr, c.addr, c.prefix / 8);
  if (c.prefix % 8)
    network.addr[c.prefix / 8] = (uint8_t)(c.addr[c.prefix / 8] & (0xff << (8 - c.prefix % 8)));
  if (memcmp(network.addr, c.addr, sizeof(c.addr)) != 0) {
    char shown[NET_POLICY_ADDR_TEXT];
    inet_ntop(c.family, network.addr, shown, sizeof(shown));
    return entry_error(err, text, len, "bits set after the /%u prefix (the network is %s/%u)",
                       c.prefix, shown, c.prefix);
  }
  add_cidr(p, &network);
  return 0;
}

static bool label_valid(const char *s, size_t n) {
  if (n == 0 || n > LABEL_MAX_LEN || s[0] == '-' || s[n - 1] == '-')
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!isalnum(c) && c != '-' && c != '_')
      return false;
  }
  return true;
}

static bool all_digits(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isdigit((unsigned char)s[i]))
      return false;
  return true;
}

/* "storage.internal", "*.minio.internal", "Host.Example." */
static int parse_host(net_policy *p, const char *text, size_t len, bw_error_t *err) {
  const char *name = text;
  size_t n = len;
  bool subdomains = n >= 2 && name[0] == '*' && name[1] == '.';
  if (subdomains) {
    name += 2;
    n -= 2;
  }
  if (n > 0 && name[n - 1] == '.')
    n--;
  if (n == 0)
    return entry_error(err, text, len, "not a host name");
  if (n > HOST_NAME_MAX_LEN)
    return entry_error(err, text, len, "a host name is at most %d characters", HOST_NAME_MAX_LEN);
  const char *last = name;
  for (const char *s = name; s < name + n;) {
    const char *dot = memchr(s, '.', (size_t)(name + n - s));
    size_t label = dot ? (size_t)(dot - s) : (size_t)(name + n - s);
    if (!label_valid(s, label))
      return entry_error(err, text, len,
                         "not an address, a CIDR or a host name (labels of letters, digits, '-' "
                         "and '_', 1 to 63 long, no '-' at either end; '*.' only in front)");
    last = s;
    s += label + (dot ? 1 : 0);
    if (dot && s == name + n) /* "a..": an empty label at the end */
      return entry_error(err, text, len, "not a host name (an empty label)");
  }
  /* "10.1.2" or "1.2.3.256" is a mistyped address, not a name. */
  if (all_digits(last, (size_t)(name + n - last)))
    return entry_error(err, text, len,
                       "not an IPv4 address, and a host name's last label is not a "
                       "number");
  add_host(p, name, n, subdomains);
  return 0;
}

static int parse_entry(net_policy *p, const char *entry, size_t len, bw_error_t *err) {
  if (len > NET_POLICY_ENTRY_MAX)
    return entry_error(err, entry, len, "longer than %d characters", NET_POLICY_ENTRY_MAX);
  char text[NET_POLICY_ENTRY_MAX + 1];
  memcpy(text, entry, len);
  text[len] = '\0';
  bool numeric = true; /* digits and dots only: meant as an IPv4 address */
  for (size_t i = 0; i < len && numeric; i++)
    numeric = isdigit((unsigned char)text[i]) || text[i] == '.';
  if (numeric || strchr(text, '/') || strchr(text, ':'))
    return parse_cidr(p, text, len, err);
  return parse_host(p, text, len, err);
}

static bool separator(char c) {
  return c == ',' || isspace((unsigned char)c);
}

int net_policy_parse(const char *text, net_policy *out, bw_error_t *err) {
  memset(out, 0, sizeof(*out));
  if (!text)
    return 0;
  net_policy p = {0};
  for (const char *s = text; *s;) {
    while (*s && separator(*s))
      s++;
    const char *start = s;
    while (*s && !separator(*s))
      s++;
    if (s > start && parse_entry(&p, start, (size_t)(s - start), err) < 0) {
      net_policy_free(&p);
      return -1;
    }
  }
  *out = p;
  return 0;
}

/* ---- the decision ----------------------------------------------------------------------- */

static bool in_cidrs(const net_policy *p, int family, const uint8_t *a) {
  for (size_t i = 0; i < p->cidr_count; i++)
    if (p->cidrs[i].family == family && prefix_match(a, p->cidrs[i].addr, p->cidrs[i].prefix))
      return true;
  return false;
}

static bool host_listed(const net_policy *p, const char *host) {
  if (!host)
    return false;
  size_t n = strlen(host);
  if (n > 0 && host[n - 1] == '.')
    n--;
  if (n == 0)
    return false;
  for (size_t i = 0; i < p->host_count; i++) {
    const net_host *h = &p->hosts[i];
    size_t hn = strlen(h->name);
    if (!h->subdomains) {
      if (n == hn && strncasecmp(host, h->name, n) == 0)
        return true;
    } else if (n > hn + 1 && host[n - hn - 1] == '.' &&
               strncasecmp(host + n - hn, h->name, hn) == 0) {
      return true;
    }
  }
  return false;
}

void net_policy_decide(const net_policy *policy, const struct sockaddr *sa, size_t len,
                       const char *host, net_verdict *out) {
  memset(out, 0, sizeof(*out));
  strcpy(out->address, "?");
  sa_family_t family = AF_UNSPEC;
  if (sa && len >= sizeof(family))
    memcpy(&family, sa, sizeof(family));
  uint8_t a[16] = {0};
  const uint8_t *v4 = NULL;
  if (family == AF_INET && len >= sizeof(struct sockaddr_in)) {
    struct sockaddr_in sin;
    memcpy(&sin, sa, sizeof(sin));
    memcpy(a, &sin.sin_addr, 4);
    out->range = v4_range(a);
  } else if (family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
    struct sockaddr_in6 sin6;
    memcpy(&sin6, sa, sizeof(sin6));
    memcpy(a, &sin6.sin6_addr, 16);
    out->range = v6_range(a, &v4);
  } else {
    out->range = "not an IPv4 or IPv6 address";
    return;
  }
  inet_ntop(family, a, out->address, sizeof(out->address));
  if (!out->range) {
    out->allowed = true;
    return;
  }
  if (policy && (in_cidrs(policy, family, a) || (v4 && in_cidrs(policy, AF_INET, v4)) ||
                 host_listed(policy, host))) {
    out->allowed = true;
    out->by_allow_list = true;
  }
}
