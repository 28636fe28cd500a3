/* The S3 client's state and its one request path (s3_client.h), shared by
 * s3_client.c (settings, signing, one call with retries) and s3_objects.c
 * (the operations); only they include this header. */
#pragma once

#include "clients/s3_client.h"
#include "clients/s3_credentials.h"

#include "core/buffer.h"
#include "core/digest.h"

#include <curl/curl.h>

/* Enough of an answer to read S3's XML: an error, an upload id, a listing
 * page of 1,000 keys of up to 1 KiB each. */
#define S3_ANSWER_CAP (2u << 20)
#define S3_HEADER_VALUE_MAX 1024

struct s3_client {
  char *scheme; /* "http" or "https" */
  char *host;   /* "HOST[:PORT]" of the endpoint */
  bool path_style;
  char *sigv4; /* "aws:amz:REGION:s3" for CURLOPT_AWS_SIGV4 */
  s3_credentials creds;
  int64_t part_size;
  http_transfer_opts opts;
};

/* One request, tried up to opts.max_attempts times. */
typedef struct s3_call {
  const char *method; /* "GET", "PUT", "POST", "HEAD", "DELETE" */
  const char *bucket;
  const char *key;            /* NULL: the bucket itself */
  const char *query;          /* canonical (s3_query_*), or NULL */
  const char *payload_sha256; /* hex of the body; NULL: the empty body */
  struct curl_slist *headers; /* more headers (signed too); may be NULL */
  http_body *body;            /* PUT from a file, or NULL */
  const char *post;           /* or an in-memory body (POST) */
  size_t post_len;
  int download_fd; /* >= 0: a 2xx answer's body goes here */
  int64_t download_max;
  CURL *handle; /* during s3_call_perform */
  /* What came back. */
  long status;
  bw_buffer answer; /* the body (not a download), capped at S3_ANSWER_CAP */
  char etag[S3_HEADER_VALUE_MAX + 1];
  char version_id[S3_HEADER_VALUE_MAX + 1];
  int64_t downloaded;
  bool hash_download;   /* set: what is written is hashed into digest */
  digest_sha256 digest; /* started again at each attempt */
  bool download_too_large;
  int download_errno;
} s3_call;

/* A call with no body and no extra header; free it with s3_call_free. */
void s3_call_init(s3_call *call, const char *method, const char *bucket, const char *key);
void s3_call_free(s3_call *call);

/* Performs the call with retries. 0 for a 2xx answer; otherwise -1 with
 * *err naming the operation, the s3:// URL, the status and S3's code and
 * message ("S3 PUT s3://b/k: HTTP 403 SignatureDoesNotMatch: ..."), kind
 * BW_ERR_UNAVAILABLE (BW_ERR_CANCELLED when cancelled); call->status says
 * what the server answered (0: no answer). */
int s3_call_perform(s3_client *c, s3_call *call, bw_error_t *err);

/* "s3://BUCKET/KEY" for messages and events; free() it. */
char *s3_display_url(const char *bucket, const char *key);
