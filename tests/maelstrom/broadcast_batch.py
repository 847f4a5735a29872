#!/usr/bin/env python3
"""A Maelstrom broadcast node for many nodes and slow links (Gossip Glomers #3d-e): it ignores the
topology it is given and gossips over a star, the first node of node_ids the hub; values are
batched: every BATCH_S a node sends each neighbour, in one message, the values that neighbour has
not acknowledged and that were not sent to it within RESEND_S. Two hops from any node to any
other, a handful of messages per batch instead of several per value.

Written for clusterlab's figures against Maelstrom's protocol: one JSON message per line on stdin
and stdout, logs on stderr.
"""
import json
import sys
import threading
import time

BATCH_S = 0.1
RESEND_S = 0.6

lock = threading.Lock()
node_id = None
neighbours = []
values = set()
# neighbour -> values it has acknowledged or sent us; neighbour -> value -> when last sent to it.
known = {}
sent = {}
next_id = 0


def send(dest, body):
    global next_id
    next_id += 1
    body["msg_id"] = next_id
    sys.stdout.write(json.dumps({"src": node_id, "dest": dest, "body": body}) + "\n")
    sys.stdout.flush()


def answer(msg, body):
    body["in_reply_to"] = msg["body"].get("msg_id")
    send(msg["src"], body)


def batches():
    while True:
        time.sleep(BATCH_S)
        now = time.monotonic()
        with lock:
            for n in neighbours:
                last = sent.setdefault(n, {})
                due = [v for v in values - known.setdefault(n, set()) if now - last.get(v, -RESEND_S) >= RESEND_S]
                if due:
                    for v in due:
                        last[v] = now
                    send(n, {"type": "gossip", "messages": sorted(due)})


def handle(msg):
    global node_id, neighbours
    body = msg["body"]
    kind = body["type"]
    if kind == "init":
        node_id = body["node_id"]
        hub = body["node_ids"][0]
        neighbours = [n for n in body["node_ids"] if n != node_id] if node_id == hub else [hub]
        threading.Thread(target=batches, daemon=True).start()
        answer(msg, {"type": "init_ok"})
    elif kind == "topology":
        answer(msg, {"type": "topology_ok"})  # the star is this node's own choice
    elif kind == "broadcast":
        values.add(body["message"])
        answer(msg, {"type": "broadcast_ok"})
    elif kind == "gossip":
        values.update(body["messages"])
        known.setdefault(msg["src"], set()).update(body["messages"])
        answer(msg, {"type": "gossip_ok", "messages": body["messages"]})
    elif kind == "gossip_ok":
        known.setdefault(msg["src"], set()).update(body["messages"])
    elif kind == "read":
        answer(msg, {"type": "read_ok", "messages": sorted(values)})
    elif "in_reply_to" not in body:
        answer(msg, {"type": "error", "code": 10, "text": f"unsupported {kind}"})


for line in sys.stdin:
    with lock:
        handle(json.loads(line))
