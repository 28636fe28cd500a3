#include "core/ident.h"

#include <string.h>

static bool ascii_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool bw_id_valid(const char *s, size_t max) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > max || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!ascii_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
      return false;
  return true;
}

bool bw_env_name_valid(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > 128 || (s[0] >= '0' && s[0] <= '9'))
    return false;
  for (size_t i = 0; i < n; i++)
    if (!ascii_alnum(s[i]) && s[i] != '_')
      return false;
  return true;
}
