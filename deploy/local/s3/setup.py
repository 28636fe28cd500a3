"""Prepares the local S3 server (moto) for the stack: an IAM user with a
policy and an access key, the buckets, and then signature checking on.

moto checks SigV4 signatures only once auth is switched on
(/moto-api/reset-auth with 0 requests allowed unauthenticated): this script
makes the user while it is still off, then switches it on, so that from then
on every request must be signed with the key printed here (and a wrong key
or signature gets 403 as on AWS).

Usage: setup.py ENDPOINT REGION BUCKET KEYS_FILE CREDENTIALS_FILE
Writes KEYS_FILE (STACK_S3_*=... lines) and CREDENTIALS_FILE (the AWS
format, profile [bundle]), both mode 0600.
"""
import json
import os
import sys
import urllib.request

import boto3


def write_private(path, text):
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main():
    endpoint, region, bucket, keys_file, credentials_file = sys.argv[1:6]
    boot = dict(endpoint_url=endpoint, region_name=region,
                aws_access_key_id="stack-setup", aws_secret_access_key="stack-setup")
    iam = boto3.client("iam", **boot)
    iam.create_user(UserName="bundle-worker")
    policy = iam.create_policy(
        PolicyName="bundle-worker-s3",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    iam.attach_user_policy(UserName="bundle-worker", PolicyArn=policy["Policy"]["Arn"])
    key = iam.create_access_key(UserName="bundle-worker")["AccessKey"]
    s3 = boto3.client("s3", **boot)
    s3.create_bucket(Bucket=bucket)
    # A second bucket with versioning, for the version ids of uploads.
    s3.create_bucket(Bucket=bucket + "-versioned")
    s3.put_bucket_versioning(Bucket=bucket + "-versioned",
                             VersioningConfiguration={"Status": "Enabled"})
    req = urllib.request.Request(endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
                                 headers={"Content-Type": "text/plain"})
    urllib.request.urlopen(req, timeout=10).read()
    write_private(keys_file, "STACK_S3_ACCESS_KEY_ID=%s\nSTACK_S3_SECRET_ACCESS_KEY=%s\n"
                  % (key["AccessKeyId"], key["SecretAccessKey"]))
    write_private(credentials_file, "[bundle]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                  % (key["AccessKeyId"], key["SecretAccessKey"]))


if __name__ == "__main__":
    main()
