#!/usr/bin/env python3
"""A Maelstrom echo node: answers init with init_ok and echo with echo_ok (Gossip Glomers #1).

Written for clusterlab's tests against Maelstrom's protocol: one JSON message per line on stdin
and stdout, logs on stderr.
"""
import json
import sys

node_id = None
next_id = 0


def send(dest, body):
    global next_id
    next_id += 1
    body["msg_id"] = next_id
    print(json.dumps({"src": node_id, "dest": dest, "body": body}), flush=True)


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    reply = {"in_reply_to": body.get("msg_id")}
    if body["type"] == "init":
        node_id = body["node_id"]
        print(f"echo node {node_id} of {body['node_ids']}", file=sys.stderr, flush=True)
        reply["type"] = "init_ok"
    elif body["type"] == "echo":
        reply.update(type="echo_ok", echo=body["echo"])
    else:
        reply.update(type="error", code=10, text=f"unsupported {body['type']}")
    send(msg["src"], reply)
