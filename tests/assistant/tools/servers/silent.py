"""A hostile MCP server: reads its stdin and never answers anything."""

import sys
import time

if __name__ == "__main__":
    for _line in sys.stdin:
        time.sleep(0.01)
    time.sleep(3600)
