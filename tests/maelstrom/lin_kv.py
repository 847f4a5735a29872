#!/usr/bin/env python3
"""A Maelstrom lin-kv node that proxies every client request to the lin-kv service: it sends the
read, write or cas on under a msg_id of its own and relays the answer (error codes included).
With `--cache-reads` it keeps the first value it reads of each key and answers every later read
of that key from memory, without asking lin-kv: fast, and stale as soon as anyone writes the key
(meant to fail the linearizability check).

Written for clusterlab's tests against Maelstrom's protocol: one JSON message per line on stdin
and stdout, logs on stderr.
"""
import json
import sys

CACHE = "--cache-reads" in sys.argv[1:]
node_id = None
next_id = 0
# msg_id of a request to lin-kv -> (the client's message, its request)
waiting = {}
cache = {}


def send(dest, body):
    global next_id
    next_id += 1
    body["msg_id"] = next_id
    sys.stdout.write(json.dumps({"src": node_id, "dest": dest, "body": body}) + "\n")
    sys.stdout.flush()
    return next_id


def reply(msg, body):
    body["in_reply_to"] = msg["body"].get("msg_id")
    send(msg["src"], body)


def answered(answer):
    msg, request = waiting.pop(answer["in_reply_to"], (None, None))
    if msg is None:
        return
    if answer["type"] == "read_ok":
        cache.setdefault(json.dumps(request["key"]), answer["value"])
    relayed = {k: v for k, v in answer.items() if k not in ("msg_id", "in_reply_to")}
    reply(msg, relayed)


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    kind = body["type"]
    if "in_reply_to" in body:
        answered(body)
    elif kind == "init":
        node_id = body["node_id"]
        print(f"lin-kv node {node_id}{' caching reads' if CACHE else ''}", file=sys.stderr, flush=True)
        reply(msg, {"type": "init_ok"})
    elif kind in ("read", "write", "cas"):
        key = json.dumps(body["key"])
        if CACHE and kind == "read" and key in cache:
            reply(msg, {"type": "read_ok", "value": cache[key]})
            continue
        request = {k: v for k, v in body.items() if k != "msg_id"}
        waiting[send("lin-kv", request)] = (msg, request)
    else:
        reply(msg, {"type": "error", "code": 10, "text": f"unsupported {kind}"})
