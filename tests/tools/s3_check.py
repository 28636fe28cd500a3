"""The tests' independent reader of the local S3 server (boto3, from the
stack's moto virtual environment), and a faulty proxy in front of it.

  s3_check.py get BUCKET KEY        one JSON line: size, sha256 of the bytes,
                                     metadata, etag, version_id, checksum
  s3_check.py put BUCKET KEY FILE   stores FILE (a baseline and fixtures)
  s3_check.py uploads BUCKET        the number of multipart uploads in progress
  s3_check.py proxy PORT FAIL_PART  listens on 127.0.0.1:PORT, forwards to
                                     STACK_S3_ENDPOINT, and answers 500 to every
                                     UploadPart with partNumber=FAIL_PART

Credentials and endpoint come from the STACK_S3_* variables of stack.env.
"""
import hashlib
import http.client
import http.server
import json
import os
import sys
import urllib.parse

import boto3


def client():
    return boto3.client(
        "s3", endpoint_url=os.environ["STACK_S3_ENDPOINT"],
        region_name=os.environ["STACK_S3_REGION"],
        aws_access_key_id=os.environ["STACK_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["STACK_S3_SECRET_ACCESS_KEY"])


def get(bucket, key):
    s3 = client()
    obj = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    digest = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: obj["Body"].read(1 << 20), b""):
        digest.update(chunk)
        size += len(chunk)
    print(json.dumps({"size": size, "sha256": digest.hexdigest(),
                      "metadata": obj.get("Metadata", {}),
                      "etag": obj.get("ETag", "").strip('"'),
                      "version_id": obj.get("VersionId"),
                      "checksum_sha256": obj.get("ChecksumSHA256")}))


def put(bucket, key, path):
    with open(path, "rb") as f:
        client().put_object(Bucket=bucket, Key=key, Body=f)


def uploads(bucket):
    print(len(client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])))


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fail_part = None

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if self.command == "PUT" and query.get("partNumber") == [self.fail_part]:
            self.send_response(500)
            answer = b"<Error><Code>InternalError</Code><Message>proxy fails this part</Message></Error>"
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return
        up = urllib.parse.urlsplit(os.environ["STACK_S3_ENDPOINT"])
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
        conn.request(self.command, self.path, body=body, headers=dict(self.headers))
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

    def log_message(self, *args):
        pass


def proxy(port, fail_part):
    Proxy.fail_part = fail_part
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Proxy)
    print("listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"get": get, "put": put, "uploads": uploads, "proxy": proxy}[cmd](*args)
