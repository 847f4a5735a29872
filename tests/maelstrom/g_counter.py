#!/usr/bin/env python3
"""A Maelstrom g-counter node over the seq-kv service (Gossip Glomers #4): the counter is one key
of seq-kv. An add reads it and compare-and-sets it to the sum, again on a failed compare (code 22:
another node got there first, or the read was stale); a read first writes a key of its own, which
moves this node's view of seq-kv to the latest state, then reads the counter.

Written for clusterlab's tests against Maelstrom's protocol: one JSON message per line on stdin
and stdout, logs on stderr.
"""
import json
import sys

KEY = "counter"
node_id = None
next_id = 0
# msg_id of a request to seq-kv -> what to do with its answer.
waiting = {}


def send(dest, body, then=None):
    global next_id
    next_id += 1
    body["msg_id"] = next_id
    if then:
        waiting[next_id] = then
    sys.stdout.write(json.dumps({"src": node_id, "dest": dest, "body": body}) + "\n")
    sys.stdout.flush()


def reply(msg, body):
    body["in_reply_to"] = msg["body"].get("msg_id")
    send(msg["src"], body)


def add(msg, delta):
    def read_done(answer):
        current = answer.get("value", 0) if answer["type"] == "read_ok" else 0
        cas = {"type": "cas", "key": KEY, "from": current, "to": current + delta, "create_if_not_exists": True}
        send("seq-kv", cas, cas_done)

    def cas_done(answer):
        if answer["type"] == "cas_ok":
            reply(msg, {"type": "add_ok"})
        else:
            add(msg, delta)  # someone else's add came first: read again, try again

    send("seq-kv", {"type": "read", "key": KEY}, read_done)


def read(msg):
    def synced(_answer):
        send("seq-kv", {"type": "read", "key": KEY}, answered)

    def answered(answer):
        value = answer.get("value", 0) if answer["type"] == "read_ok" else 0
        reply(msg, {"type": "read_ok", "value": value})

    send("seq-kv", {"type": "write", "key": f"sync-{node_id}", "value": next_id}, synced)


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    kind = body["type"]
    if "in_reply_to" in body:
        then = waiting.pop(body["in_reply_to"], None)
        if then:
            then(body)
    elif kind == "init":
        node_id = body["node_id"]
        print(f"g-counter node {node_id}", file=sys.stderr, flush=True)
        reply(msg, {"type": "init_ok"})
    elif kind == "add":
        add(msg, body["delta"])
    elif kind == "read":
        read(msg)
    else:
        reply(msg, {"type": "error", "code": 10, "text": f"unsupported {kind}"})
