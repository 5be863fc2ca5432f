"""A hostile MCP server: answers the initialize request with a 50 MB line."""

import json
import sys

if __name__ == "__main__":
    request = json.loads(sys.stdin.readline())
    head = '{"jsonrpc": "2.0", "id": ' + json.dumps(request.get("id")) + ', "result": {"padding": "'
    sys.stdout.write(head)
    chunk = "x" * (1024 * 1024)
    for _ in range(50):
        sys.stdout.write(chunk)
    sys.stdout.write('"}}\n')
    sys.stdout.flush()
    sys.stdin.read()
