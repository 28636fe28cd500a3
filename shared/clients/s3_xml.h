/* S3's XML answers, read with expat (clients/s3_client.c is the one user).
 *
 * The bytes come from a server and are hostile: the document is parsed in
 * full but only the few fields below are kept, each capped (S3_XML_TEXT_MAX
 * bytes; a longer value is an error, not a cut); a DOCTYPE is refused, so no
 * entity is ever declared or expanded; at most S3_XML_OBJECTS_MAX objects of a
 * listing are kept (a page of S3 holds 1,000). Element names are matched
 * without their namespace prefix. */
#pragma once

#include "core/buffer.h"
#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define S3_XML_TEXT_MAX 4096
#define S3_XML_OBJECTS_MAX 1000

typedef struct s3_xml_object {
  char *key;
  int64_t size; /* -1 when the listing had none or not a number */
  char *etag;
} s3_xml_object;

/* What one answer said. Strings are NULL when the element was absent. */
typedef struct s3_xml_answer {
  char *root;             /* the document element: "Error", "ListBucketResult", ... */
  char *error_code;       /* Error/Code */
  char *error_message;    /* Error/Message */
  char *upload_id;        /* InitiateMultipartUploadResult/UploadId */
  char *etag;             /* CompleteMultipartUploadResult/ETag */
  bool truncated;         /* ListBucketResult/IsTruncated is "true" */
  char *next_token;       /* ListBucketResult/NextContinuationToken */
  s3_xml_object *objects; /* ListBucketResult/Contents, in document order */
  size_t object_count;
} s3_xml_answer;

/* Parses one whole answer into *out (zeroed first; free it with
 * s3_xml_answer_free even on error). BW_ERR_UNAVAILABLE for a document that
 * is not well-formed XML, has a DOCTYPE, a field over the cap or more
 * objects than the cap: the message says which and where (line), never more
 * than a short excerpt of the server's text. */
int s3_xml_parse(const char *data, size_t len, s3_xml_answer *out, bw_error_t *err);
void s3_xml_answer_free(s3_xml_answer *a);

/* Appends `text` to `xml` (an uncapped buffer) with &, <, >, " and '
 * escaped, CR, LF and TAB as character references, and the other control
 * characters left out (XML 1.0 cannot carry them): the bodies the client
 * writes (CompleteMultipartUpload; ETags never hold one). */
void s3_xml_escape_append(bw_buffer *xml, const char *text);
