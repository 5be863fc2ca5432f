"""A hostile MCP server: prints something that is not JSON-RPC on stdout, then hangs."""

import sys
import time

if __name__ == "__main__":
    sys.stdin.readline()
    print("Hello! Server starting up... \x00\xff not json", flush=True)
    time.sleep(3600)
