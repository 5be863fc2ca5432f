from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CODE = """
import os, sys
from pathlib import Path
from assistant.engine.stderr import redirect_native_stderr, restore_native_stderr
redirect_native_stderr(Path(sys.argv[1]))
os.write(2, b'native noise from llama.cpp\\n')
print('our own error line', file=sys.stderr)
restore_native_stderr()
os.write(2, b'after restore\\n')
"""


def test_native_fd2_goes_to_the_log_and_ours_to_the_terminal(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "llama.log"
    proc = subprocess.run([sys.executable, "-c", CODE, str(log)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "our own error line" in proc.stderr
    assert "native noise" not in proc.stderr
    assert "after restore" in proc.stderr
    assert "native noise from llama.cpp" in log.read_text()
    assert (log.stat().st_mode & 0o777) == 0o600
