#include "job/image_ref.h"

#include "core/cleanup.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 255

void image_ref_free(image_ref *ref) {
  if (!ref)
    return;
  free(ref->domain);
  free(ref->path);
  free(ref->tag);
  free(ref->digest);
  memset(ref, 0, sizeof(*ref));
}

int image_ref_tag_valid(const char *tag) {
  size_t n = strlen(tag);
  if (n == 0 || n > 128)
    return 0;
  if (!isalnum((unsigned char)tag[0]) && tag[0] != '_')
    return 0;
  for (size_t i = 1; i < n; i++)
    if (!isalnum((unsigned char)tag[i]) && tag[i] != '_' && tag[i] != '.' && tag[i] != '-')
      return 0;
  return 1;
}

int image_ref_digest_valid(const char *digest) {
  const char *colon = strchr(digest, ':');
  if (!colon || colon == digest)
    return 0;
  /* algorithm: [a-z0-9]+ joined by one of [+._-] */
  bool after_separator = true;
  for (const char *p = digest; p < colon; p++) {
    if (islower((unsigned char)*p) || isdigit((unsigned char)*p)) {
      after_separator = false;
      continue;
    }
    if (after_separator || !strchr("+._-", *p))
      return 0;
    after_separator = true;
  }
  if (after_separator)
    return 0;
  const char *hex = colon + 1;
  size_t n = strlen(hex);
  if (strncmp(digest, "sha256:", 7) == 0 && n != 64)
    return 0;
  if (n < 32)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isdigit((unsigned char)hex[i]) && !(hex[i] >= 'a' && hex[i] <= 'f'))
      return 0;
  return 1;
}

/* A host: DNS labels of [A-Za-z0-9-] joined by '.', or a bracketed IPv6
 * address, then an optional ":port". */
static bool domain_valid(const char *d) {
  const char *p = d;
  if (*p == '[') {
    const char *close = strchr(p, ']');
    if (!close || close == p + 1)
      return false;
    for (const char *q = p + 1; q < close; q++)
      if (!isxdigit((unsigned char)*q) && *q != ':')
        return false;
    p = close + 1;
  } else {
    /* a label starts and ends with an alphanumeric */
    bool label_start = true;
    for (; *p && *p != ':'; p++) {
      if (*p == '.') {
        if (label_start || p[-1] == '-')
          return false;
        label_start = true;
        continue;
      }
      if (!isalnum((unsigned char)*p) && !(*p == '-' && !label_start))
        return false;
      label_start = false;
    }
    if (label_start || p[-1] == '-')
      return false;
  }
  if (*p == '\0')
    return true;
  if (*p != ':' || !p[1])
    return false;
  for (p++; *p; p++)
    if (!isdigit((unsigned char)*p))
      return false;
  return true;
}

/* One path component: [a-z0-9]+ joined by '.', '_', '__' or any run of '-'. */
static bool component_valid(const char *s, size_t n) {
  if (n == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
    return false;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (islower((unsigned char)ch) || isdigit((unsigned char)ch))
      continue;
    if (ch == '.' || ch == '_') {
      /* a single '.', or '_' / '__', between alphanumerics */
      if (ch == '_' && i + 1 < n && s[i + 1] == '_')
        i++;
      if (i + 1 >= n || !isalnum((unsigned char)s[i + 1]))
        return false;
      continue;
    }
    if (ch == '-') {
      while (i + 1 < n && s[i + 1] == '-')
        i++;
      if (i + 1 >= n || !isalnum((unsigned char)s[i + 1]))
        return false;
      continue;
    }
    return false;
  }
  return true;
}

static bool path_valid(const char *path) {
  const char *p = path;
  for (;;) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (!component_valid(p, n))
      return false;
    if (!slash)
      return true;
    p = slash + 1;
  }
}

/* Splits "host/rest" when the first part names a registry host. */
static bool first_part_is_domain(const char *name, size_t first_len) {
  if (memchr(name, '.', first_len) || memchr(name, ':', first_len) ||
      (first_len == 9 && strncmp(name, "localhost", 9) == 0))
    return true;
  for (size_t i = 0; i < first_len; i++)
    if (isupper((unsigned char)name[i]))
      return true;
  return false;
}

int image_ref_parse(const char *text, image_ref *out, bw_error_t *err) {
  memset(out, 0, sizeof(*out));
  if (!text || !*text)
    return bw_error_set(err, BW_ERR_INVALID, "image reference is empty");
  /* Docker refuses these: the engine would take them for an image id. */
  if (strlen(text) == 64 && strspn(text, "0123456789abcdef") == 64)
    return bw_error_set(err, BW_ERR_INVALID,
                        "image reference '%s': a 64-hex-digit name reads as an image id", text);
  cleanup_free char *work = bw_strdup(text);
  cleanup_image_ref image_ref ref = {0};

  char *at = strchr(work, '@');
  if (at) {
    *at = '\0';
    if (!image_ref_digest_valid(at + 1))
      return bw_error_set(err, BW_ERR_INVALID,
                          "image reference '%s': digest '%s' is not algorithm:hex (sha256: and "
                          "64 lowercase hex digits)",
                          text, at + 1);
    ref.digest = bw_strdup(at + 1);
  }
  /* A tag is after the last ':' that follows the last '/'. */
  char *last_slash = strrchr(work, '/');
  char *colon = strrchr(last_slash ? last_slash : work, ':');
  if (colon) {
    *colon = '\0';
    if (!image_ref_tag_valid(colon + 1))
      return bw_error_set(err, BW_ERR_INVALID,
                          "image reference '%s': tag '%s' is not 1 to 128 characters of "
                          "[A-Za-z0-9_.-] starting with a letter, digit or '_'",
                          text, colon + 1);
    ref.tag = bw_strdup(colon + 1);
  }
  char *slash = strchr(work, '/');
  const char *path;
  if (slash && first_part_is_domain(work, (size_t)(slash - work))) {
    *slash = '\0';
    if (!domain_valid(work))
      return bw_error_set(err, BW_ERR_INVALID, "image reference '%s': '%s' is not a valid host",
                          text, work);
    ref.domain = bw_strdup(strcmp(work, "index.docker.io") == 0 ? IMAGE_REF_DEFAULT_DOMAIN : work);
    path = slash + 1;
  } else {
    ref.domain = bw_strdup(IMAGE_REF_DEFAULT_DOMAIN);
    path = work;
  }
  if (!path_valid(path))
    return bw_error_set(err, BW_ERR_INVALID,
                        "image reference '%s': repository '%s' must be lowercase [a-z0-9] "
                        "components joined by '/', with '.', '_' or '-' inside a component",
                        text, path);
  if (strcmp(ref.domain, IMAGE_REF_DEFAULT_DOMAIN) == 0 && !strchr(path, '/'))
    ref.path = bw_strdup_printf("library/%s", path);
  else
    ref.path = bw_strdup(path);
  /* Docker counts the normalised name: "docker.io/library/" is part of it. */
  if (strlen(ref.domain) + 1 + strlen(ref.path) > NAME_MAX_LEN)
    return bw_error_set(err, BW_ERR_INVALID, "image reference '%.40s...': name longer than %d",
                        text, NAME_MAX_LEN);
  if (!ref.tag && !ref.digest)
    ref.tag = bw_strdup("latest");
  *out = ref;
  memset(&ref, 0, sizeof(ref));
  return 0;
}

char *image_ref_repository(const image_ref *ref) {
  return bw_strdup_printf("%s/%s", ref->domain, ref->path);
}

char *image_ref_string(const image_ref *ref) {
  return bw_strdup_printf("%s/%s%s%s%s%s", ref->domain, ref->path, ref->tag ? ":" : "",
                          ref->tag ? ref->tag : "", ref->digest ? "@" : "",
                          ref->digest ? ref->digest : "");
}

char *image_ref_local_name(const image_ref *ref) {
  if (ref->digest)
    return bw_strdup_printf("%s/%s@%s", ref->domain, ref->path, ref->digest);
  return bw_strdup_printf("%s/%s:%s", ref->domain, ref->path, ref->tag);
}

const char *image_ref_registry_host(const image_ref *ref) {
  if (strcmp(ref->domain, IMAGE_REF_DEFAULT_DOMAIN) == 0)
    return "registry-1.docker.io";
  return ref->domain;
}

/* glibc's regcomp spends time and memory far beyond linear on repetition that
 * is nested or adjacent ("a***...", "((a{999}){999}){999}") and recurses once
 * per '(' ; a tag pattern needs none of that. This estimates the size regcomp
 * expands a pattern to (each repetition counts at least twice), capped. */
#define TAG_PATTERN_MAX_SIZE 10000
#define TAG_PATTERN_MAX_DEPTH 16

static const char *skip_bracket(const char *p) {
  if (*p == '^')
    p++;
  if (*p == ']')
    p++;
  while (*p && *p != ']') {
    if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
      char close = p[1];
      p += 2;
      while (*p && !(p[0] == close && p[1] == ']'))
        p++;
      if (*p)
        p += 2;
      continue;
    }
    p++;
  }
  return *p ? p + 1 : p;
}

static size_t pattern_size(const char **pp, int depth) {
  if (depth > TAG_PATTERN_MAX_DEPTH)
    return TAG_PATTERN_MAX_SIZE + 1;
  const char *p = *pp;
  size_t total = 0, atom = 0;
  bool after_quantifier = false;
  while (*p && total <= TAG_PATTERN_MAX_SIZE) {
    char ch = *p++;
    if (ch == ')' && depth > 0)
      break;
    bool quantifier = ch == '*' || ch == '+' || ch == '?' || ch == '{';
    /* "a**" repeats a repetition: glibc's regcomp builds its closure in time
     * that explodes with each stacked quantifier (seven took 68 s under ASan). */
    if (quantifier && after_quantifier)
      return TAG_PATTERN_MAX_SIZE + 1;
    after_quantifier = quantifier;
    if (quantifier) {
      size_t mult = 2;
      for (size_t n = 0; ch == '{' && *p && *p != '}'; p++) { /* the larger bound of {m,n} */
        n = isdigit((unsigned char)*p) ? n * 10 + (size_t)(*p - '0') : 0;
        if (n > TAG_PATTERN_MAX_SIZE)
          n = TAG_PATTERN_MAX_SIZE + 1;
        mult = n > mult ? n : mult;
      }
      if (ch == '{' && *p)
        p++;
      total += atom * (mult - 1); /* the atom was counted once already */
      atom *= mult;               /* an adjacent repetition repeats this one */
      continue;
    }
    if (ch == '\\' && isdigit((unsigned char)*p))
      return TAG_PATTERN_MAX_SIZE + 1; /* a back-reference: exponential matching */
    atom = 1;
    if (ch == '(')
      atom = 2 + pattern_size(&p, depth + 1); /* a group is two nodes, even when empty */
    else if (ch == '[')
      p = skip_bracket(p);
    else if (ch == '\\' && *p)
      p++;
    total += atom;
  }
  *pp = p;
  return total;
}

bool image_ref_tag_pattern_simple(const char *pattern) {
  const char *scan = pattern;
  return pattern_size(&scan, 0) <= TAG_PATTERN_MAX_SIZE;
}
