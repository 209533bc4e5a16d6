#!/usr/bin/env python3
# The adversarial run of docs/reliability.md ("Hostile input, measured"): hostile bodies against a
# live worker's intake and event receivers. Needs BASE (http://HOST:PORT of the worker),
# INTAKE_TOKEN and EVENTS_TOKEN in the environment; prints one line per case.
import json, os, socket, threading, time
base = os.environ["BASE"]; host, port = base[7:].split(":"); port = int(port)
IT, ET = os.environ["INTAKE_TOKEN"], os.environ["EVENTS_TOKEN"]

def raw(method, path, headers, body=b"", slow=None, read_after=True):
    s = socket.create_connection((host, port), timeout=60)
    h = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    s.sendall(h.encode())
    err = None
    try:
        if slow:
            for i in range(0, len(body), slow[0]):
                s.sendall(body[i:i+slow[0]]); time.sleep(slow[1])
        else:
            s.sendall(body)
    except OSError as e:
        err = e
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            c = s.recv(65536)
            if not c: break
            data += c
        hdr, _, rest = data.partition(b"\r\n\r\n")
        cl = 0
        for line in hdr.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length": cl = int(v)
        while len(rest) < cl:
            c = s.recv(65536)
            if not c: break
            rest += c
        status = int(hdr.split(b" ")[1]) if hdr else None
    except OSError as e:
        status, rest, err = None, b"", e
    s.close()
    return status, rest, err

def intake(body, ct="application/json", **kw):
    return raw("POST", "/v1/invalidations", {"Authorization": "Bearer " + IT, "Content-Type": ct}, body, **kw)

def show(name, r):
    st, b, err = r
    try: j = json.loads(b)
    except Exception: j = {}
    print(f"{name}: {st} {j.get('code') or ''} enq={j.get('enqueued','')} {('ERR '+str(err)) if err else ''} :: {b[:160].decode(errors='replace')}")
    return st, j

U = lambda n: f"https://img.example.com/adv/{n}.jpg"
show("duplicate key", intake(b'{"urls":["%s"],"urls":["%s"]}' % (U("dk-a").encode(), U("dk-b").encode())))
show("duplicate key nested", intake(b'{"urls":["%s"],"meta":{"a":1,"a":2}}' % U("dk-c").encode()))
show("deep nesting 10000", intake(b'{"urls":' + b'[' * 10000 + b']' * 10000 + b'}'))
show("trailing data", intake(b'{"urls":["%s"]}{"urls":["%s"]}' % (U("tr-a").encode(), U("tr-b").encode())))
show("UTF-16LE body", intake(json.dumps({"urls": [U("u16")]}).encode("utf-16-le")))
show("UTF-8 BOM body", intake(b"\xef\xbb\xbf" + json.dumps({"urls": [U("bom")]}).encode()))
show("binary body", intake(os.urandom(4096)))
show("100 MB body", intake(b"x" * (100 << 20)))
show("415 1 MiB slow", intake(b"x" * (1 << 20), ct="text/plain", slow=(16384, 0.015)))
show("405 1 MiB slow", raw("PUT", "/v1/invalidations", {"Authorization": "Bearer " + IT, "Content-Type": "application/json"}, b"x" * (1 << 20), slow=(16384, 0.015)))
show("no token", raw("POST", "/v1/invalidations", {"Content-Type": "application/json"}, b'{"urls":["%s"]}' % U("nt").encode()))
show("loopback URL", intake(json.dumps({"urls": ["http://127.0.0.1/latest/meta-data/", "http://169.254.169.254/latest/meta-data/", U("good-1")]}).encode()))

# 64 concurrent 1 MiB bodies, each sent over about 2 s.
codes = {}
lock = threading.Lock()
def one(i):
    urls = [U(f"conc-{i}-{k}") for k in range(1000)]
    body = json.dumps({"urls": urls, "source": "x" * 10}).encode()
    body = body[:-1] + b' ' * ((1 << 20) - len(body) - 1) + b'}'
    st, b, err = intake(body, slow=(65536, 0.12))
    with lock:
        codes[st] = codes.get(st, 0) + 1
threads = [threading.Thread(target=one, args=(i,)) for i in range(64)]
[t.start() for t in threads]; [t.join() for t in threads]
print("64 concurrent 1 MiB bodies:", codes)

# SNS: forged messages whose certificate or subscribe URL is off SNS's hosts.
for name, cert in [("SNS cert on S3 bucket sns", "https://sns.s3.amazonaws.com/c.pem"),
                   ("SNS cert on s3-accelerate", "https://sns.s3-accelerate.amazonaws.com/c.pem"),
                   ("SNS cert on loopback", "https://127.0.0.1/c.pem"),
                   ("SNS cert over http", "http://sns.us-east-1.amazonaws.com/c.pem")]:
    m = {"Type": "Notification", "MessageId": "m1", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Message": json.dumps({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "media"}, "object": {"key": "forged.jpg"}}}]}),
         "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()), "SignatureVersion": "2", "Signature": "AAAA", "SigningCertURL": cert}
    show(name, raw("POST", "/v1/events/s3", {"Authorization": "Bearer " + ET, "Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"}, json.dumps(m).encode()))
m = {"Type": "SubscriptionConfirmation", "MessageId": "m2", "Token": "t", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Message": "confirm", "SubscribeURL": "http://127.0.0.1:1/latest/meta-data/",
     "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()), "SignatureVersion": "2", "Signature": "AAAA", "SigningCertURL": "https://sns.s3.amazonaws.com/c.pem"}
show("SNS subscribe to loopback", raw("POST", "/v1/events/s3", {"Authorization": "Bearer " + ET, "Content-Type": "text/plain", "x-amz-sns-message-type": "SubscriptionConfirmation"}, json.dumps(m).encode()))
show("events duplicate key", raw("POST", "/v1/events/s3", {"Authorization": "Bearer " + ET, "Content-Type": "application/json"}, b'{"Records":[],"Records":[]}'))
show("events no token", raw("POST", "/v1/events/s3", {"Content-Type": "application/json"}, b'{"Records":[]}'))
