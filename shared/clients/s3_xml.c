#include "clients/s3_xml.h"

#include "core/cleanup.h"

#include <expat.h>
#include <stdlib.h>
#include <string.h>

/* Deep enough for ListBucketResult/Contents/Key; deeper elements are walked
 * but never kept. */
#define KEPT_DEPTH 3
#define NAME_KEPT 40

typedef enum field {
  FIELD_NONE,
  FIELD_ERROR_CODE,
  FIELD_ERROR_MESSAGE,
  FIELD_UPLOAD_ID,
  FIELD_ETAG,
  FIELD_TRUNCATED,
  FIELD_NEXT_TOKEN,
  FIELD_OBJECT_KEY,
  FIELD_OBJECT_SIZE,
  FIELD_OBJECT_ETAG,
} field;

/* Which field an element is, from the names of its ancestors. */
static const struct {
  int depth;
  const char *root;
  const char *parent; /* at depth 3: the element at depth 2 */
  const char *name;
  field field;
} field_table[] = {
    {2, "Error", NULL, "Code", FIELD_ERROR_CODE},
    {2, "Error", NULL, "Message", FIELD_ERROR_MESSAGE},
    {2, "InitiateMultipartUploadResult", NULL, "UploadId", FIELD_UPLOAD_ID},
    {2, "CompleteMultipartUploadResult", NULL, "ETag", FIELD_ETAG},
    {2, "ListBucketResult", NULL, "IsTruncated", FIELD_TRUNCATED},
    {2, "ListBucketResult", NULL, "NextContinuationToken", FIELD_NEXT_TOKEN},
    {3, "ListBucketResult", "Contents", "Key", FIELD_OBJECT_KEY},
    {3, "ListBucketResult", "Contents", "Size", FIELD_OBJECT_SIZE},
    {3, "ListBucketResult", "Contents", "ETag", FIELD_OBJECT_ETAG},
};

typedef struct parse_state {
  XML_Parser parser;
  s3_xml_answer *out;
  int depth;
  char names[KEPT_DEPTH + 1][NAME_KEPT + 1]; /* [d]: the open element at depth d */
  field collecting;
  int collect_depth;
  bw_buffer text;
  const char *problem; /* why we stopped the parser ourselves */
} parse_state;

static void stop(parse_state *st, const char *problem) {
  if (!st->problem)
    st->problem = problem;
  XML_StopParser(st->parser, XML_FALSE);
}

/* "s3:Key" and "Key" alike: S3 uses a default namespace, others a prefix. */
static const char *local_name(const char *name) {
  const char *colon = strrchr(name, ':');
  return colon ? colon + 1 : name;
}

static field field_of(const parse_state *st) {
  for (size_t i = 0; i < sizeof(field_table) / sizeof(field_table[0]); i++) {
    if (field_table[i].depth != st->depth || strcmp(field_table[i].root, st->names[1]) != 0 ||
        strcmp(field_table[i].name, st->names[st->depth]) != 0)
      continue;
    if (field_table[i].parent && strcmp(field_table[i].parent, st->names[2]) != 0)
      continue;
    return field_table[i].field;
  }
  return FIELD_NONE;
}

static void on_start(void *data, const XML_Char *name, const XML_Char **attrs) {
  parse_state *st = data;
  st->depth++;
  if (st->depth > KEPT_DEPTH)
    return;
  const char *local = local_name(name);
  /* A longer name matches nothing: it is kept as "" */
  snprintf(st->names[st->depth], sizeof(st->names[0]), "%s",
           strlen(local) <= NAME_KEPT ? local : "");
  if (st->depth == 1) {
    st->out->root = bw_strdup(st->names[1]);
    return;
  }
  if (st->depth == 2 && strcmp(st->names[1], "ListBucketResult") == 0 &&
      strcmp(st->names[2], "Contents") == 0) {
    s3_xml_answer *a = st->out;
    if (a->object_count == S3_XML_OBJECTS_MAX) {
      stop(st, "more objects in one listing than the client takes");
      return;
    }
    a->objects = bw_xrealloc(a->objects, (a->object_count + 1) * sizeof(*a->objects));
    a->objects[a->object_count++] = (s3_xml_object){.size = -1};
    return;
  }
  if (st->collecting == FIELD_NONE) {
    st->collecting = field_of(st);
    st->collect_depth = st->depth;
    bw_buffer_reset(&st->text);
  }
}

/* A decimal size, or -1. */
static int64_t parse_size(const char *text) {
  if (!*text)
    return -1;
  int64_t v = 0;
  for (const char *p = text; *p; p++) {
    if (*p < '0' || *p > '9' || v > (INT64_MAX - (*p - '0')) / 10)
      return -1;
    v = v * 10 + (*p - '0');
  }
  return v;
}

static void keep(char **slot, const char *text) {
  free(*slot);
  *slot = bw_strdup(text);
}

static void store_field(parse_state *st, field f, const char *text) {
  s3_xml_answer *a = st->out;
  s3_xml_object *o = a->object_count ? &a->objects[a->object_count - 1] : NULL;
  switch (f) {
  case FIELD_NONE:
    break;
  case FIELD_ERROR_CODE:
    keep(&a->error_code, text);
    break;
  case FIELD_ERROR_MESSAGE:
    keep(&a->error_message, text);
    break;
  case FIELD_UPLOAD_ID:
    keep(&a->upload_id, text);
    break;
  case FIELD_ETAG:
    keep(&a->etag, text);
    break;
  case FIELD_TRUNCATED:
    a->truncated = strcmp(text, "true") == 0;
    break;
  case FIELD_NEXT_TOKEN:
    keep(&a->next_token, text);
    break;
  case FIELD_OBJECT_KEY:
    keep(&o->key, text);
    break;
  case FIELD_OBJECT_SIZE:
    o->size = parse_size(text);
    break;
  case FIELD_OBJECT_ETAG:
    keep(&o->etag, text);
    break;
  }
}

static void on_end(void *data, const XML_Char *name) {
  parse_state *st = data;
  if (st->collecting != FIELD_NONE && st->depth == st->collect_depth) {
    store_field(st, st->collecting, st->text.data ? st->text.data : "");
    st->collecting = FIELD_NONE;
  }
  st->depth--;
}

static void on_text(void *data, const XML_Char *s, int len) {
  parse_state *st = data;
  if (st->collecting == FIELD_NONE || st->depth != st->collect_depth || len <= 0)
    return;
  if (!bw_buffer_append(&st->text, s, (size_t)len))
    stop(st, "a field longer than the client takes");
}

static void on_doctype(void *data, const XML_Char *name, const XML_Char *sysid,
                       const XML_Char *pubid, int has_internal_subset) {
  stop(data, "a DOCTYPE (S3 never sends one; not accepted)");
}

void s3_xml_answer_free(s3_xml_answer *a) {
  if (!a)
    return;
  free(a->root);
  free(a->error_code);
  free(a->error_message);
  free(a->upload_id);
  free(a->etag);
  free(a->next_token);
  for (size_t i = 0; i < a->object_count; i++) {
    free(a->objects[i].key);
    free(a->objects[i].etag);
  }
  free(a->objects);
  memset(a, 0, sizeof(*a));
}

int s3_xml_parse(const char *data, size_t len, s3_xml_answer *out, bw_error_t *err) {
  memset(out, 0, sizeof(*out));
  if (len > (size_t)INT32_MAX)
    return bw_error_set(err, BW_ERR_UNAVAILABLE, "S3 answer: larger than 2 GiB");
  /* Blanks before the declaration are not XML, but some servers send them
   * (MinIO's CompleteMultipartUpload answers have). */
  unsigned long skipped_lines = 0; /* so that a line number is the answer's own */
  while (len > 0 && (*data == ' ' || *data == '\t' || *data == '\r' || *data == '\n')) {
    /* XML ends a line at LF, CR LF and a lone CR alike. */
    skipped_lines += *data == '\n' || (*data == '\r' && (len < 2 || data[1] != '\n'));
    data++;
    len--;
  }
  XML_Parser p = XML_ParserCreate("UTF-8");
  if (!p)
    abort();
  parse_state st = {.parser = p, .out = out};
  bw_buffer_init(&st.text, S3_XML_TEXT_MAX);
  XML_SetUserData(p, &st);
  XML_SetElementHandler(p, on_start, on_end);
  XML_SetCharacterDataHandler(p, on_text);
  XML_SetStartDoctypeDeclHandler(p, on_doctype);
  XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
  enum XML_Status status = XML_Parse(p, data, (int)len, XML_TRUE);
  int rc = 0;
  if (st.problem)
    rc = bw_error_set(err, BW_ERR_UNAVAILABLE, "S3 answer: line %lu: %s",
                      skipped_lines + (unsigned long)XML_GetCurrentLineNumber(p), st.problem);
  else if (status != XML_STATUS_OK)
    rc = bw_error_set(err, BW_ERR_UNAVAILABLE, "S3 answer: not well-formed XML: line %lu: %s",
                      skipped_lines + (unsigned long)XML_GetCurrentLineNumber(p),
                      XML_ErrorString(XML_GetErrorCode(p)));
  else if (!out->root)
    rc = bw_error_set(err, BW_ERR_UNAVAILABLE, "S3 answer: no XML document");
  bw_buffer_free(&st.text);
  XML_ParserFree(p);
  return rc;
}

void s3_xml_escape_append(bw_buffer *xml, const char *text) {
  for (const char *c = text; *c; c++) {
    const char *esc = *c == '&'    ? "&amp;"
                      : *c == '<'  ? "&lt;"
                      : *c == '>'  ? "&gt;"
                      : *c == '"'  ? "&quot;"
                      : *c == '\'' ? "&apos;"
                      : *c == '\r' ? "&#13;"
                      : *c == '\n' ? "&#10;"
                      : *c == '\t' ? "&#9;"
                                   : NULL;
    if (!esc && (unsigned char)*c < 0x20)
      continue; /* XML 1.0 has no way to write the other control characters */
    if (esc)
      bw_buffer_append(xml, esc, strlen(esc));
    else
      bw_buffer_append(xml, c, 1);
  }
}
