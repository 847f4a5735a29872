#!/usr/bin/env python3
"""A deliberately broken Maelstrom broadcast node: it forwards a new value to its neighbours once
and never again, so a value whose forward is lost to a partition is never read by the nodes
behind it. Under the partition nemesis the broadcast checker names the value and the node.

Written for clusterlab's tests against Maelstrom's protocol.
"""
import json
import sys

node_id = None
neighbours = []
values = set()
next_id = 0


def send(dest, body):
    global next_id
    next_id += 1
    body["msg_id"] = next_id
    print(json.dumps({"src": node_id, "dest": dest, "body": body}), flush=True)


def reply(msg, body):
    body["in_reply_to"] = msg["body"].get("msg_id")
    send(msg["src"], body)


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    kind = body["type"]
    if kind == "init":
        node_id = body["node_id"]
        neighbours = [n for n in body["node_ids"] if n != node_id]
        reply(msg, {"type": "init_ok"})
    elif kind == "topology":
        neighbours = body["topology"].get(node_id, neighbours)
        reply(msg, {"type": "topology_ok"})
    elif kind == "broadcast" or kind == "forward":
        value = body["message"]
        if value not in values:
            values.add(value)
            for n in neighbours:
                if n != msg["src"]:
                    send(n, {"type": "forward", "message": value})
        if kind == "broadcast":
            reply(msg, {"type": "broadcast_ok"})
    elif kind == "read":
        reply(msg, {"type": "read_ok", "messages": sorted(values)})
