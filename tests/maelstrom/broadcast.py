#!/usr/bin/env python3
"""A Maelstrom broadcast node with gossip (Gossip Glomers #3b-c): it forwards a new value to its
neighbours at once, and every GOSSIP_S sends each neighbour the values it has not acknowledged,
so values lost to a partition or a dropped message arrive once the link heals.

Written for clusterlab's tests against Maelstrom's protocol: one JSON message per line on stdin
and stdout, logs on stderr.
"""
import json
import sys
import threading
import time

GOSSIP_S = 0.2

lock = threading.Lock()
node_id = None
neighbours = []
values = set()
# What each neighbour is known to have (it sent or acknowledged them).
known = {}
next_id = 0


def send(dest, body):
    global next_id
    next_id += 1
    body["msg_id"] = next_id
    sys.stdout.write(json.dumps({"src": node_id, "dest": dest, "body": body}) + "\n")
    sys.stdout.flush()


def reply(msg, body):
    body["in_reply_to"] = msg["body"].get("msg_id")
    send(msg["src"], body)


def gossip():
    while True:
        time.sleep(GOSSIP_S)
        with lock:
            for n in neighbours:
                missing = values - known.setdefault(n, set())
                if missing:
                    send(n, {"type": "gossip", "messages": sorted(missing)})


def handle(msg):
    global node_id, neighbours
    body = msg["body"]
    kind = body["type"]
    if kind == "init":
        node_id = body["node_id"]
        neighbours = [n for n in body["node_ids"] if n != node_id]
        threading.Thread(target=gossip, daemon=True).start()
        reply(msg, {"type": "init_ok"})
    elif kind == "topology":
        neighbours = body["topology"].get(node_id, neighbours)
        print(f"{node_id}: neighbours {neighbours}", file=sys.stderr, flush=True)
        reply(msg, {"type": "topology_ok"})
    elif kind == "broadcast":
        value = body["message"]
        if value not in values:
            values.add(value)
            for n in neighbours:
                if value not in known.setdefault(n, set()):
                    send(n, {"type": "gossip", "messages": [value]})
        reply(msg, {"type": "broadcast_ok"})
    elif kind == "gossip":
        new = set(body["messages"]) - values
        values.update(new)
        known.setdefault(msg["src"], set()).update(body["messages"])
        for n in neighbours:
            fresh = new - known.setdefault(n, set())
            if fresh and n != msg["src"]:
                send(n, {"type": "gossip", "messages": sorted(fresh)})
        reply(msg, {"type": "gossip_ok", "messages": body["messages"]})
    elif kind == "gossip_ok":
        known.setdefault(msg["src"], set()).update(body["messages"])
    elif kind == "read":
        reply(msg, {"type": "read_ok", "messages": sorted(values)})
    elif "in_reply_to" not in body:
        reply(msg, {"type": "error", "code": 10, "text": f"unsupported {kind}"})


for line in sys.stdin:
    with lock:
        handle(json.loads(line))
