"""A platform adapter the way MyPalClara's `adapters/base.py` talks to its gateway: the
same frames, field for field, over the `websockets` package. Prints what it saw as JSON.

Usage: python3 mypalclara_adapter.py ws://127.0.0.1:PORT
"""

import asyncio
import base64
import json
import secrets
import sys
from datetime import datetime

import websockets

PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()


async def main(url):
    node_id = f"teams-{secrets.token_hex(4)}"
    seen = {"frames": []}
    async with websockets.connect(url, ping_interval=None) as ws:
        await ws.send(json.dumps({
            "type": "register",
            "node_id": node_id,
            "platform": "teams",
            "capabilities": ["streaming", "attachments"],
            "metadata": {"version": "1.0"},
        }))
        seen["registered"] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        await ws.send(json.dumps({"type": "ping", "timestamp": datetime.now().isoformat()}))
        seen["pong"] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        request_id = f"msg-{secrets.token_hex(4)}"
        await ws.send(json.dumps({
            "type": "message",
            "id": request_id,
            "user": {"id": "teams-29:1abc", "platform_id": "29:1abc", "name": "ann", "display_name": "Ann"},
            "channel": {"id": "19:chan", "type": "group", "name": "planning", "guild_id": None, "guild_name": "Team"},
            "content": "What does the attached file say?",
            "attachments": [
                {"type": "text", "filename": "notes.txt", "media_type": "text/plain", "content": "the launch is on Friday", "size": 23},
                {"type": "image", "filename": "dot.png", "media_type": "image/png", "base64_data": PNG, "size": 70},
            ],
            "reply_chain": [{"role": "assistant", "content": "Earlier I said hello."}],
            "tier_override": "high",
            "metadata": {"teams_conversation_id": "19:chan"},
        }))
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            seen["frames"].append(frame)
            if frame["type"] in ("response_end", "error"):
                break
        await ws.send(json.dumps({"type": "status", "node_id": node_id, "active_requests": 0, "queue_length": 0}))
        seen["status"] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        await ws.send(json.dumps({"type": "mcp_list", "request_id": f"mcp-{secrets.token_hex(4)}"}))
        seen["mcp_list"] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        seen["request_id"] = request_id
    print(json.dumps(seen))


asyncio.run(main(sys.argv[1]))
