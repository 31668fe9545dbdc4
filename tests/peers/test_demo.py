"""`vpbx demo` (the README's first command): it starts a server on 127.0.0.1:5060 with a demo
tenant, prints the passwords and a ready sipsak command, and that command registers."""
import re
import shlex
import socket
import time

import pytest

from peers import Reaper, run, vpbx_binary, wait_until


def port_free(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def test_demo_prints_a_command_that_registers_a_phone(tmp_path, reaper: Reaper):
    if not (port_free(5060) and port_free(8080)):
        pytest.skip("the demo's fixed ports 5060/8080 are in use on this machine")
    log = tmp_path / "demo.log"
    proc = reaper.spawn([str(vpbx_binary()), "demo"], log, cwd=tmp_path)
    cmd = wait_until(lambda: re.search(r"^\s+(sipsak -U .*)$", log.read_text(), re.M), 30, 0.2)
    assert cmd, log.read_text()
    # Wait until the server listens (its log says so after the banner).
    assert wait_until(lambda: "listening on udp:127.0.0.1:5060" in log.read_text(), 30, 0.2), log.read_text()
    r = run(shlex.split(cmd.group(1)), timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    time.sleep(1.5)  # write-behind
    out = run([str(vpbx_binary()), "--config", "vpbx-demo/vpbx.toml", "registrations", "demo.vpbx.test",
               "--json"], timeout=30, cwd=tmp_path)
    assert "sip:1001@127.0.0.1:5999" in out.stdout, out.stdout + out.stderr
    Reaper.stop(proc)
